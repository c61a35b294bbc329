"""``/auth`` (nginx auth_request) and ``/auth/forward`` (Traefik, Caddy): who passes,
what the proxy is told, and what a person turned away is sent to."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from okta_magiclink_mw.user import OktaUser
from tests.conftest import (
    APP_ORIGIN,
    NAV,
    Browser,
    FakeClock,
    FakeOkta,
    assert_security_headers,
    set_cookies,
    sign_in,
)

from .conftest import API, MakeServer, auth, forward, sign_in_through_forward

SESSION = "__Host-omw_session"
TRANSACTION = "__Host-omw_signin"


def signed_in(server: Browser, okta: FakeOkta, **claims: Any) -> Browser:
    done = sign_in(server, okta, **claims)
    assert done.status_code == 302, done.text
    return server


# -- /auth: nginx ---------------------------------------------------------------------------


def test_auth_signed_in_is_202_with_the_identity(server: Browser, okta: FakeOkta) -> None:
    signed_in(server, okta, groups=["admins", "Finance Team"])
    r = auth(server, "/reports?year=2026")
    assert r.status_code == 202
    assert r.headers["x-auth-request-user"] == "ada@example.com"
    assert r.headers["x-auth-request-email"] == "ada@example.com"
    assert r.headers["x-auth-request-groups"] == "Finance Team,admins"
    assert r.headers["cache-control"] == "no-store"
    assert "Cookie" in r.headers.get_list("vary")
    assert r.content == b""
    assert "set-cookie" not in r.headers  # nothing changed: nothing to renew


def test_auth_not_signed_in_is_401_json_and_starts_nothing(server: Browser) -> None:
    for headers in (NAV, API):
        r = auth(server, "/reports", **headers)
        assert r.status_code == 401
        assert r.json() == {"error": "unauthenticated", "login_url": "/login"}
        assert "location" not in r.headers
        assert "set-cookie" not in r.headers  # nginx drops it: no sign-in starts here
        assert_security_headers(r)


def test_auth_an_unverified_email_is_not_an_identity(server: Browser, okta: FakeOkta) -> None:
    signed_in(server, okta, email="mallory@example.com", email_verified=False)
    r = auth(server, "/")
    assert r.status_code == 202
    assert r.headers["x-auth-request-user"] == "00u-ada"  # the Okta id, not the email
    assert r.headers["x-auth-request-email"] == ""
    assert r.headers["x-auth-request-groups"] == ""


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (["ok", "bad\r\nSet-Cookie: owned=1"], "ok"),
        (["a,b", "c"], "c"),  # a comma would split one group into two
        (["caf\u00e9", "tab\there", " padded", "x\x00y", "fine"], "fine"),
        (["Finance Team"], "Finance Team"),
        ("admins", ""),  # not a list: no groups at all
        ([1, None, {"x": 1}, "real"], "real"),
    ],
)
def test_auth_header_values_are_safe(
    server: Browser, okta: FakeOkta, groups: Any, expected: str
) -> None:
    signed_in(server, okta, groups=groups)
    r = auth(server, "/")
    assert r.status_code == 202
    assert r.headers["x-auth-request-groups"] == expected
    raw = b"\n".join(v for k, v in r.headers.raw)
    assert b"\r" not in raw
    assert b"owned" not in raw


def test_auth_an_unsafe_email_is_left_out(server: Browser, okta: FakeOkta) -> None:
    signed_in(server, okta, email="ada@example.com\r\nX-Admin: yes")
    r = auth(server, "/")
    assert r.status_code == 202
    assert r.headers["x-auth-request-email"] == ""
    assert r.headers["x-auth-request-user"] == "00u-ada"
    assert "x-admin" not in r.headers


def test_auth_session_renewal_reaches_the_browser(
    server: Browser, okta: FakeOkta, clock: FakeClock
) -> None:
    """nginx passes it on with auth_request_set $cookie $upstream_http_set_cookie: the
    202 must carry exactly one Set-Cookie, the renewed session."""
    signed_in(server, okta)
    clock.advance(301)  # past the renewal interval (idle_timeout / 12, at most 300 s)
    r = auth(server, "/reports")
    assert r.status_code == 202
    assert len(r.headers.get_list("set-cookie")) == 1
    assert SESSION in set_cookies(r)
    assert r.headers["cache-control"] == "no-store"
    clock.advance(3000)  # idle for 50 more minutes: alive only thanks to the renewal
    assert auth(server, "/reports").status_code == 202


def test_auth_needs_the_original_uri(server: Browser, okta: FakeOkta) -> None:
    signed_in(server, okta)
    r = auth(server, None)
    assert r.status_code == 400  # never "allowed": nginx turns it into a 500
    assert "X-Original-URI" in r.text
    assert "x-auth-request-user" not in r.headers


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "reports",
        "*",
        "https://app.example/reports",
        "/a b",
        "/a\tb",
        "/a\x00b",
        "/a%00b",
        "/a%0d%0ab",
        "/a%7f",
        "/x#fragment",
        "/" + "a" * 8192,
    ],
)
def test_auth_refuses_what_is_not_a_request_target(
    server: Browser, okta: FakeOkta, uri: str
) -> None:
    signed_in(server, okta)
    r = server.get("/auth", headers={"x-original-uri": uri.encode("latin-1").decode("latin-1")})
    assert r.status_code == 400
    assert "x-auth-request-user" not in r.headers


def test_auth_two_original_uris_that_disagree_are_refused(server: Browser, okta: FakeOkta) -> None:
    """Traefik passes the client's headers along: a client's X-Original-URI next to the
    proxy's X-Forwarded-Uri is a forgery, not a choice."""
    signed_in(server, okta)
    r = auth(server, "/public", x_forwarded_uri="/admin")
    assert r.status_code == 400
    assert auth(server, "/admin", x_forwarded_uri="/admin").status_code == 202
    r = server.get("/auth", headers=[("x-original-uri", "/a"), ("x-original-uri", "/b")])
    assert r.status_code == 400


