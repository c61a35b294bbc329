"""Which path decides "public", what a path the server cannot hand over cleanly gets, and
which headers the app never sees (R27, R29), through both adapters.

- Public paths match the path the app routes on (WSGI ``PATH_INFO``; ASGI ``scope["path"]``
  without ``root_path``), so a mount prefix, or an ``X-Forwarded-Prefix`` turned into
  ``SCRIPT_NAME`` by ProxyFix, cannot make a protected view public.
- A WSGI path that is not latin-1 text (a server outside PEP 3333) gets a 400 page.
- Identity headers of every family, in every spelling, are removed.
"""

from __future__ import annotations

import io
import json
import string
import wsgiref.util
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from flask import Flask, request
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from okta_magiclink_mw import ConfigurationError, OktaMagicLink, OktaMagicLinkWSGI
from okta_magiclink_mw._identity_headers import IDENTITY_HEADERS, IdentityHeaders
from tests.conftest import (
    APP_ORIGIN,
    NAV,
    Browser,
    FakeClock,
    FakeOkta,
    callback_url,
    make_settings,
    widget_config,
)

SESSION = "__Host-omw_session"


def _session_cookie(mw: OktaMagicLink | OktaMagicLinkWSGI, clock: FakeClock) -> str:
    claims = {
        "sub": "00u-ada",
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
    }
    _, header = mw.core.sessions.mint(claims, None, clock())
    return f"{SESSION}={header.split(';')[0].split('=', 1)[1]}"


# -- 5. public paths match the path the app routes on -----------------------------------------


def _flask_app() -> Flask:
    app = Flask(__name__)

    @app.get("/admin")
    def admin() -> str:
        user = request.environ["okta_magiclink_mw.user"]
        return f"admin page for {user.display_name or 'nobody'}"

    @app.get("/health")
    def health() -> str:
        return "healthy"

    @app.get("/public/admin")
    def public_admin() -> str:  # only reachable when Flask routes on /public/admin
        return "public page"

    return app


def _wsgi_get(app: Any, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=APP_ORIGIN) as c:
        return c.get(path, headers={**NAV, **(headers or {})})


def test_5_proxyfix_outside_a_forwarded_prefix_does_not_make_a_view_public(
    clock: FakeClock,
) -> None:
    """The documented Flask setup ``ProxyFix(app, x_prefix=1)`` outside the middleware: a
    client's ``X-Forwarded-Prefix: /public`` becomes SCRIPT_NAME, Flask still routes /admin."""
    app = _flask_app()
    mw = OktaMagicLinkWSGI(app.wsgi_app, make_settings(), clock=clock)
    app.wsgi_app = ProxyFix(mw, x_prefix=1)  # type: ignore[method-assign]
    r = _wsgi_get(app, "/admin", {"x-forwarded-prefix": "/public"})
    assert r.status_code == 302, r.text
    assert r.headers["location"].startswith("/login?state=")
    assert "admin page" not in r.text
    # A genuinely public path still is, whatever prefix the proxy (or a client) adds.
    assert _wsgi_get(app, "/health", {"x-forwarded-prefix": "/public"}).text == "healthy"
    assert _wsgi_get(app, "/health").text == "healthy"
    # Signed in, the view is reached with the user under the same prefix.
    cookie = _session_cookie(mw, clock)
    r = _wsgi_get(app, "/admin", {"x-forwarded-prefix": "/public", "cookie": cookie})
    assert r.text == "admin page for Ada Lovelace"


def test_5_proxyfix_inside_a_forwarded_prefix_does_not_make_a_view_public(
    clock: FakeClock,
) -> None:
    """ProxyFix wrapping app.wsgi_app before the middleware: the middleware never sees the
    prefix, and public matching is on the same PATH_INFO Flask routes on."""
    app = _flask_app()
    app.wsgi_app = OktaMagicLinkWSGI(  # type: ignore[method-assign]
        ProxyFix(app.wsgi_app, x_prefix=1), make_settings(), clock=clock
    )
    r = _wsgi_get(app, "/admin", {"x-forwarded-prefix": "/public"})
    assert r.status_code == 302
    assert "admin page" not in r.text
    assert _wsgi_get(app, "/health", {"x-forwarded-prefix": "/public"}).text == "healthy"


