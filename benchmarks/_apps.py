"""The apps under test, built the same way in-process and under uvicorn.

Every variant serves ``GET /reports`` with a short text body. Secrets are fixed, so a
cookie minted in one process is accepted by a server started in another.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from flask import Flask, abort, session
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from okta_magiclink_mw import OktaMagicLink, OktaMagicLinkWSGI, Settings
from okta_magiclink_mw._flow import MagicLinkCore
from okta_magiclink_mw._sessions import StoredTokens

SECRET = "benchmark-secret-0123456789abcdef-0123456789"
ISSUER = "http://127.0.0.1:9/oauth2/default"
CLIENT_ID = "0oaBenchmark"
REDIRECT_URI = "http://127.0.0.1:8000/login/callback"
PATH = "/reports"
ASGI_VARIANTS = ("bare", "session", "magiclink")
WSGI_VARIANTS = ("bare", "session", "magiclink")
LABELS = {
    "bare_nocookie": "bare app, no session cookie",
    "bare": "bare app",
    "session": "signed-cookie session + check",
    "magiclink": "okta-magiclink-mw",
    "magiclink_store": "okta-magiclink-mw + Redis store",
    "magiclink_rules": "okta-magiclink-mw, 50 access rules",
    "bare_auth": "bare Starlette 202",
    "bare_auth_headers": "bare Starlette 202 + the same headers",
    "forward": "forward-auth GET /auth",
    "forward_rules": "forward-auth GET /auth, 50 rules",
    "nginx_static": "nginx static page, no auth",
    "nginx_auth": "nginx static page + auth_request",
}


def settings(
    issuer: str = ISSUER, redirect_uri: str = REDIRECT_URI, session_store: str | None = None
) -> Settings:
    # With a store, as a deployment that gives its app access tokens: offline_access.
    scopes = ("openid", "profile", "email") + (("offline_access",) if session_store else ())
    return Settings(
        issuer=issuer,
        client_id=CLIENT_ID,
        redirect_uri=redirect_uri,
        secret_keys=[SECRET],
        session_store=session_store,
        scopes=scopes,
    )


def claims(i: int = 0) -> dict[str, Any]:
    """The identity claims of a typical Okta sign-in (what an ID token carries)."""
    return {
        "sub": f"00u{i:017d}",
        "email": f"user{i}@example.com",
        "email_verified": True,
        "name": f"User Number{i}",
        "preferred_username": f"user{i}@example.com",
        "given_name": "User",
        "family_name": f"Number{i}",
        "locale": "en-US",
        "zoneinfo": "America/Los_Angeles",
        "updated_at": 1_700_000_000 + i,
        "auth_time": int(time.time()),
    }


def fake_id_token(c: dict[str, Any]) -> str:
    """A JWT-shaped string of a realistic size (it is kept for logout, never verified here)."""

    def part(obj: object) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    rng = random.Random(c["sub"])
    now = int(time.time())
    body = {**c, "iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 3600, "ver": 1}
    body["jti"] = "ID." + base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")
    header = {"kid": base64.urlsafe_b64encode(rng.randbytes(32)).decode(), "alg": "RS256"}
    # RS256 with a 2048-bit key: a 256-byte signature that does not compress.
    signature = base64.urlsafe_b64encode(rng.randbytes(256)).rstrip(b"=").decode()
    return f"{part(header)}.{part(body)}.{signature}"


# -- ASGI ------------------------------------------------------------------------------------


async def _bare(request: Request) -> Response:
    return PlainTextResponse("hello")


async def _session_check(request: Request) -> Response:
    user = request.session.get("user")
    if not user:
        return PlainTextResponse("sign in first", status_code=401)
    return PlainTextResponse(f"hello {user['name']}")


async def _session_login(request: Request) -> Response:
    c = claims()
    request.session["user"] = c
    request.session["id_token"] = fake_id_token(c)
    return PlainTextResponse("signed in")


async def _magiclink(request: Request) -> Response:
    return PlainTextResponse(f"hello {request.user.display_name}")


def asgi_bare() -> ASGIApp:
    return Starlette(routes=[Route(PATH, _bare)])


def asgi_session() -> ASGIApp:
    """The hand-rolled alternative: Starlette's SessionMiddleware and a check in the view."""
    routes = [Route(PATH, _session_check), Route("/_bench/login", _session_login)]
    return Starlette(routes=routes, middleware=[Middleware(SessionMiddleware, secret_key=SECRET)])


