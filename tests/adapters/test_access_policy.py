"""Who may enter (issue 10): allow-lists, groups and per-path rules, through both adapters
and every session mode (the cookie, a shared in-process store, Redis).

The test Okta (tests/conftest.py) puts the claims a test passes into the ID token of the
sign-in (``groups=[...]``, ``email_verified=False``), and ``okta.current_claims`` into the
ID tokens its refreshes return: what Okta says of the person now.
"""

from __future__ import annotations

import json
import logging
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from okta_magiclink_mw import AccessRule, OktaMagicLink
from tests.conftest import (
    APP_ORIGIN,
    CLIENT_ID,
    END_SESSION_URL,
    ISSUER,
    NAV,
    Browser,
    FakeClock,
    FakeOkta,
    assert_security_headers,
    make_settings,
    no_outbound,
    set_cookies,
    sign_in,
)

ALL_SESSION_MODES = True
SESSION = "__Host-omw_session"
API = {"accept": "application/json"}
ADMINS = AccessRule("/admin", groups=["admins"])
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
GROUPS_HELP = "Security > API > Authorization Servers"


def signed_in(client: Browser, okta: FakeOkta, **claims: Any) -> str:
    r = sign_in(client, okta, "/", **claims)
    assert r.status_code == 302, r.text
    values = [c.value for c in client.cookies.jar if c.name == SESSION]
    assert len(values) == 1
    return values[0]


def seen(r: Any) -> dict[str, Any]:
    """What the echo app saw: the request reached it."""
    assert r.status_code == 200, (r.status_code, r.text[:300])
    data: dict[str, Any] = r.json()
    return data


def assert_forbidden_page(r: Any, who: str) -> None:
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert_security_headers(r)
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "form-action 'self'" in csp
    assert f"You are signed in as <strong>{escape(who)}</strong>, which does not" in r.text
    assert '<form method=post action="/logout">' in r.text  # as the logout page's
    assert '<form method=post action="/logout?then=login">' in r.text
    assert "Use another account" in r.text
    assert "Sign out" in r.text


def assert_forbidden_json(r: Any) -> None:
    assert r.status_code == 403
    assert_security_headers(r)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["error"] == "forbidden"
    assert body["login_url"] == "/login"
    assert body["logout_url"] == "/logout"


# -- allow-lists ---------------------------------------------------------------------------------


def test_allowed_domains_let_in_their_people_only(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(allowed_domains=["example.com"]))
    signed_in(client, okta)
    assert seen(client.get("/reports", headers=NAV))["email"] == "ada@example.com"
    other = client.other_browser()
    signed_in(other, okta, email="eve@elsewhere.example", sub="00u-eve")
    with no_outbound(okta):
        # The first request and the next ones (the session now cached: the fast path).
        for _ in range(3):
            assert_forbidden_page(other.get("/reports", headers=NAV), "eve@elsewhere.example")
        assert_forbidden_json(other.get("/reports", headers=API))
        assert_forbidden_json(other.post("/reports", headers={"sec-fetch-mode": "cors"}))
        assert_forbidden_json(other.get("/api", headers={"x-requested-with": "XMLHttpRequest"}))


def test_allowed_emails_compare_without_case(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(allowed_emails=["ADA@example.COM"]))
    signed_in(client, okta)
    assert seen(client.get("/x"))["authenticated"] is True


def test_an_unverified_email_domain_gives_no_access(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(allowed_domains=["example.com"]))
    signed_in(client, okta, email_verified=False, name="Ada Lovelace")
    r = client.get("/reports", headers=NAV)
    assert_forbidden_page(r, "Ada Lovelace")
    assert "Your email address is not verified in Okta" in r.text
    assert "ada@example.com" not in r.text  # never shown as who they are


def test_allowed_groups(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(allowed_groups=["admins", "finance"]))
    signed_in(client, okta, groups=["finance"])
    assert seen(client.get("/x"))["authenticated"] is True
    other = client.other_browser()
    signed_in(other, okta, groups=["Finance", "staff"], sub="00u-bob")  # groups are exact
    assert_forbidden_json(other.get("/x", headers=API))