def test_5_a_proxy_prefix_can_still_point_at_a_public_app_route(clock: FakeClock) -> None:
    """What the app routes on decides: the app's own /public/admin is public, /admin is not."""
    app = _flask_app()
    app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        OktaMagicLinkWSGI(app.wsgi_app, make_settings(), clock=clock), x_prefix=1
    )
    assert _wsgi_get(app, "/public/admin").text == "public page"
    r = _wsgi_get(app, "/public/admin", {"x-forwarded-prefix": "/app"})
    assert r.text == "public page"


def _mounted_settings(prefix: str, **overrides: Any) -> Any:
    return make_settings(
        redirect_uri=f"{APP_ORIGIN}{prefix}/login/callback",
        login_path=f"{prefix}/login",
        logout_path=f"{prefix}/logout",
        **overrides,
    )


def test_5_dispatcher_mount_public_paths_are_relative_to_the_mount(
    okta: FakeOkta, clock: FakeClock
) -> None:
    """A genuine mount (werkzeug DispatcherMiddleware): the middleware's own paths carry the
    prefix (as the browser sees them), public paths are the app's own (PATH_INFO)."""
    inner = _flask_app()
    mw = OktaMagicLinkWSGI(inner.wsgi_app, _mounted_settings("/app"), clock=clock)
    inner.wsgi_app = mw  # type: ignore[method-assign]

    def outer(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"outer " + environ["PATH_INFO"].encode()]

    site = DispatcherMiddleware(outer, {"/app": inner})
    with httpx.Client(transport=httpx.WSGITransport(app=site), base_url=APP_ORIGIN) as c:
        assert c.get("/app/health").text == "healthy"
        assert c.get("/app/public/admin").text == "public page"
        r = c.get("/app/admin", headers=NAV)
        assert r.status_code == 302
        location = r.headers["location"]
        assert location.startswith("/app/login?state=")
        # /public/admin of the outer site is not the app's: the middleware is not asked.
        assert c.get("/public/admin").text == "outer /public/admin"
        page = c.get(location, headers=NAV)
        assert page.status_code == 200
        config = widget_config(page.text)
        assert config["redirectUri"] == f"{APP_ORIGIN}/app/login/callback"
        code = okta.issue_code(config)
        r = c.get("/app" + callback_url(config, code), headers=NAV)
        assert r.status_code == 302, r.text
        assert r.headers["location"] == "/app/admin"
        assert c.get("/app/admin").text == "admin page for Ada Lovelace"


def test_5_readme_setup_proxy_strips_a_prefix_proxyfix_outside(
    okta: FakeOkta, clock: FakeClock
) -> None:
    """The README's setup: the proxy serves the app at /app, strips it and says so in
    X-Forwarded-Prefix; ProxyFix outside the middleware. A whole sign-in works."""
    app = _flask_app()
    app.wsgi_app = OktaMagicLinkWSGI(  # type: ignore[method-assign]
        app.wsgi_app, _mounted_settings("/app", public_paths=("/health",)), clock=clock
    )
    app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1
    )
    proxy = {"x-forwarded-prefix": "/app", "x-forwarded-proto": "https"}
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url=APP_ORIGIN, headers=proxy) as c:

        def through_proxy(browser_path: str) -> httpx.Response:
            assert browser_path.startswith("/app/")
            return c.get(browser_path.removeprefix("/app"), headers=NAV)

        assert through_proxy("/app/health").text == "healthy"
        r = through_proxy("/app/admin")
        assert r.status_code == 302
        assert r.headers["location"].startswith("/app/login?state=")
        page = through_proxy(r.headers["location"])
        config = widget_config(page.text)
        code = okta.issue_code(config)
        r = through_proxy("/app" + callback_url(config, code))
        assert r.status_code == 302, r.text
        assert r.headers["location"] == "/app/admin"
        assert through_proxy("/app/admin").text == "admin page for Ada Lovelace"


def _raw_wsgi(mw: OktaMagicLinkWSGI, script_name: str, path_info: str) -> tuple[str, bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": "",
        "HTTP_ACCEPT": "text/html",
        "wsgi.input": io.BytesIO(),
    }
    wsgiref.util.setup_testing_defaults(environ)
    statuses: list[str] = []
    body = b"".join(mw(environ, lambda s, h, e=None: statuses.append(s)))
    return statuses[0], body