def asgi_magiclink() -> OktaMagicLink:
    return OktaMagicLink(Starlette(routes=[Route(PATH, _magiclink)]), settings())


def asgi_magiclink_store() -> OktaMagicLink:
    """The middleware with sessions in the Redis at ``BENCH_STORE_URL`` (socket part)."""
    url = os.environ["BENCH_STORE_URL"]
    return OktaMagicLink(Starlette(routes=[Route(PATH, _magiclink)]), settings(session_store=url))


def store_cookie(url: str, i: int = 0) -> str:
    """A session minted into the store at ``url``, the way the core mints it, with the
    tokens of an ``offline_access`` sign-in (an access token the size of Okta's JWTs)."""
    core = MagicLinkCore(settings(session_store=url))
    store = core.record_store
    c = claims(i)
    now = time.time()
    tokens = StoredTokens(fake_id_token(c), now + 3600, "openid profile email", "r" * 43, now)
    flow = core.sessions.mint_flow(c, fake_id_token(c), now, tokens)
    try:
        effect = next(flow)
        while True:
            effect = flow.send(getattr(store, effect.operation)(*effect.args))
    except StopIteration as done:
        header: str = done.value[1]
    finally:
        store.close()  # type: ignore[union-attr]
    return cookie_pair(header)


# -- forward auth ------------------------------------------------------------------------------

#: The forward-auth server's endpoint for nginx's ``auth_request``.
AUTH_PATH = "/auth"
#: The request nginx asks ``/auth`` about (its ``X-Original-URI``).
ORIGINAL_URI = f"{PATH}?id=5"
#: The groups of the person who signs in: ``staff`` lets them through the last rule.
GROUPS = ("staff", "engineering")


async def _accepted(request: Request) -> Response:
    return Response(status_code=202)


#: The headers of the forward-auth server's 202 (besides content-length), for a person.
ALLOWED_HEADERS = {
    "cache-control": "no-store",
    "x-auth-request-user": "ada@example.com",
    "x-auth-request-email": "ada@example.com",
    "x-auth-request-groups": ",".join(sorted(GROUPS)),
    "vary": "Cookie",
}


async def _accepted_with_headers(request: Request) -> Response:
    return Response(status_code=202, headers=ALLOWED_HEADERS)


def asgi_bare_auth() -> ASGIApp:
    """The baseline of the forward-auth rows: a bare Starlette endpoint answering 202."""
    return Starlette(routes=[Route(AUTH_PATH, _accepted)])


def asgi_bare_auth_headers() -> ASGIApp:
    """The same, with the headers of the forward-auth server's answer: what the server
    pays uvicorn (h11) for its answer alone."""
    return Starlette(routes=[Route(AUTH_PATH, _accepted_with_headers)])


def access_rules(count: int = 50) -> list[dict[str, Any]]:
    """``count`` access rules as ``OKTA_MW_ACCESS_RULES`` takes them: ``count - 1`` that
    do not match :data:`PATH` (a mix of group, domain and email rules, none of which the
    person passes), then the one that does, which the person passes by a group."""
    rules: list[dict[str, Any]] = []
    for i in range(count - 1):
        kind = i % 3
        if kind == 0:
            rules.append({"path": f"/teams/t{i}", "groups": [f"team-{i}", "admins"]})
        elif kind == 1:
            rules.append({"path": f"/partners/p{i}", "domains": [f"partner{i}.example"]})
        else:
            rules.append({"path": f"/audit/a{i}", "emails": [f"auditor{i}@audit.example"]})
    if count:
        rules.append({"path": PATH, "groups": ["staff"]})
    return rules


def forward_env(issuer: str, rules: int = 0) -> dict[str, str]:
    """The forward-auth server's whole configuration, as a deployment gives it."""
    env = {
        "OKTA_ISSUER": issuer,
        "OKTA_CLIENT_ID": CLIENT_ID,
        "OKTA_REDIRECT_URI": REDIRECT_URI,
        "OKTA_MW_SECRET_KEYS": SECRET,
        "OKTA_MW_SERVE_LOG_LEVEL": "warning",
    }
    if rules:
        env["OKTA_MW_ACCESS_RULES"] = json.dumps(access_rules(rules))
    return env