def test_auth_falls_back_to_x_forwarded_uri(server: Browser, okta: FakeOkta) -> None:
    signed_in(server, okta)
    r = server.get("/auth", headers={"x-forwarded-uri": "/reports"})
    assert r.status_code == 202


def test_auth_any_method(server: Browser, okta: FakeOkta) -> None:
    signed_in(server, okta)
    for method in ("GET", "HEAD", "POST", "PUT"):
        r = server.request(method, "/auth", headers={"x-original-uri": "/x"})
        assert r.status_code == 202, method


# -- the policy (access_rules, allowed_*), on the original request's path ----------------------

ADMIN_RULE = json.dumps([{"path": "/admin", "groups": ["admins"]}])


@pytest.fixture
def ruled(make_server: MakeServer, monkeypatch: pytest.MonkeyPatch) -> Browser:
    """A server where /admin is for admins; the paths its policy is asked about are
    recorded in ``ruled.asked``."""
    server = make_server(OKTA_MW_ACCESS_RULES=ADMIN_RULE)
    asked: list[str] = []
    authorize = server.core.authorize

    def recording(user: OktaUser, path: str) -> Any:
        asked.append(path)
        return authorize(user, path)

    monkeypatch.setattr(server.core, "authorize", recording)
    server.asked = asked  # type: ignore[attr-defined]
    return server


def test_auth_denied_is_403(ruled: Browser, okta: FakeOkta) -> None:
    signed_in(ruled, okta, groups=["staff"])
    assert auth(ruled, "/reports").status_code == 202
    r = auth(ruled, "/admin/users?page=2")
    assert r.status_code == 403
    assert "x-auth-request-user" not in r.headers
    assert ruled.asked[-1] == "/admin/users"  # type: ignore[attr-defined]


def test_auth_allowed_by_group(ruled: Browser, okta: FakeOkta) -> None:
    signed_in(ruled, okta, groups=["admins", "staff"])
    r = auth(ruled, "/admin/users")
    assert r.status_code == 202
    assert r.headers["x-auth-request-groups"] == "admins,staff"


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("/admin%2Fusers", "/admin/users"),  # decoded once, as ASGI servers decode
        ("/%61dmin", "/admin"),
        ("/caf%C3%A9", "/caf\u00e9"),
        ("/a%252Fb", "/a%2Fb"),  # once, not twice
        ("/public/../admin", "/public/../admin"),  # the policy resolves dot segments
        ("//admin", "//admin"),  # and repeated slashes
        ("/bad%FFutf8", "/bad\ufffdutf8"),
    ],
)
def test_auth_policy_sees_the_decoded_path(
    ruled: Browser, okta: FakeOkta, uri: str, path: str
) -> None:
    signed_in(ruled, okta, groups=["staff"])
    r = auth(ruled, uri)
    assert ruled.asked[-1] == path  # type: ignore[attr-defined]
    assert r.status_code == (403 if "admin" in path else 202)