def _plain_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app saw " + environ["PATH_INFO"].encode("latin-1")]


@pytest.mark.parametrize(
    ("script_name", "path_info", "reaches_app"),
    [
        ("/public", "/admin", False),  # the server's SCRIPT_NAME is not the app's route
        ("/public", "", False),
        ("/app", "/health", True),
        ("/app", "/public/x", True),
        ("", "/public/x", True),
        ("/health", "", False),
        ("/public/", "admin", False),
    ],
)
def test_5_wsgi_server_script_name_is_not_part_of_the_public_match(
    clock: FakeClock, script_name: str, path_info: str, reaches_app: bool
) -> None:
    mw = OktaMagicLinkWSGI(_plain_wsgi, make_settings(), clock=clock)
    status, body = _raw_wsgi(mw, script_name, path_info)
    assert status == ("200 OK" if reaches_app else "302 Found"), body
    assert body.startswith(b"app saw ") is reaches_app


def test_5_wsgi_own_paths_keep_the_mount_prefix(clock: FakeClock) -> None:
    """The callback is matched on SCRIPT_NAME + PATH_INFO: the path of redirect_uri."""
    mw = OktaMagicLinkWSGI(_plain_wsgi, _mounted_settings("/app"), clock=clock)
    status, body = _raw_wsgi(mw, "/app", "/login/callback")
    assert status == "400 Bad Request"
    assert b"Sign in again" in body
    # Without the prefix it is just a protected path of the app.
    assert _raw_wsgi(mw, "", "/app/logout")[0] == "200 OK"  # the middleware's page
    assert _raw_wsgi(mw, "/other", "/login/callback")[0] == "302 Found"


def _starlette_app() -> Starlette:
    async def show(request: Request) -> PlainTextResponse:
        user = request.scope["user"]
        return PlainTextResponse(f"{request.url.path} for {user.display_name or 'nobody'}")

    return Starlette(
        routes=[
            Route("/admin", show),
            Route("/health", show),
            Route("/public/{rest:path}", show),
        ]
    )


def _asgi_get(app: Any, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=APP_ORIGIN) as c:
            return await c.get(path, headers={**NAV, **(headers or {})})

    return anyio.run(go)


def test_5_starlette_mount_public_paths_are_relative_to_the_mount(clock: FakeClock) -> None:
    """Mount("/public", mw): the middleware sees path=/public/admin, root_path=/public, and
    Starlette routes the inner app on /admin, so /admin is what must be public or not."""
    mw = OktaMagicLink(_starlette_app(), _mounted_settings("/public"), clock=clock)
    site = Starlette(routes=[Mount("/public", app=mw)])
    r = _asgi_get(site, "/public/admin")
    assert r.status_code == 302, r.text
    assert r.headers["location"].startswith("/public/login?state=")
    assert _asgi_get(site, "/public/health").text == "/public/health for nobody"
    assert _asgi_get(site, "/public/public/x").text == "/public/public/x for nobody"
    cookie = _session_cookie(mw, clock)
    r = _asgi_get(site, "/public/admin", {"cookie": cookie})
    assert r.text == "/public/admin for Ada Lovelace"
    # The middleware's own paths carry the mount prefix, as the browser sees them.
    assert _asgi_get(site, "/public/login").headers["location"].startswith("/public/login?")


async def _asgi_raw(app: Any, scope: dict[str, Any]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _http_scope(path: str, root_path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"accept", b"text/html"), *headers],
    }


@pytest.mark.parametrize(
    ("path", "root_path", "reaches_app"),
    [
        ("/public/admin", "/public", False),  # uvicorn --root-path /public: path includes it
        ("/public/health", "/public", True),
        ("/public", "/public", False),  # Starlette routes "" here: "/" is not public
        ("/publicity/x", "/public", False),  # not a prefix at a "/": the whole path routes
        ("/public/x", "/pub", True),  # ditto: Starlette routes on /public/x
        ("/health", "/app", True),  # an older server: path without root_path
        ("/admin", "", False),
        ("/public/x", "", True),
    ],
)
def test_5_asgi_root_path_is_removed_like_starlette_does(
    clock: FakeClock, path: str, root_path: str, reaches_app: bool
) -> None:
    mw = OktaMagicLink(_starlette_app(), make_settings(), clock=clock)
    status, body = anyio.run(_asgi_raw, mw, _http_scope(path, root_path, []))
    assert status == (200 if reaches_app else 302), body