def auth_headers(cookie: str) -> dict[str, str]:
    """What nginx's ``auth_request`` subrequest sends ``/auth`` (examples/forward_auth):
    the person's cookies and the original request."""
    return {
        "Cookie": f"{OTHER_COOKIES}; {cookie}",
        "X-Original-URI": ORIGINAL_URI,
        "X-Original-Method": "GET",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "127.0.0.1:8000",
    }


ASGI_FACTORIES: dict[str, Callable[[], ASGIApp]] = {
    "bare": asgi_bare,
    "session": asgi_session,
    "magiclink": asgi_magiclink,
}


# -- WSGI ------------------------------------------------------------------------------------


def wsgi_bare() -> Flask:
    app = Flask("bench_bare")
    app.add_url_rule(PATH, "reports", lambda: "hello")
    return app


def wsgi_session() -> Flask:
    """Flask's own signed-cookie session and a login check in the view."""
    app = Flask("bench_session")
    app.secret_key = SECRET

    def reports() -> str:
        user = session.get("user")
        if not user:
            abort(401)
        return f"hello {user['name']}"

    def login() -> str:
        c = claims()
        session["user"] = c
        session["id_token"] = fake_id_token(c)
        return "signed in"

    app.add_url_rule(PATH, "reports", reports)
    app.add_url_rule("/_bench/login", "login", login)
    return app


def wsgi_magiclink() -> Flask:
    app = Flask("bench_magiclink")

    def reports() -> str:
        return f"hello {flask_request.environ['okta_magiclink_mw.user'].display_name}"

    app.add_url_rule(PATH, "reports", reports)
    app.wsgi_app = OktaMagicLinkWSGI(app.wsgi_app, settings())  # type: ignore[method-assign]
    return app


WSGI_FACTORIES: dict[str, Callable[[], Flask]] = {
    "bare": wsgi_bare,
    "session": wsgi_session,
    "magiclink": wsgi_magiclink,
}


# -- cookies ---------------------------------------------------------------------------------


#: Cookies a real browser sends along with the session (analytics, preferences).
OTHER_COOKIES = "_ga=GA1.1.1234567890.1700000000; theme=dark"


def cookie_pair(set_cookie: str) -> str:
    """``name=value`` of a ``Set-Cookie`` value."""
    return set_cookie.split(";", 1)[0].strip()


def magiclink_cookie(mw: OktaMagicLink | OktaMagicLinkWSGI, i: int = 0) -> str:
    c = claims(i)
    _, header = mw.core.sessions.mint(c, fake_id_token(c), time.time())
    return cookie_pair(header)


def starlette_session_cookie() -> str:
    """Sign in once through the SessionMiddleware app and keep the cookie it sets."""
    import asyncio

    app = asgi_session()
    headers: list[tuple[bytes, bytes]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers.extend(message["headers"])

    async def login() -> None:
        await app(asgi_scope("/_bench/login", ""), receive, send)

    asyncio.run(login())
    return next(cookie_pair(v.decode()) for k, v in headers if k == b"set-cookie")


def flask_session_cookie() -> str:
    client = wsgi_session().test_client()
    response = client.get("/_bench/login")
    return cookie_pair(response.headers["Set-Cookie"])


def cookie_for(variant: str, *, asgi: bool) -> str:
    """The ``Cookie`` header a signed-in browser sends to ``variant``."""
    if variant == "session":
        return starlette_session_cookie() if asgi else flask_session_cookie()
    mw = asgi_magiclink() if asgi else wsgi_magiclink().wsgi_app
    assert isinstance(mw, OktaMagicLink | OktaMagicLinkWSGI)
    # The bare app gets the same cookie; it ignores it, as a real app ignores its cookies.
    return magiclink_cookie(mw)


# -- a typical browser request -----------------------------------------------------------------

BROWSER_HEADERS = (
    ("host", "127.0.0.1:8000"),
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("accept-language", "en-US,en;q=0.5"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("sec-fetch-dest", "document"),
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-site", "same-origin"),
    ("connection", "keep-alive"),
)


def asgi_scope(path: str, cookie: str, query: str = "") -> dict[str, Any]:
    headers = [(k.encode(), v.encode()) for k, v in BROWSER_HEADERS]
    if cookie:
        headers.append((b"cookie", f"{OTHER_COOKIES}; {cookie}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def wsgi_environ(path: str, cookie: str) -> dict[str, Any]:
    import io
    import sys

    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in BROWSER_HEADERS:
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    if cookie:
        environ["HTTP_COOKIE"] = f"{OTHER_COOKIES}; {cookie}"
    return environ