def test_an_empty_groups_claim_gives_no_group(
    make_client: Any, okta: FakeOkta, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(make_settings(allowed_groups=["admins"]))
    signed_in(client, okta, groups=[])
    with caplog.at_level(logging.INFO, logger="okta_magiclink_mw"):
        assert_forbidden_page(client.get("/x", headers=NAV), "ada@example.com")
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "access.denied"]
    assert record.levelno == logging.INFO  # the claim came: nothing to fix in Okta
    assert record.groups_claim == "present"  # type: ignore[attr-defined]
    assert record.sub == "00u-ada"  # type: ignore[attr-defined]
    assert "groups admins" in record.getMessage()


def test_a_missing_groups_claim_is_said_with_its_fix(
    make_client: Any, okta: FakeOkta, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(make_settings(access_rules=[ADMINS]))
    cookie = signed_in(client, okta)  # the ID token has no groups claim
    with caplog.at_level(logging.INFO, logger="okta_magiclink_mw"):
        assert_forbidden_page(client.get("/admin", headers=NAV), "ada@example.com")
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "access.denied"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "no 'groups' claim" in message
    assert GROUPS_HELP in message
    assert "rule '/admin'" in message
    assert cookie not in message
    assert "ada@example.com" not in message


def test_a_startup_warning_when_rules_use_groups(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"):
        make_client(make_settings(allowed_domains=["example.com"]))
        make_client(make_settings(access_rules=[AccessRule("/x", emails=["a@b.c"])]))
    assert not [r for r in caplog.records if getattr(r, "event", "") == "startup.groups_claim"]
    with caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"):
        make_client(make_settings(access_rules=[ADMINS]))
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "startup.groups_claim"]
    assert record.levelno == logging.WARNING
    assert "'groups' claim" in record.getMessage()
    assert GROUPS_HELP in record.getMessage()


def test_no_rules_change_nothing(client: Browser, okta: FakeOkta) -> None:
    signed_in(client, okta, groups=["staff"])
    assert client.core.policy.everyone
    assert seen(client.get("/admin"))["authenticated"] is True


# -- per-path rules ------------------------------------------------------------------------------

RULES = [
    AccessRule("/admin/help"),  # a carve-out: anyone signed in
    AccessRule("/admin", groups=["admins"]),
    AccessRule("/reports", domains=["example.com"], emails=["auditor@partner.example"]),
]


@pytest.mark.parametrize(
    ("claims", "path", "allowed"),
    [
        ({"groups": ["admins"]}, "/admin/users", True),
        ({"groups": ["staff"]}, "/admin/users", False),
        ({"groups": ["staff"]}, "/admin", False),
        ({"groups": ["staff"]}, "/admin/help", True),
        ({"groups": ["staff"]}, "/admin/help/faq", True),
        ({"groups": ["staff"]}, "/administrator", False),  # the global list
        ({}, "/reports/q3", True),
        ({"email": "auditor@partner.example"}, "/reports", True),
        ({"email": "eve@partner.example"}, "/reports", False),
        ({"email": "eve@partner.example", "groups": ["admins"]}, "/reports", False),
        ({"groups": ["admins"]}, "/home", True),  # the global list names admins
        ({}, "/home", False),
    ],
)
def test_the_first_matching_rule_decides(
    make_client: Any, okta: FakeOkta, claims: dict[str, Any], path: str, allowed: bool
) -> None:
    client = make_client(make_settings(access_rules=RULES, allowed_groups=["admins"]))
    signed_in(client, okta, **claims)
    r = client.get(path, headers=API)
    if allowed:
        assert seen(r)["path"] == path
    else:
        assert_forbidden_json(r)


def test_public_paths_are_never_subject_to_rules(make_client: Any, okta: FakeOkta) -> None:
    rules = [AccessRule("/", groups=["admins"])]
    client = make_client(make_settings(access_rules=rules, public_paths=("/health", "/public/")))
    signed_in(client, okta)
    assert_forbidden_json(client.get("/x", headers=API))
    for path in ("/health", "/public/page"):
        view = seen(client.get(path, headers=API))
        assert view["authenticated"] is True  # the session still comes along
    # A path trick is not a public path either.
    assert_forbidden_json(client.get("/public/%2e%2e/x", headers=API))


# -- path tricks (as the server hands them over: percent-decoded) ---------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/admin",
        "/admin/",
        "/%2Fadmin",  # //admin (a client would read "//admin" as a host)
        "/%2F/admin/users",
        "/%2e/admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin/users",
        "/x/%2e%2e/%2e%2e/admin",
        "/admin/%2e",
        "/admin/%2e%2e",  # Starlette routes it to /admin/{rest:path} as it came
        "/admin/%2e%2e/home",
        "/admin%2f..%2fhome",
        "/public%5c..%5cadmin",  # for a server that reads backslashes as slashes
        "/admin/help/%2e%2e/users",  # out of the carve-out
    ],
)
def test_path_tricks_never_escape_a_rule(make_client: Any, okta: FakeOkta, path: str) -> None:
    client = make_client(make_settings(access_rules=RULES))
    signed_in(client, okta, groups=["staff"])
    with no_outbound(okta):
        assert_forbidden_json(client.get(path, headers=API))
    admin = client.other_browser()
    signed_in(admin, okta, groups=["admins"], sub="00u-root")
    seen(admin.get(path, headers=API))