@pytest.mark.parametrize(
    "uri",
    [
        "/admin",
        "/admin/",
        "/admin?x=1",
        "/public/../admin",
        "/public/%2e%2e/admin",
        "//admin",
        "/./admin",
        "/admin%2F",
        "/%2561dmin",  # "%61dmin" after one decode: not /admin, and not allowed by accident
    ],
)
def test_auth_path_tricks_meet_the_rule(ruled: Browser, okta: FakeOkta, uri: str) -> None:
    signed_in(ruled, okta, groups=["staff"])
    expected = 202 if uri == "/%2561dmin" else 403
    assert auth(ruled, uri).status_code == expected, uri


def test_the_policy_is_the_original_paths_not_the_endpoints(
    make_server: MakeServer, okta: FakeOkta
) -> None:
    """allowed_groups covers every path, /auth included: the middleware in front of the
    server must not refuse the check itself, or a carve-out could never pass."""
    rules = json.dumps([{"path": "/public"}])  # any signed-in person
    server = make_server(OKTA_MW_ALLOWED_GROUPS="admins", OKTA_MW_ACCESS_RULES=rules)
    signed_in(server, okta, groups=["staff"])
    assert auth(server, "/public/page").status_code == 202
    assert auth(server, "/reports").status_code == 403
    assert forward(server, "/public/page").status_code == 200
    assert server.get("/ping").status_code == 200
    assert server.get("/metrics").status_code == 200


def test_forward_denied_is_the_403_page(ruled: Browser, okta: FakeOkta) -> None:
    signed_in(ruled, okta, groups=["staff"])
    r = forward(ruled, "/admin")
    assert r.status_code == 403
    assert "location" not in r.headers
    assert "You are signed in as" in r.text
    assert "ada@example.com" in r.text
    assert_security_headers(r)
    api = forward(ruled, "/admin", kind=API)
    assert api.status_code == 403
    assert api.json()["error"] == "forbidden"
    assert forward(ruled, "/reports").status_code == 200


def test_forbidden_is_counted(ruled: Browser, okta: FakeOkta) -> None:
    signed_in(ruled, okta, groups=["staff"])
    auth(ruled, "/admin")
    text = ruled.get("/metrics").text
    assert 'okta_magiclink_auth_checks_total{result="forbidden"} 1.0' in text


def test_app_public_paths_pass_without_a_session(make_server: MakeServer, okta: FakeOkta) -> None:
    server = make_server(OKTA_MW_PUBLIC_PATHS="/health,/static/")
    for uri in ("/health", "/static/app.css", "/static/img/logo.png?v=2"):
        r = auth(server, uri)
        assert r.status_code == 202, uri
        assert r.headers.get("x-auth-request-user") is None
    for uri in ("/healthz", "/static", "/static/../admin", "/static//x", "/static/%2e%2e/admin"):
        assert auth(server, uri).status_code == 401, uri
    # The server's own endpoints are not the protected app's public paths.
    assert auth(server, "/ping").status_code == 401


# -- /auth/forward: Traefik, Caddy, nginx's error_page ------------------------------------------


def test_forward_sign_in_returns_to_the_original_page(server: Browser, okta: FakeOkta) -> None:
    done = sign_in_through_forward(server, okta, "/reports?id=5&x=%2F")
    assert done.status_code == 302
    assert done.headers["location"] == "/reports?id=5&x=%2F"
    assert SESSION in set_cookies(done)
    r = forward(server, "/reports?id=5")
    assert r.status_code == 200
    assert r.headers["x-auth-request-email"] == "ada@example.com"
    assert r.headers["cache-control"] == "no-store"


def test_forward_turn_away_is_absolute_on_the_site(server: Browser) -> None:
    r = forward(server, "/reports")
    assert r.status_code == 302
    # Traefik resolves a relative Location against the auth server's own address.
    assert r.headers["location"].startswith("https://app.example/login?state=")
    assert TRANSACTION in set_cookies(r)
    assert_security_headers(r)


def test_forward_api_calls_get_401(server: Browser) -> None:
    for kind in (API, {"accept": "application/json"}, {"x-requested-with": "XMLHttpRequest"}):
        r = forward(server, "/api/items", kind=kind)
        assert r.status_code == 401
        assert r.json()["error"] == "unauthenticated"
        assert "location" not in r.headers