def test_5_the_mount_root_itself_is_the_apps_root(clock: FakeClock) -> None:
    """path == root_path (ASGI) or an empty PATH_INFO (WSGI) is the app's "/" (a "/" in
    public_paths is a prefix: everything is public)."""
    settings = make_settings(public_paths=("/",))
    mw = OktaMagicLink(_starlette_app(), settings, clock=clock)
    status, _ = anyio.run(_asgi_raw, mw, _http_scope("/app", "/app", []))
    assert status == 404  # the app answered (it has no "/"), not the sign-in redirect
    wsgi_mw = OktaMagicLinkWSGI(_plain_wsgi, settings, clock=clock)
    assert _raw_wsgi(wsgi_mw, "/app", "") == ("200 OK", b"app saw ")
    protected = OktaMagicLinkWSGI(_plain_wsgi, make_settings(), clock=clock)
    assert _raw_wsgi(protected, "/app", "")[0] == "302 Found"


def test_5_asgi_root_path_websocket_matches_the_routed_path(clock: FakeClock) -> None:
    mw = OktaMagicLink(_ws_echo, make_settings(), clock=clock)
    sent = anyio.run(_ws_call, mw, "/public/admin", "/public", [])
    assert sent == [{"type": "websocket.close", "code": 1008}]
    sent = anyio.run(_ws_call, mw, "/app/public/feed", "/app", [])
    assert sent[0]["type"] == "websocket.accept"


# -- 15. a WSGI path that is not latin-1 text ------------------------------------------------------


def test_15_wsgi_path_above_latin1_from_httpx_wsgitransport_gets_400(clock: FakeClock) -> None:
    """httpx's WSGITransport hands PATH_INFO over as decoded text, not PEP 3333 latin-1."""
    mw = OktaMagicLinkWSGI(_plain_wsgi, make_settings(), clock=clock)
    cookie = _session_cookie(mw, clock)
    with httpx.Client(transport=httpx.WSGITransport(app=mw), base_url=APP_ORIGIN) as c:
        for path, headers in [
            ("/%E2%82%AC", NAV),
            ("/public/%E2%82%AC", NAV),
            ("/%F0%9F%94%91/admin", {"cookie": cookie}),  # signed in: still refused
            ("/login/%E2%82%AC", {"accept": "application/json"}),
        ]:
            r = c.get(path, headers=headers)
            assert r.status_code == 400, (path, r.text)
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert "This address is not valid" in r.text
            assert "app saw" not in r.text
            assert r.headers["cache-control"] == "no-store"
        # A path PEP 3333 can carry still works (é is U+00E9, a latin-1 character).
        assert c.get("/public/caf%C3%A9").status_code == 200


@pytest.mark.parametrize(
    ("script_name", "path_info"),
    [("", "/\u20ac"), ("/\u0100", "/health"), ("/app\U0001f511", ""), ("/x", "/public/\u2028")],
)
def test_15_wsgi_raw_environ_above_latin1_gets_400(
    clock: FakeClock, script_name: str, path_info: str
) -> None:
    mw = OktaMagicLinkWSGI(_plain_wsgi, make_settings(), clock=clock)
    status, body = _raw_wsgi(mw, script_name, path_info)
    assert status == "400 Bad Request"
    assert b"This address is not valid" in body


def test_15_wsgi_pep3333_utf8_path_is_decoded(clock: FakeClock) -> None:
    """The PEP 3333 spelling of /public/€ (UTF-8 bytes as latin-1) is a public path."""
    mw = OktaMagicLinkWSGI(_plain_wsgi, make_settings(), clock=clock)
    status, _ = _raw_wsgi(mw, "", "/public/\u20ac".encode().decode("latin-1"))
    assert status == "200 OK"
    status, _ = _raw_wsgi(mw, "/\u20ac".encode().decode("latin-1"), "/public/x")
    assert status == "200 OK"


# -- 9. identity headers never reach the app ---------------------------------------------------