@pytest.mark.parametrize(
    "path", ["/administrator", "/admin.", "/ADMIN", "/Admin/users", "/x/admin"]
)
def test_other_paths_are_not_the_rule(make_client: Any, okta: FakeOkta, path: str) -> None:
    """Matching is case-sensitive and on segment boundaries, as the routers are."""
    client = make_client(make_settings(access_rules=[ADMINS]))
    signed_in(client, okta, groups=["staff"])
    assert seen(client.get(path, headers=API))["path"] == path


def test_a_mount_prefix_is_not_part_of_the_rule(make_client: Any, okta: FakeOkta) -> None:
    """Rules match the path the app routes on (ASGI root_path and WSGI SCRIPT_NAME cut)."""
    client = make_client(make_settings(access_rules=[ADMINS]))
    signed_in(client, okta, groups=["staff"])
    if client.kind == "asgi":
        r = _asgi_get(client, "/app/admin/x", root_path="/app")
        assert r[0] == 403
        r = _asgi_get(client, "/admin/x", root_path="/admin")  # the app's own /x
        assert r[0] == 200
    else:
        assert _wsgi_get(client, script_name="/app", path_info="/admin/x") == 403
        assert _wsgi_get(client, script_name="/admin", path_info="/x") == 200


def _cookie_of(client: Browser) -> str:
    return f"{SESSION}={next(c.value for c in client.cookies.jar if c.name == SESSION)}"