def test_forward_a_form_post_returns_to_its_page(server: Browser) -> None:
    r = forward(
        server,
        "/orders",
        kind={"accept": "text/html", "referer": f"{APP_ORIGIN}/orders/new?draft=1"},
        x_forwarded_method="POST",
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith("https://app.example/login?state=")
    assert _return_to(server, r) == "/orders/new?draft=1"


def test_forward_needs_the_uri(server: Browser) -> None:
    r = forward(server, None)
    assert r.status_code == 400
    assert "location" not in r.headers


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "app.example.evil.example",
        "app.example, evil.example",
        "user@app.example",
        "app.example/x",
        "[::1",
        "",
    ],
)
def test_forward_never_redirects_to_another_host(server: Browser, host: str) -> None:
    r = forward(server, "/reports", host=host)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "set-cookie" not in r.headers


def test_forward_host_names_and_ports(make_server: MakeServer) -> None:
    server = make_server(OKTA_MW_ALLOWED_HOSTS="app.example:8443, APP.example:9443")
    cases = {
        "app.example": "https://app.example/login?",
        "APP.Example:443": "https://app.example/login?",
        "app.example:8443": "https://app.example:8443/login?",
        "app.example:9443": "https://app.example:9443/login?",
    }
    for host, start in cases.items():
        r = forward(server, "/reports", host=host)
        assert r.status_code == 302, host
        assert r.headers["location"].startswith(start), host
    assert forward(server, "/reports", host="app.example:8080").status_code == 400
    # No X-Forwarded-Host at all: the site of OKTA_REDIRECT_URI.
    r = forward(server, "/reports", host=None)
    assert r.headers["location"].startswith("https://app.example/login?")


def test_forward_never_downgrades_to_http(server: Browser) -> None:
    r = forward(server, "/reports", proto="http")
    assert r.headers["location"].startswith("https://app.example/")


def test_forward_http_site_when_cookies_are_not_secure(make_server: MakeServer) -> None:
    server = make_server(OKTA_REDIRECT_URI="http://localhost:8080/login/callback")
    r = forward(server, "/reports", host="localhost:8080", proto="http")
    assert r.headers["location"].startswith("http://localhost:8080/login?state=")
    r = forward(server, "/reports", host="localhost:8080", proto="gopher")
    assert r.headers["location"].startswith("http://localhost:8080/login?state=")


# -- return targets: X-Forwarded-Uri and rd ------------------------------------------------------


def _return_to(browser: Browser, response: httpx.Response) -> str:
    """The return target of the sign-in the response started (from its cookie)."""
    value = set_cookies(response)[TRANSACTION]["value"]
    core = browser.core
    held = core.transactions.load([value], core.clock())
    state = response.headers["location"].split("state=", 1)[1]
    return held[state].return_to