#: Every family, in dash, underscore and mixed-case spellings.
SPOOFED = [
    "X-Forwarded-User",
    "x_forwarded_user",
    "X-FORWARDED_USER",
    "X-Forwarded-Email",
    "x_forwarded_email",
    "x-Forwarded_EMAIL",
    "X-Forwarded-Groups",
    "x_forwarded_groups",
    "X_FORWARDED-groups",
    "X-Forwarded-Preferred-Username",
    "x_forwarded_preferred_username",
    "X-forwarded_Preferred-USERNAME",
    "X-Forwarded-Access-Token",
    "x_forwarded_access_token",
    "X-FORWARDED-access_Token",
    "X-Auth-Request-User",
    "x_auth_request_email",
    "X-Auth-Request-Groups",
    "X_AUTH-REQUEST_Access-Token",
    "x-auth-request-preferred-username",
    "X-Auth-Request-Anything-Else",
    "Remote-User",
    "remote_user",
    "REMOTE-Groups",
    "Remote_Email",
    "remote-name",
    "Remote-Addr",
    "X-Remote-User",
    "x_remote_user",
    "X-REMOTE-Email",
    "x_Remote_Groups",
    "X-WEBAUTH-USER",
    "x_webauth_user",
    "X-WebAuth-Email",
    "X_WEBAUTH-Groups",
    "x-webauth-name",
]
#: Proxies need these; they say nothing about who the person is.
KEPT = [
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
    "X-Real-IP",
    "X-Request-Id",
    "X-Forwarded-Username-Hint",  # not a family member: exact names only for X-Forwarded-*
    "Remoteness",  # "Remote-" is the prefix, not "Remote"
    "X-Remoted",
    "Referer",
]


def _canonical(name: str) -> str:
    """How an app looks a header up: case-insensitive, and WSGI folds '-' into '_'."""
    name = name.lower().replace("_", "-")
    return name[5:] if name.startswith("http-") else name


async def _asgi_headers_echo(request: Request) -> JSONResponse:
    user = request.scope["user"]
    return JSONResponse(
        {
            "seen": [name.decode("latin-1") for name, _ in request.scope["headers"]],
            "user": user.identity if user.is_authenticated else None,
            "remote_user": None,
        }
    )


def asgi_headers_echo() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", _asgi_headers_echo)])


def wsgi_headers_echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    user = environ["okta_magiclink_mw.user"]
    body = json.dumps(
        {
            "seen": [k for k in environ if k.startswith("HTTP_")],
            "user": user.identity if user.is_authenticated else None,
            "remote_user": environ.get("REMOTE_USER"),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def _echo_client(make_client: Callable[..., Browser], **settings: Any) -> Browser:
    return make_client(
        make_settings(**settings), asgi_app=asgi_headers_echo(), wsgi_app=wsgi_headers_echo
    )


def _seen(r: httpx.Response) -> set[str]:
    assert r.status_code == 200, r.text
    return {_canonical(name) for name in r.json()["seen"]}


def _sent(names: list[str], value: str = "admin") -> list[tuple[str, str]]:
    return [(name, value) for name in names]


def test_9_every_family_and_spelling_is_stripped_on_public_paths(
    make_client: Callable[..., Browser],
) -> None:
    client = _echo_client(make_client)
    r = client.get("/health", headers=_sent(SPOOFED + KEPT))
    seen = _seen(r)
    for name in SPOOFED:
        assert _canonical(name) not in seen, name
    for name in KEPT:
        assert _canonical(name) in seen, name
    assert r.json()["user"] is None
    assert r.json()["remote_user"] is None


def test_9_every_family_and_spelling_is_stripped_when_signed_in(
    make_client: Callable[..., Browser], clock: FakeClock
) -> None:
    client = _echo_client(make_client)
    cookie = _session_cookie(client.mw, clock)
    for name in SPOOFED:  # one at a time too: no header hides behind another
        r = client.get("/reports", headers=[("cookie", cookie), (name, "admin")])
        assert _canonical(name) not in _seen(r), name
        assert r.json()["user"] == "00u-ada"
    r = client.get("/reports", headers=[("cookie", cookie), *_sent(SPOOFED + KEPT)])
    seen = _seen(r)
    assert not {_canonical(n) for n in SPOOFED} & seen
    assert {_canonical(n) for n in KEPT} <= seen
    if client.kind == "wsgi":
        assert r.json()["remote_user"] == "ada@example.com"


def test_9_extra_identity_headers_from_settings(make_client: Callable[..., Browser]) -> None:
    client = _echo_client(make_client, identity_headers=("X-Employee-Id", "x_corp_*"))
    stripped = ["X-Employee-Id", "x_employee_id", "X-CORP-Role", "x-corp_team", "X-Remote-User"]
    kept = ["X-Employee-Idx", "X-Corporate", "X-Forwarded-For"]
    seen = _seen(client.get("/public/x", headers=_sent(stripped + kept)))
    assert not {_canonical(n) for n in stripped} & seen
    assert {_canonical(n) for n in kept} <= seen


_SEPARATED = [
    ["x", "forwarded", "user"],
    ["x", "forwarded", "email"],
    ["x", "forwarded", "groups"],
    ["x", "forwarded", "preferred", "username"],
    ["x", "forwarded", "access", "token"],
    ["x", "auth", "request"],
    ["remote"],
    ["x", "remote"],
    ["x", "webauth"],
]
_PREFIX_FAMILIES = 5  # the rest of the list ends in "*": anything may follow


@st.composite
def identity_names(draw: st.DrawFn) -> str:
    index = draw(st.integers(0, len(_SEPARATED) - 1))
    words = list(_SEPARATED[index])
    if index >= _PREFIX_FAMILIES:
        tail = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=12)
        words.append(draw(tail))
    name = words[0]
    for word in words[1:]:
        name += draw(st.sampled_from("-_")) + word
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.upper() if flip else c for c, flip in zip(name, flips, strict=True))