def _asgi_get(client: Browser, path: str, root_path: str) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"app.example"), (b"cookie", _cookie_of(client).encode())],
        "server": ("app.example", 443),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    client._portal.call(client.mw, scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _wsgi_get(client: Browser, *, script_name: str, path_info: str) -> int:
    import io
    import wsgiref.util

    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(
        SCRIPT_NAME=script_name,
        PATH_INFO=path_info,
        HTTP_COOKIE=_cookie_of(client),
        HTTP_ACCEPT="application/json",
        QUERY_STRING="",
    )
    environ["wsgi.input"] = io.BytesIO()
    statuses: list[str] = []
    body = client.mw(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(body)
    getattr(body, "close", lambda: None)()
    return int(statuses[0].split()[0])


# -- cookies cannot be made to say otherwise -------------------------------------------------------


def test_a_tampered_cookie_is_refused_not_trusted(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(access_rules=[ADMINS]))
    value = signed_in(client, okta, groups=["staff"])
    for i in (len(value) // 2, -3):
        flipped = value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]
        r = client.get("/admin", headers={**API, "cookie": f"{SESSION}={flipped}"})
        assert r.status_code == 401, r.text  # nobody, not an admin


@pytest.mark.cookie_sessions
def test_groups_forged_into_a_cookie_do_not_count(
    make_client: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    """A cookie session with the admins group, signed by any key but ours, is nobody."""
    from okta_magiclink_mw._cookies import CookieCodec
    from okta_magiclink_mw._sealing import Sealer
    from okta_magiclink_mw._sessions import InMemorySessionStore, SessionManager

    client = make_client(make_settings(access_rules=[ADMINS]))
    forger = SessionManager(
        # Our cookie's name and purpose: only the key is the forger's.
        CookieCodec(["f" * 40], name=SESSION, purpose=f"session:{ISSUER} {CLIENT_ID}"),
        sealer=Sealer(["f" * 40], purpose="x"),
        max_age=3600,
        idle_timeout=3600,
        leeway=60,
        secure=True,
        store=InMemorySessionStore(),
    )
    _, header = forger.mint({"sub": "00u-eve", "groups": ["admins"]}, None, clock())
    forged = header.split(";")[0].split("=", 1)[1]
    r = client.get("/admin", headers={**API, "cookie": f"{SESSION}={forged}"})
    assert r.status_code == 401


# -- groups that change ----------------------------------------------------------------------------


def test_new_groups_take_effect_at_the_next_sign_in(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(access_rules=[ADMINS]))
    signed_in(client, okta, groups=["staff"])
    assert_forbidden_json(client.get("/admin", headers=API))
    okta.current_claims["groups"] = ["admins"]  # an admin adds them in Okta...
    assert_forbidden_json(client.get("/admin", headers=API))  # ...the session is as it was
    assert client.post("/logout", headers=SAME_ORIGIN).status_code == 303
    signed_in(client, okta, groups=["admins"])  # ...until they sign in again
    assert seen(client.get("/admin", headers=API))["path"] == "/admin"
    assert client.post("/logout", headers=SAME_ORIGIN).status_code == 303
    signed_in(client, okta, groups=["staff"])  # and taken away
    assert_forbidden_json(client.get("/admin", headers=API))


def _keeping_tokens(
    make_client: Any, shared_store: Any, session_mode: str, **overrides: Any
) -> Browser:
    if session_mode == "cookie":
        pytest.skip("tokens (and so re-checks) are kept only with a session store")
    settings = make_settings(
        scopes=("openid", "profile", "email", "offline_access"),
        session_store=shared_store,
        revalidate_every=60,
        access_rules=[ADMINS],
        **overrides,
    )
    client: Browser = make_client(settings)
    return client


def test_new_groups_take_effect_at_the_next_recheck(
    make_client: Any, okta: FakeOkta, clock: FakeClock, shared_store: Any, session_mode: str
) -> None:
    client = _keeping_tokens(make_client, shared_store, session_mode)
    signed_in(client, okta, groups=["staff"])
    assert_forbidden_json(client.get("/admin", headers=API))
    okta.current_claims["groups"] = ["admins", "staff"]
    assert_forbidden_json(client.get("/admin", headers=API))  # not due yet
    clock.advance(61)
    assert seen(client.get("/admin", headers=API))["path"] == "/admin"
    assert len(okta.refresh_forms) == 1
    # Another instance of the app, sharing the store, sees the new groups too.
    other = make_client(client.core.settings)
    other.cookies.set(SESSION, client.cookies[SESSION], domain="app.example")
    assert seen(other.get("/admin", headers=API))["path"] == "/admin"
    # Taken away in Okta: refused from the next re-check on.
    okta.current_claims["groups"] = ["staff"]
    clock.advance(61)
    assert_forbidden_json(client.get("/admin", headers=API))
    assert len(okta.refresh_forms) == 2
    if client.kind == "asgi":
        assert "group:admins" not in seen(client.get("/x", headers=API))["auth_scopes"]


@pytest.mark.parametrize("fault", ["other_sub", "wrong_aud", "expired", "bad_signature", "garbage"])
def test_a_refreshed_id_token_that_fails_its_checks_changes_nothing(
    make_client: Any,
    okta: FakeOkta,
    clock: FakeClock,
    shared_store: Any,
    session_mode: str,
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = _keeping_tokens(make_client, shared_store, session_mode)
    signed_in(client, okta, groups=["staff"])
    okta.current_claims["groups"] = ["admins"]
    okta.refresh_id_token_fault = fault
    clock.advance(61)
    with caplog.at_level(logging.INFO, logger="okta_magiclink_mw"):
        r = client.get("/admin", headers=API)
    assert_forbidden_json(r)  # the old claims stand
    assert len(okta.refresh_forms) == 1  # the tokens were refreshed all the same
    events = [getattr(rec, "event", "") for rec in caplog.records]
    assert "id_token.invalid" in events
    assert "refresh.claims_kept" in events
    warned = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert all(
        okta.refreshed_id_tokens[-1] not in rec.getMessage() for rec in warned if fault != "garbage"
    )
    assert seen(client.get("/x", headers=API))["sub"] == "00u-ada"


# -- the 403 page's ways out -----------------------------------------------------------------------


def test_the_403_page_escapes_who_they_are(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(allowed_groups=["admins"]))
    name = '<img src=x onerror="alert(1)">'
    signed_in(client, okta, email=None, name=name)
    r = client.get("/x", headers=NAV)
    assert_forbidden_page(r, name)
    assert name not in r.text
    assert "<script" not in r.text


def test_use_another_account_signs_out_then_in(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(allowed_groups=["admins"]))
    signed_in(client, okta)
    id_token = okta.id_tokens[-1]
    assert client.get("/x", headers=NAV).status_code == 403
    r = client.post("/logout?then=login", headers={**NAV, **SAME_ORIGIN})
    assert r.status_code == 303
    assert set_cookies(r)[SESSION]["max-age"] == "0"
    # Through Okta's sign-out (else the Okta session signs the same person in again).
    location = r.headers["location"]
    assert location.startswith(END_SESSION_URL + "?")
    assert dict(parse_qsl(urlsplit(location).query)) == {"id_token_hint": id_token}
    assert client.get("/x", headers=NAV).status_code == 302  # signed out here too


def test_use_another_account_without_okta_goes_to_sign_in(make_client: Any, okta: FakeOkta) -> None:
    """Without an ID token to end the Okta session with, straight to the login page."""
    client = make_client(make_settings(allowed_groups=["admins"]))
    flow = client.core.sessions.mint_flow(
        {"sub": "00u-ada", "name": "Ada"}, None, client.core.clock()
    )
    if client.kind == "asgi":
        _, header = client._portal.call(client.mw._drive, flow)
    else:
        _, header = client.mw._drive(flow)
    client.cookies.set(SESSION, header.split(";")[0].split("=", 1)[1], domain="app.example")
    assert client.get("/x", headers=NAV).status_code == 403
    r = client.post("/logout?then=login", headers={**NAV, **SAME_ORIGIN})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    plain = client.post("/logout", headers=SAME_ORIGIN)
    assert plain.headers["location"] == "/"


def test_a_cross_site_switch_is_refused(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(allowed_groups=["admins"]))
    signed_in(client, okta)
    r = client.post("/logout?then=login", headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403
    assert "set-cookie" not in r.headers


def test_the_403_keeps_the_idle_timeout_moving(
    make_client: Any, okta: FakeOkta, clock: FakeClock, session_mode: str
) -> None:
    client = make_client(make_settings(allowed_groups=["admins"]))
    signed_in(client, okta)
    clock.advance(301)  # past the point where last_seen is moved forward
    r = client.get("/x", headers=API)
    assert_forbidden_json(r)
    if session_mode == "cookie":
        assert SESSION in set_cookies(r)
        assert "Cookie" in r.headers["vary"]
    clock.advance(3000)  # an hour of idling since sign-in, but not since the 403
    assert_forbidden_json(client.get("/x", headers=API))


# -- ASGI: scope["auth"] and websockets ----------------------------------------------------------


def test_groups_are_scopes_of_request_auth(client: Browser, okta: FakeOkta) -> None:
    signed_in(client, okta, groups=["staff", "admins"])
    view = seen(client.get("/x"))
    if client.kind == "asgi":
        assert view["auth_scopes"] == ["authenticated", "group:admins", "group:staff"]


async def _websocket(mw: OktaMagicLink, path: str, cookie: str) -> list[dict[str, Any]]:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "wss",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"cookie", cookie.encode()), (b"origin", APP_ORIGIN.encode())],
        "subprotocols": [],
    }
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[dict[str, Any]] = []

    async def endpoint(websocket: Any) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.user.display_name)
        await websocket.close()

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    mw.app = Starlette(routes=[WebSocketRoute("/{p:path}", endpoint)])
    await mw(scope, receive, send)
    return sent


@pytest.mark.parametrize("adapter", ["asgi"])  # websockets are ASGI's
def test_a_refused_person_cannot_open_a_websocket(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(access_rules=[ADMINS]))
    signed_in(client, okta, groups=["staff"])
    cookie = _cookie_of(client)
    refused = client._portal.call(_websocket, client.mw, "/admin/ws", cookie)
    assert refused == [{"type": "websocket.close", "code": 1008}]
    tricked = client._portal.call(_websocket, client.mw, "/public/../admin/ws", cookie)
    assert tricked == refused
    opened = client._portal.call(_websocket, client.mw, "/ws", cookie)
    assert opened[0]["type"] == "websocket.accept"
    public = client._portal.call(_websocket, client.mw, "/public/ws", cookie)
    assert public[0]["type"] == "websocket.accept"  # public: never subject to rules
    admin = client.other_browser()
    signed_in(admin, okta, groups=["admins"], sub="00u-root")
    accepted = client._portal.call(_websocket, client.mw, "/admin/ws", _cookie_of(admin))
    assert accepted[0]["type"] == "websocket.accept"


def test_denials_are_logged_without_secrets(
    make_client: Any, okta: FakeOkta, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(make_settings(access_rules=[ADMINS]))
    cookie = signed_in(client, okta, groups=["staff"])
    with caplog.at_level(logging.DEBUG, logger="okta_magiclink_mw"):
        client.get("/admin?token=s3cret", headers=API)
    text = "\n".join(
        f"{r.getMessage()} {json.dumps(r.__dict__, default=str)}" for r in caplog.records
    )
    assert "access.denied" in text
    assert cookie not in text
    assert "s3cret" not in text
    assert okta.id_tokens[-1] not in text


# -- with the in-process FakeOkta (okta_magiclink_mw.testing) ------------------------------------


def test_groups_from_fakeokta_change_at_the_next_recheck(
    adapter: str, portal: Any, clock: FakeClock
) -> None:
    """The real emulator end to end: its groups claim at sign-in, and the user's groups of
    the moment in the ID token of the refresh that re-checks the session."""
    import httpx

    from okta_magiclink_mw import OktaMagicLinkWSGI
    from okta_magiclink_mw.stores.memory import MemoryRecordStore
    from okta_magiclink_mw.testing import FakeOkta as Emulator
    from tests.conftest import asgi_echo_app, start_login, wsgi_echo_app

    fake = Emulator(base_url="https://org.example", clock=clock)
    user = fake.add_user("ada@example.com", "Ada Lovelace", groups=["staff"])
    client_id = fake.add_client(redirect_uris=[f"{APP_ORIGIN}/login/callback"]).client_id
    settings = make_settings(
        issuer=fake.issuer,
        client_id=client_id,
        scopes=("openid", "profile", "email", "offline_access"),
        session_store=MemoryRecordStore(clock=clock),
        revalidate_every=60,
        access_rules=[ADMINS],
    )
    if adapter == "asgi":
        http: Any = httpx.AsyncClient(transport=fake.async_transport())
        mw: Any = OktaMagicLink(asgi_echo_app(), settings, http_client=http, clock=clock)
        browser = Browser("asgi", mw, APP_ORIGIN, portal=portal)
    else:
        http = httpx.Client(transport=fake.sync_transport())
        mw = OktaMagicLinkWSGI(wsgi_echo_app, settings, http_client=http, clock=clock)
        browser = Browser("wsgi", mw, APP_ORIGIN, wsgi_app=mw)
    try:
        config = start_login(browser, "/admin")
        code = fake.issue_interaction_code(
            client_id,
            user,
            config["codeChallenge"],
            state=config["state"],
            nonce=config["nonce"],
            scopes=config["scopes"],
        )
        r = browser.get(f"/login/callback?interaction_code={code}&state={config['state']}")
        assert r.status_code == 302, r.text
        assert_forbidden_json(browser.get("/admin", headers=API))
        fake.set_groups("ada@example.com", ["staff", "admins"])
        clock.advance(61)
        assert seen(browser.get("/admin", headers=API))["path"] == "/admin"
        fake.set_groups("ada@example.com", [])
        clock.advance(61)
        assert_forbidden_json(browser.get("/admin", headers=API))
    finally:
        browser.close()
        if adapter == "asgi":
            portal.call(http.aclose)
        else:
            http.close()