@pytest.mark.parametrize(
    ("rd", "expected"),
    [
        ("/orders?id=7", "/orders?id=7"),
        ("https://app.example/orders?id=7", "/orders?id=7"),
        ("https://APP.example:443/orders", "/orders"),
        ("https://app.example", "/"),
        ("https://app.example?x=1", "/?x=1"),
        # another host, scheme or a way to make parsers disagree: "/"
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https:/evil.example", "/"),
        ("https:evil.example", "/"),
        ("http://app.example/orders", "/"),  # not the site's scheme
        ("https://app.example@evil.example/", "/"),
        ("https://evil.example\\@app.example/", "/"),
        ("https://evil.example#@app.example/", "/"),
        ("https://app.example.evil.example/", "/"),
        ("https://app.example//evil.example", "/"),
        ("https://app.example/\\evil.example", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("/%09/evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("https://app.exa\tmple/x", "/"),
        ("/x\r\nSet-Cookie: owned=1", "/"),
        ("/x%0d%0aSet-Cookie:%20owned=1", "/"),
        ("javascript:alert(1)", "/"),
        ("data:text/html,x", "/"),
        ("/login", "/"),  # the middleware's own page: a sign-in would loop
        ("/login/callback?x=1", "/"),
        ("/" + "a" * 600, "/"),
        ("https://app.example/\u30fcevil", "/"),
        ("https://app\u3002example/", "/"),
    ],
)
def test_forward_rd(server: Browser, rd: str, expected: str) -> None:
    from urllib.parse import quote

    r = forward(server, "/reports", query=f"?rd={quote(rd, safe='')}")
    assert r.status_code == 302
    assert r.headers["location"].startswith("https://app.example/login?state=")
    assert _return_to(server, r) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/reports?id=5", "/reports?id=5"),
        ("/my%20file", "/my%20file"),
        ("/a/./b", "/"),
        ("/a/../b", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("/%2e%2e/x", "/"),
        ("/login?x=1", "/"),
        ("/LOGIN", "/"),
        ("/" + "a" * 600, "/"),
        ("/x?next=//evil.example", "/x?next=//evil.example"),  # "//" in a query is harmless
    ],
)
def test_forward_uri_as_return_target(server: Browser, uri: str, expected: str) -> None:
    r = forward(server, uri)
    assert r.status_code == 302
    assert _return_to(server, r) == expected


def test_forward_a_malformed_rd_query_is_ignored(server: Browser) -> None:
    r = forward(server, "/reports", query="?rd=/a&rd=/b")
    assert r.status_code == 302
    assert _return_to(server, r) == "/reports"


# -- the metrics of the checks ---------------------------------------------------------------


def test_checks_are_counted(server: Browser, okta: FakeOkta) -> None:
    auth(server, "/x")  # unauthenticated
    auth(server, None)  # bad_request
    signed_in(server, okta)
    auth(server, "/x")  # allowed
    text = server.get("/metrics").text
    for result, count in (("allowed", 1), ("unauthenticated", 1), ("bad_request", 1)):
        assert f'okta_magiclink_auth_checks_total{{result="{result}"}} {count}.0' in text
    assert 'okta_magiclink_auth_checks_total{result="forbidden"} 0.0' in text


def test_server_paths_need_no_session_but_others_do(server: Browser) -> None:
    assert server.get("/ping").status_code == 200
    r = server.get("/something-else", headers=NAV)
    assert r.status_code == 302  # the middleware turns it away like any protected path
    assert r.headers["location"].startswith("/login?state=")
    body = json.loads(server.get("/something-else", headers=API).text)
    assert body["error"] == "unauthenticated"


# -- sessions in a store, and sign-out ------------------------------------------------------------


@pytest.mark.parametrize("store", ["cookie", "memory"])
def test_sign_out_ends_the_checks(
    make_server: MakeServer, okta: FakeOkta, clock: FakeClock, store: str
) -> None:
    from okta_magiclink_mw.stores import MemoryRecordStore

    shared = MemoryRecordStore(clock=clock) if store == "memory" else None
    server = make_server(session_store=shared)
    done = sign_in_through_forward(server, okta)
    assert done.status_code == 302
    cookie = set_cookies(done)[SESSION]["value"]
    assert auth(server, "/reports").status_code == 202
    if shared is not None:  # a second instance of the server, sharing the store
        other = make_server(session_store=shared)
        other.cookies.set(SESSION, cookie, domain="app.example")
        assert auth(other, "/reports").status_code == 202
    out = server.post("/logout", headers={"origin": APP_ORIGIN, **NAV})
    assert out.status_code == 303
    server.cookies.set(SESSION, cookie, domain="app.example")  # the old cookie, replayed
    assert auth(server, "/reports").status_code == 401
    if shared is not None:
        assert auth(other, "/reports").status_code == 401


def test_an_identity_no_header_can_carry_is_refused(server: Browser, okta: FakeOkta) -> None:
    signed_in(server, okta, sub="00u\r\nX-Admin: yes", email_verified=False)
    r = auth(server, "/reports")
    assert r.status_code == 403
    assert "x-auth-request-user" not in r.headers
    assert "x-admin" not in r.headers


def test_unknown_server_paths(server: Browser, okta: FakeOkta) -> None:
    signed_in(server, okta)
    r = server.get("/something-else")
    assert r.status_code == 404


def test_split_cookie_lines_are_joined(server: Browser, okta: FakeOkta) -> None:
    """HTTP/2 may send Cookie as several lines; the transaction cookie of a turn-away is
    read from all of them (here: a second sign-in keeps the first one's transaction)."""
    first = forward(server, "/one")
    value = set_cookies(first)[TRANSACTION]["value"]
    server.cookies.clear()
    second = server.get(
        "/auth/forward",
        headers=[
            ("x-forwarded-uri", "/two"),
            ("x-forwarded-host", "app.example"),
            ("accept", "text/html"),
            ("cookie", "unrelated=1"),
            ("cookie", f"{TRANSACTION}={value}"),
        ],
    )
    held = server.core.transactions.load(
        [set_cookies(second)[TRANSACTION]["value"]], server.core.clock()
    )
    assert sorted(t.return_to for t in held.values()) == ["/one", "/two"]


def test_plain_answers_carry_the_security_headers(server: Browser) -> None:
    for r in (forward(server, "/x", host="evil.example"), server.get("/ping")):
        assert_security_headers(r)
        assert r.headers["x-content-type-options"] == "nosniff"