def test_9_property_no_spelling_of_a_family_reaches_the_app(
    make_client: Callable[..., Browser], clock: FakeClock
) -> None:
    client = _echo_client(make_client)
    cookie = _session_cookie(client.mw, clock)

    @given(names=st.lists(identity_names(), min_size=1, max_size=4), signed_in=st.booleans())
    @hypothesis_settings(max_examples=60, deadline=None)
    def check(names: list[str], signed_in: bool) -> None:
        extra = [("cookie", cookie)] if signed_in else []
        r = client.get("/public/x", headers=[*extra, *_sent(names), ("X-Forwarded-For", "1")])
        seen = _seen(r)
        assert not {_canonical(n) for n in names} & seen
        assert "x-forwarded-for" in seen

    check()


@given(names=st.lists(identity_names(), min_size=1, max_size=4))
@hypothesis_settings(max_examples=60, deadline=None)
def test_9_property_raw_asgi_scope_any_case(names: list[str]) -> None:
    """Straight to the ASGI callable, names as sent (not lowercased by a server)."""
    mw = OktaMagicLink(asgi_headers_echo(), make_settings())
    headers = [(n.encode(), b"admin") for n in names] + [(b"x-forwarded-for", b"1")]
    status, body = anyio.run(_asgi_raw, mw, _http_scope("/health", "", headers))
    assert status == 200
    seen = {_canonical(n) for n in json.loads(body)["seen"]}
    assert not {_canonical(n) for n in names} & seen
    assert "x-forwarded-for" in seen


@given(names=st.lists(identity_names(), min_size=1, max_size=4))
@hypothesis_settings(max_examples=60, deadline=None)
def test_9_property_raw_wsgi_environ_any_spelling(names: list[str]) -> None:
    """Straight to the WSGI callable, keys as a server outside PEP 3333 might spell them."""
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.extend(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    mw = OktaMagicLinkWSGI(app, make_settings())
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/health", "HTTP_X_FORWARDED_FOR": "1"}
    environ |= {"HTTP_" + n: "admin" for n in names} | {"REMOTE_USER": "root"}
    assert mw(environ, lambda s, h, e=None: None) == [b"ok"]
    canonical = {_canonical(k) for k in seen}
    assert not {_canonical(n) for n in names} & canonical
    assert "remote-user" not in canonical  # REMOTE_USER, the CGI variable
    assert {"x-forwarded-for", "path-info", "request-method"} <= canonical


def test_9_wsgi_cgi_variables_are_not_headers(clock: FakeClock) -> None:
    """REMOTE_ADDR and friends come from the server, not the client: they stay."""
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    mw = OktaMagicLinkWSGI(app, make_settings(), clock=clock)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/health",
        "REMOTE_ADDR": "10.0.0.1",
        "REMOTE_PORT": "5000",
        "REMOTE_HOST": "client",
        "REMOTE_USER": "root",
        "HTTP_REMOTE_ADDR": "1.2.3.4",
    }
    mw(environ, lambda s, h, e=None: None)
    assert seen["REMOTE_ADDR"] == "10.0.0.1"
    assert seen["REMOTE_PORT"] == "5000"
    assert seen["REMOTE_HOST"] == "client"
    assert "REMOTE_USER" not in seen
    assert "HTTP_REMOTE_ADDR" not in seen


async def _ws_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    names = [name.decode("latin-1") for name, _ in scope["headers"]]
    await send({"type": "websocket.send", "text": json.dumps(names)})
    await send({"type": "websocket.close", "code": 1000})


async def _ws_call(
    mw: OktaMagicLink, path: str, root_path: str, headers: list[tuple[bytes, bytes]]
) -> list[dict[str, Any]]:
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "wss",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": headers,
        "subprotocols": [],
    }
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await mw(scope, receive, send)
    return sent


@pytest.mark.parametrize("signed_in", [True, False])
def test_9_websockets_never_see_identity_headers(clock: FakeClock, signed_in: bool) -> None:
    mw = OktaMagicLink(_ws_echo, make_settings(), clock=clock)
    headers = [(n.lower().encode(), b"admin") for n in SPOOFED + KEPT]
    path = "/public/feed"
    if signed_in:
        headers.append((b"cookie", _session_cookie(mw, clock).encode()))
        path = "/feed"
    sent = anyio.run(_ws_call, mw, path, "", headers)
    assert sent[0]["type"] == "websocket.accept"
    seen = {_canonical(n) for n in json.loads(sent[1]["text"])}
    assert not {_canonical(n) for n in SPOOFED} & seen
    assert {_canonical(n) for n in KEPT} <= seen


def test_9_remembered_harmless_names_are_bounded() -> None:
    """Harmless names are remembered to keep the common request cheap; a client sending
    endless new names cannot grow that memory, nor push an identity header through."""
    identity = IdentityHeaders()
    for i in range(2000):
        assert identity.is_identity_name(f"x-junk-{i}".encode()) is False
        assert identity.is_identity_key(f"HTTP_X_JUNK_{i}") is False
    assert len(identity.harmless_names) <= 512
    assert len(identity.harmless_keys) <= 512
    assert identity.is_identity_name(b"x-remote-user")
    assert identity.is_identity_key("HTTP_X_REMOTE_USER")
    assert b"x-remote-user" not in identity.harmless_names


def test_9_identity_header_list_names_the_families() -> None:
    assert set(IDENTITY_HEADERS) == {
        "x-forwarded-user",
        "x-forwarded-email",
        "x-forwarded-groups",
        "x-forwarded-preferred-username",
        "x-forwarded-access-token",
        "x-auth-request-*",
        "remote-*",
        "x-remote-*",
        "x-webauth-*",
    }


@pytest.mark.parametrize(
    "value",
    ["x-corp", ("*",), ("",), ("x corp",), ("x-corp*-id",), (42,), ("-x",), ("x:y",)],
)
def test_9_identity_headers_setting_is_validated(value: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_settings(identity_headers=value)
    assert "identity_headers" in str(info.value)


def test_9_identity_headers_setting_is_kept_as_a_tuple() -> None:
    s = make_settings(identity_headers=["X-Employee-Id", "x_corp_*"])
    assert s.identity_headers == ("X-Employee-Id", "x_corp_*")
    assert make_settings().identity_headers == ()


def test_9_wsgi_keys_that_are_not_text_are_left_alone() -> None:
    """PEP 3333 keys are str; anything else a server or middleware adds is not a header."""
    identity = IdentityHeaders()
    environ: dict[Any, Any] = {42: "x", "HTTP_REMOTE_USER": "root", "PATH_INFO": "/"}
    identity.strip_environ(environ)
    assert environ == {42: "x", "PATH_INFO": "/"}
    assert 42 in identity.harmless_keys
