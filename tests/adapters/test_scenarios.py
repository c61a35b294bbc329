"""One scenario suite, run through both adapters (the ``client`` fixture is parametrised
over ASGI and WSGI). Numbers in test names and docstrings refer to the issue's numbered
behaviours and to the attack catalogue of security.md (#1-#107)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from okta_magiclink_mw import Settings
from tests.conftest import (
    APP_ORIGIN,
    CLIENT_ID,
    END_SESSION_URL,
    ISSUER,
    NAV,
    REDIRECT_URI,
    SECRET_NEW,
    SECRET_OLD,
    SPOOF_HEADERS,
    Browser,
    FakeClock,
    FakeOkta,
    assert_security_headers,
    callback_url,
    make_settings,
    no_outbound,
    query_of,
    s256,
    set_cookies,
    sign_in,
    start_login,
    widget_config,
)

#: Each scenario runs with sessions in the cookie, in a shared in-process store, and in Redis.
ALL_SESSION_MODES = True
SESSION = "__Host-omw_session"
TXN = "__Host-omw_signin"


def held_transactions(client: Browser) -> dict[str, Any]:
    values = [c.value for c in client.cookies.jar if c.name == TXN]
    return client.core.transactions.load(values, client.core.clock())


def session_value(client: Browser) -> str:
    values = [c.value for c in client.cookies.jar if c.name == SESSION]
    assert len(values) == 1
    return values[0]


def signed_in(client: Browser, okta: FakeOkta, **claims: Any) -> str:
    r = sign_in(client, okta, **claims)
    assert r.status_code == 302, r.text
    return session_value(client)


def app_view(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


# -- 1. protection by default (R27, R28, B9) ---------------------------------------------------


def test_1_navigation_starts_login_and_remembers_target(client: Browser, okta: FakeOkta) -> None:
    with no_outbound(okta):
        r = client.get("/reports?id=5", headers=NAV)
    assert r.status_code == 302
    assert_security_headers(r)
    location = r.headers["location"]
    assert location.startswith("/login?state=")
    state = query_of(location)["state"]
    cookie = set_cookies(r)[TXN]
    assert cookie["samesite"] == "Lax"  # R17: not Strict
    assert "secure" in cookie
    assert "httponly" in cookie
    assert cookie["path"] == "/"
    assert "domain" not in cookie
    held = held_transactions(client)
    assert list(held) == [state]
    assert held[state].return_to == "/reports?id=5"


def test_1_head_is_a_navigation_too(client: Browser) -> None:
    r = client.request("HEAD", "/reports", headers=NAV)
    assert r.status_code == 302
    assert r.headers["location"].startswith("/login?state=")


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", {"accept": "application/json"}),  # #97: would drop the body
        ("POST", {"accept": "text/html", "sec-fetch-mode": "cors"}),  # fetch() asking for HTML
        ("POST", {"accept": "text/html", "x-requested-with": "XMLHttpRequest"}),
        ("PUT", {}),
        ("GET", {"accept": "application/json"}),
        ("GET", {"x-requested-with": "XMLHttpRequest"}),
        ("GET", {"sec-fetch-mode": "cors", "accept": "*/*"}),
        ("OPTIONS", {}),  # #98
        ("DELETE", {}),
    ],
)
def test_1_non_navigation_gets_401_json(
    client: Browser, okta: FakeOkta, method: str, headers: dict[str, str]
) -> None:
    with no_outbound(okta):
        r = client.request(method, "/app/form", headers=headers)
    assert r.status_code == 401
    assert "location" not in r.headers
    assert "set-cookie" not in r.headers
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "unauthenticated", "login_url": "/login"}
    assert_security_headers(r)


def test_1_public_paths_reach_the_app_anonymously(client: Browser) -> None:
    for path in ("/health", "/public/css/site.css"):
        data = app_view(client.get(path, headers=NAV))
        assert data["authenticated"] is False
        assert data["path"] == path


@pytest.mark.parametrize(
    "path",
    [
        "/admin?x=/public/",  # 92: the query never matters
        "/admin?x=/health",
        "/public/%2E%2E/admin",  # 93
        "/public%2F..%2Fadmin",
        "/health/",
        "/healthz",
        "/public",
    ],
)
def test_b9_92_93_protected_despite_public_lookalikes(client: Browser, path: str) -> None:
    r = client.get(path, headers=NAV)
    assert r.status_code == 302
    assert r.headers["location"].startswith("/login?state=")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-uri": "/public/x"},  # 94
        {"x-original-url": "/health"},
        {"x-rewrite-url": "/health"},
        {"user-agent": "kube-probe/1.0"},  # 95
    ],
)
def test_b9_94_95_headers_do_not_skip_auth(client: Browser, headers: dict[str, str]) -> None:
    r = client.get("/admin", headers={**NAV, **headers})
    assert r.status_code == 302


def test_b9_96_identity_headers_are_stripped(client: Browser, okta: FakeOkta) -> None:
    signed_in(client, okta)
    data = app_view(client.get("/whoami", headers={**NAV, **SPOOF_HEADERS}))
    assert data["identity_headers"] == {}
    assert data["authenticated"] is True
    assert data["sub"] == "00u-ada"
    if client.kind == "wsgi":
        assert data["remote_user"] == "ada@example.com"
    else:
        assert data["auth_scopes"] == ["authenticated"]


def test_b9_96_identity_headers_stripped_on_public_paths(client: Browser) -> None:
    data = app_view(client.get("/health", headers=SPOOF_HEADERS))
    assert data["identity_headers"] == {}
    assert data["remote_user"] is None
    assert data["authenticated"] is False


def test_b4_50_host_header_does_not_shape_the_target(client: Browser, okta: FakeOkta) -> None:
    r = client.get("/reports", headers={**NAV, "host": "evil.example"})
    assert r.status_code == 302
    state = query_of(r.headers["location"])["state"]
    assert held_transactions(client)[state].return_to == "/reports"


@pytest.mark.parametrize(
    "path",
    [
        "/%2F%2Fevil.example",  # the decoded path would be //evil.example
        "/%5Cevil.example",
        "/a?" + "x" * 10_000,  # 52
    ],
)
def test_b4_doubtful_targets_become_root(client: Browser, okta: FakeOkta, path: str) -> None:
    r = sign_in(client, okta, path)
    assert r.status_code == 302
    assert r.headers["location"] == "/"


def test_b4_49_legit_target_is_honoured(client: Browser, okta: FakeOkta) -> None:
    r = sign_in(client, okta, "/reports/q3?id=5&sort=desc")
    assert r.headers["location"] == "/reports/q3?id=5&sort=desc"


def test_b4_non_ascii_target_is_percent_encoded(client: Browser, okta: FakeOkta) -> None:
    r = sign_in(client, okta, "/caf%C3%A9?x=1")
    assert r.headers["location"] == "/caf%C3%A9?x=1"


# -- 2. the login page --------------------------------------------------------------------------


def test_2_login_page_configures_the_widget(client: Browser, okta: FakeOkta) -> None:
    with no_outbound(okta):
        r = client.get("/reports", headers=NAV)
        page = client.get(r.headers["location"], headers=NAV)
    assert page.status_code == 200
    assert_security_headers(page)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    config = widget_config(page.text)
    assert config["issuer"] == ISSUER
    assert config["clientId"] == CLIENT_ID
    assert config["redirectUri"] == REDIRECT_URI
    assert config["scopes"] == ["openid", "profile", "email"]
    assert config["codeChallengeMethod"] == "S256"
    assert "otp" not in config
    assert ".showSignInAndRedirect()" in page.text
    assert len(config["state"]) >= 22  # >= 128 bits of base64url
    assert config["nonce"]
    txn = held_transactions(client)[config["state"]]
    assert len(txn.code_verifier) >= 43
    assert s256(txn.code_verifier) == config["codeChallenge"]
    assert txn.nonce == config["nonce"]
    assert txn.code_verifier not in page.text  # R2
    # The script nonce of the CSP is the one on the page's scripts.
    csp = page.headers["content-security-policy"]
    script_nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{script_nonce}"' in page.text
    assert "https://org.example" in csp


def test_2_client_secret_never_reaches_the_browser(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(client_secret="very-secret-client-secret"))
    r = client.get("/reports", headers=NAV)
    page = client.get(r.headers["location"])
    assert "very-secret-client-secret" not in page.text
    assert "very-secret-client-secret" not in str(page.headers)


def test_2_login_page_reuses_the_held_transaction(client: Browser, okta: FakeOkta) -> None:
    first = start_login(client)
    again = client.get(f"/login?state={first['state']}", headers=NAV)
    second = widget_config(again.text)
    assert second == first
    assert "set-cookie" not in again.headers


def test_2_login_without_state_starts_a_transaction(client: Browser) -> None:
    r = client.get("/login", headers=NAV)
    assert r.status_code == 302
    assert_security_headers(r)
    state = query_of(r.headers["location"])["state"]
    assert set(held_transactions(client)) == {state}
    assert held_transactions(client)[state].return_to == "/"
    page = client.get(r.headers["location"])
    assert widget_config(page.text)["state"] == state


def test_2_login_with_unknown_state_starts_afresh(client: Browser) -> None:
    r = client.get("/login?state=" + "A" * 43, headers=NAV)
    assert r.status_code == 302
    assert query_of(r.headers["location"])["state"] != "A" * 43


def test_2_login_page_passes_a_valid_otp(client: Browser) -> None:
    config = start_login(client)
    page = client.get(f"/login?state={config['state']}&otp=123456")
    assert widget_config(page.text)["otp"] == "123456"


@pytest.mark.parametrize(
    "query", ["otp=123456", "state=S%0D%0A&otp=123456", "state={state}&otp=12", "state=a"]
)
def test_2_login_page_rejects_malformed_input(client: Browser, query: str) -> None:
    config = start_login(client)
    r = client.get("/login?" + query.format(state=config["state"]))
    assert r.status_code == 400
    assert_security_headers(r)
    assert "Sign in again" in r.text


def test_2_signed_in_visitor_of_login_goes_home(client: Browser, okta: FakeOkta) -> None:
    signed_in(client, okta)
    r = client.get("/login", headers=NAV)
    assert r.status_code == 302
    assert r.headers["location"] == "/"


def test_2_custom_login_page_template(make_client: Any) -> None:
    template = "<html><script nonce='$script_nonce'>go($widget_config)</script>$nothing</html>"
    client = make_client(make_settings(login_page=template))
    r = client.get("/login", headers=NAV)
    page = client.get(r.headers["location"])
    assert page.text.startswith("<html><script nonce='")
    config = json.loads(page.text.split("go(")[1].split(")</script>")[0])
    assert config["codeChallengeMethod"] == "S256"
    assert "$nothing" in page.text  # safe_substitute leaves unknown names alone


def test_2_custom_login_page_callable(make_client: Any) -> None:
    seen: list[Any] = []

    def page(widget: Any) -> str:
        seen.append(widget)
        return f"<p>custom {widget.config['clientId']}</p><script>go({widget.config_json})"

    client = make_client(make_settings(login_page=page))
    r = client.get("/login", headers=NAV)
    body = client.get(r.headers["location"])
    assert body.text == f"<p>custom {CLIENT_ID}</p><script>go({seen[0].config_json})"
    assert seen[0].config["state"] == query_of(r.headers["location"])["state"]
    assert seen[0].script_nonce in body.headers["content-security-policy"]


# -- 3. the magic link (R15, R16, B1) ---------------------------------------------------------


def test_b1_1_magic_link_in_another_browser(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client)
    other = client.other_browser()
    with no_outbound(okta):
        r = other.get(f"/login/callback?state={config['state']}&otp=123456", headers=NAV)
    assert r.status_code == 200
    assert_security_headers(r)
    assert "Enter this code" in r.text or "enter this code" in r.text
    assert '<div class=code id=otp aria-label="Verification code">123456</div>' in r.text
    assert "set-cookie" not in r.headers
    assert not other.cookies


def test_b1_1_alphanumeric_otp_is_escaped_text(client: Browser) -> None:
    r = client.get("/login/callback?state=" + "S" * 43 + "&otp=Ab3dE9xYz0")
    assert r.status_code == 200
    assert ">Ab3dE9xYz0<" in r.text


def test_b1_2_other_transaction_is_left_alone(client: Browser, okta: FakeOkta) -> None:
    mine = start_login(client)
    r = client.get("/login/callback?state=" + "Z" * 43 + "&otp=654321")
    assert r.status_code == 200
    assert "654321" in r.text
    assert "set-cookie" not in r.headers
    assert set(held_transactions(client)) == {mine["state"]}


def test_b1_3_same_browser_goes_back_to_the_widget(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client)
    with no_outbound(okta):
        r = client.get(f"/login/callback?state={config['state']}&otp=123456", headers=NAV)
    assert r.status_code == 302
    assert_security_headers(r)
    assert r.headers["location"] == f"/login?state={quote(config['state'])}&otp=123456"
    assert SESSION not in set_cookies(r)
    assert config["state"] in held_transactions(client)  # still valid until the code returns
    page = client.get(r.headers["location"])
    assert widget_config(page.text)["otp"] == "123456"


@pytest.mark.parametrize(
    "otp",
    [
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",  # 4
        "%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",  # 5
        "123456%0D%0ASet-Cookie:%20admin=1",  # 6
        "Call%20support%20on%20555-0100%20now",  # 8
        "",  # 9
        "12345",
        "12345678901",
    ],
)
def test_b1_4_to_9_hostile_otp_is_refused_and_not_echoed(
    client: Browser, okta: FakeOkta, otp: str
) -> None:
    config = start_login(client)
    with no_outbound(okta):
        r = client.get(f"/login/callback?state={config['state']}&otp={otp}")
    assert r.status_code == 400
    assert_security_headers(r)
    for fragment in ("<script>", "onerror", "admin=1", "555-0100"):
        assert fragment not in r.text
    assert "admin" not in set_cookies(r)
    assert all("\r" not in v and "\n" not in v for v in r.headers.values())
    assert "Sign in again" in r.text


@pytest.mark.parametrize(
    "query",
    [
        "state=abc%0D%0ALocation:%20https://evil.example&otp=123456",  # 7
        "otp=123456",  # 10
        "state=&otp=123456",
        "state=" + "A" * 20_000 + "&otp=123456",  # 11
        "state={state}&otp=" + "1" * 10_000,
        "state={state}&state={state}&otp=123456",  # 12
        "state={state};otp=999999",  # 13
        "state={state}&otp=123456&interaction_code=abc",  # 14
        "state={state}",  # 9: otp missing
        "state={state}&code=abc",  # 28
    ],
)
def test_b1_7_to_14_malformed_callbacks_are_400(
    client: Browser, okta: FakeOkta, query: str
) -> None:
    config = start_login(client)
    with no_outbound(okta):
        r = client.get("/login/callback?" + query.replace("{state}", config["state"]))
    assert r.status_code == 400
    assert "evil.example" not in str(r.headers)
    assert "A" * 1000 not in r.text
    assert SESSION not in set_cookies(r)
    assert config["state"] in held_transactions(client)


def test_b1_15_link_clicked_after_sign_in(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client)
    r = client.get(callback_url(config, okta.issue_code(config)))
    assert r.status_code == 302
    with no_outbound(okta):
        again = client.get(f"/login/callback?state={config['state']}&otp=123456")
    assert again.status_code == 302
    assert again.headers["location"] == "/"


def test_b1_19_two_tabs_finish_independently(client: Browser, okta: FakeOkta) -> None:
    tab_a = start_login(client, "/a")
    tab_b = start_login(client, "/b")
    assert set(held_transactions(client)) == {tab_a["state"], tab_b["state"]}
    link = client.get(f"/login/callback?state={tab_a['state']}&otp=111111")
    assert link.status_code == 302  # A's transaction is held
    r = client.get(callback_url(tab_a, okta.issue_code(tab_a)))
    assert r.headers["location"] == "/a"
    assert set(held_transactions(client)) == {tab_b["state"]}
    r = client.get(callback_url(tab_b, okta.issue_code(tab_b)))
    assert r.status_code == 302
    assert r.headers["location"] == "/b"
    assert held_transactions(client) == {}


def test_b1_20_many_tabs_evict_the_oldest(client: Browser, okta: FakeOkta) -> None:
    states = []
    for i in range(25):
        r = client.get(f"/page{i}", headers=NAV)
        states.append(query_of(r.headers["location"])["state"])
        assert len(r.headers.get("set-cookie", "")) < 4096
    held = held_transactions(client)
    assert set(held) == set(states[-5:])  # max_transactions defaults to 5
    cookie_header = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    assert len(cookie_header) < 8192
    # The oldest is gone: its magic link now looks like another browser's.
    r = client.get(f"/login/callback?state={states[0]}&otp=123456")
    assert r.status_code == 200
    r = client.get(f"/login/callback?state={states[-1]}&otp=123456")
    assert r.status_code == 302


def test_7_max_transactions_setting(make_client: Any) -> None:
    client = make_client(make_settings(max_transactions=2))
    for i in range(4):
        client.get(f"/p{i}", headers=NAV)
    assert sorted(t.return_to for t in held_transactions(client).values()) == ["/p2", "/p3"]


def test_7_transactions_expire(client: Browser, clock: FakeClock, okta: FakeOkta) -> None:
    config = start_login(client)
    clock.advance(15 * 60 + 1)
    with no_outbound(okta):
        r = client.get(f"/login/callback?state={config['state']}&otp=123456")
    assert r.status_code == 200  # no longer held: "enter the code" page


# -- 4. error callbacks (R8, B3) ---------------------------------------------------------------


def test_4_interaction_required_goes_back_to_the_widget(client: Browser) -> None:
    config = start_login(client)
    r = client.get(f"/login/callback?error=interaction_required&state={config['state']}")
    assert r.status_code == 302
    assert r.headers["location"] == f"/login?state={config['state']}"
    assert_security_headers(r)


def test_b3_31_access_denied_clears_its_transaction(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client)
    other = start_login(client, "/other")
    with no_outbound(okta):
        r = client.get(
            "/login/callback?error=access_denied&error_description=User%20cancelled"
            f"&state={config['state']}"
        )
    assert r.status_code == 403
    assert_security_headers(r)
    assert "Okta did not allow this sign-in." in r.text
    assert 'href="/login">Sign in again</a>' in r.text
    assert "Okta said: User cancelled" in r.text  # this browser's own sign-in: Okta's words
    assert SESSION not in set_cookies(r)
    assert set(held_transactions(client)) == {other["state"]}


def test_b3_31_description_is_escaped_and_only_shown_for_this_browsers_sign_in(
    client: Browser,
) -> None:
    config = start_login(client)
    text = "%3Cb%3EAsk%3C%2Fb%3E%20%0Acall%20555"
    forged = client.get(f"/login/callback?error=access_denied&error_description={text}")
    assert "Ask" not in forged.text  # anyone can write a link: no state, no text
    r = client.get(
        f"/login/callback?error=access_denied&error_description={text}&state={config['state']}"
    )
    assert "Okta said: &lt;b&gt;Ask&lt;/b&gt; call 555" in r.text
    assert "<b>Ask" not in r.text


def test_b3_32_unknown_error_is_generic(client: Browser) -> None:
    config = start_login(client)
    r = client.get(
        "/login/callback?error=%3Cscript%3Ex%3C%2Fscript%3E"
        f"&error_description=%3Cimg%20src%3Dx%20onerror%3D1%3E&state={config['state']}"
    )
    assert r.status_code == 400
    assert "<script>x" not in r.text
    assert "onerror" not in r.text
    assert "Okta could not complete the sign-in." in r.text


def test_b3_33_error_uri_is_never_a_link(client: Browser) -> None:
    r = client.get("/login/callback?error=server_error&error_uri=javascript:alert(1)")
    assert r.status_code == 502
    assert "javascript" not in r.text
    assert "Sign in again" in r.text


def test_b3_34_forged_error_does_not_cancel_a_sign_in(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client)
    for query in ("error=access_denied", "error=access_denied&state=" + "F" * 43):
        r = client.get("/login/callback?" + query)
        assert r.status_code == 403
        assert "set-cookie" not in r.headers
    assert set(held_transactions(client)) == {config["state"]}
    r = client.get(callback_url(config, okta.issue_code(config)))
    assert r.status_code == 302


def test_b3_35_error_wins_over_a_code(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client)
    with no_outbound(okta):
        r = client.get(
            f"/login/callback?error=login_required&interaction_code=y&state={config['state']}"
        )
    assert r.status_code == 400
    assert "Okta needs you to sign in again." in r.text


@pytest.mark.parametrize(
    ("error", "status"), [("temporarily_unavailable", 503), ("invalid_client", 502)]
)
def test_4_known_error_statuses(client: Browser, error: str, status: int) -> None:
    r = client.get(f"/login/callback?error={error}")
    assert r.status_code == status
    assert "Sign-in is unavailable" in r.text


# -- 5. the interaction code (R1, R6, R7, R14, B2) ----------------------------------------------


@pytest.mark.cookie_sessions
def test_b2_21_full_sign_in(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client, "/reports?id=5")
    verifier = held_transactions(client)[config["state"]].code_verifier
    code = okta.issue_code(config)
    r = client.get(callback_url(config, code), headers=NAV)
    assert r.status_code == 302
    assert r.headers["location"] == "/reports?id=5"
    assert_security_headers(r)
    assert r.headers["vary"] == "Cookie"  # 66
    assert okta.token.call_count == 1
    form = okta.token_forms[0]
    assert form == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "grant_type": "interaction_code",
        "code_verifier": verifier,
        "interaction_code": code,
    }
    request = okta.token.calls[0].request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert s256(form["code_verifier"]) == config["codeChallenge"]
    cookies = set_cookies(r)
    session = cookies[SESSION]
    assert session["value"]
    for attr in ("secure", "httponly"):
        assert attr in session
    assert session["samesite"] == "Lax"
    assert session["path"] == "/"
    assert "domain" not in session
    assert len("Set-Cookie: " + session["_raw"]) <= 4096
    assert cookies[TXN]["max-age"] == "0"  # the only transaction is consumed
    assert held_transactions(client) == {}
    data = app_view(client.get("/reports?id=5", headers=NAV))
    assert data["authenticated"] is True
    assert data["name"] == "Ada Lovelace"
    # The session holds the claims and the id_token, never the access or refresh token,
    # and the id_token only sealed: the browser cannot read it (security issue, item 8).
    raw = session_value(client)
    payload = client.core.sessions._codec.loads(raw, max_age=60)
    assert payload is not None
    text = json.dumps(payload[0])
    assert "at-" not in text
    assert "rt-" not in text
    id_token = okta.id_tokens[0]
    for part in id_token.split("."):
        assert part not in raw
        assert part not in text
    assert payload[0]["idt"] != id_token
    session, _ = client.core.sessions.read([raw], client.core.clock(), with_id_token=True)
    assert session is not None
    assert client.core.sessions.id_token(session) == id_token
    assert "nonce" not in payload[0]["u"]


def test_5_confidential_client_sends_its_secret(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(client_secret="s3cr3t-client"))
    assert sign_in(client, okta).status_code == 302
    assert okta.token_forms[0]["client_secret"] == "s3cr3t-client"


def test_b2_22_forged_state_is_403_without_outbound(client: Browser, okta: FakeOkta) -> None:
    start_login(client)
    other = client.other_browser()
    victim = start_login(other)
    with no_outbound(okta):
        r = client.get(callback_url(victim, "attacker-code"))
    assert r.status_code == 403
    assert_security_headers(r)
    assert "Sign in again" in r.text
    assert SESSION not in set_cookies(r)


def test_b2_23_missing_state_is_400_without_outbound(client: Browser, okta: FakeOkta) -> None:
    start_login(client)
    with no_outbound(okta):
        r = client.get("/login/callback?interaction_code=abc")
    assert r.status_code == 400


def test_b2_24_injected_code_fails_at_okta(client: Browser, okta: FakeOkta) -> None:
    attacker = client.other_browser()
    attacker_config = start_login(attacker)
    attacker_code = okta.issue_code(attacker_config)
    victim = start_login(client)
    r = client.get(callback_url(victim, attacker_code))
    assert r.status_code == 400
    assert "Sign in again" in r.text
    assert SESSION not in set_cookies(r)
    assert okta.token.call_count == 1


def test_b2_25_code_is_one_form_value(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client)
    client.get(
        "/login/callback?interaction_code=abc%26client_id%3Devil%26code_verifier%3Dx"
        f"&state={config['state']}"
    )
    assert okta.token.call_count == 1
    form = okta.token_forms[0]
    assert form["interaction_code"] == "abc&client_id=evil&code_verifier=x"
    assert form["client_id"] == CLIENT_ID
    assert form["code_verifier"] != "x"
    assert okta.token_bodies[0].count(b"&") == 4


def test_b2_26_expired_transaction(client: Browser, okta: FakeOkta, clock: FakeClock) -> None:
    config = start_login(client)
    clock.advance(15 * 60 + 5)
    with no_outbound(okta):
        r = client.get(callback_url(config, okta.issue_code(config)))
    assert r.status_code == 403
    assert "took too long" in r.text


def test_b2_27_reload_after_success(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client)
    url = callback_url(config, okta.issue_code(config))
    assert client.get(url).status_code == 302
    with no_outbound(okta):
        r = client.get(url)
    assert r.status_code == 302
    assert r.headers["location"] == "/"


def test_b2_29_foreign_iss_parameter(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client)
    with no_outbound(okta):
        r = client.get(callback_url(config, "abc") + "&iss=https%3A%2F%2Fevil.example")
    assert r.status_code == 403
    ok = client.get(callback_url(config, okta.issue_code(config)) + f"&iss={quote(ISSUER)}")
    assert ok.status_code == 302


def test_b2_30_transaction_from_another_issuer_config(make_client: Any, okta: FakeOkta) -> None:
    first = make_client()
    config = start_login(first)
    moved = make_client(make_settings(issuer="https://other.example/oauth2/default"))
    for cookie in first.cookies.jar:
        moved.cookies.set(cookie.name, cookie.value, domain="app.example")
    with no_outbound(okta):
        r = moved.get(callback_url(config, "abc"))
    assert r.status_code == 403
    assert "Sign in again" in r.text


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"nonce": "someone-elses-nonce"}, "nonce"),
        ({"nonce": None}, "nonce missing"),
        ({"iss": "https://evil.example/oauth2/default"}, "iss"),
        ({"iss": ISSUER + "/"}, "iss trailing slash"),
        ({"aud": "other-client"}, "aud"),
        ({"aud": [CLIENT_ID, "other"]}, "extra aud"),
        ({"azp": "other-client"}, "azp"),
    ],
)
def test_5_id_token_claims_are_checked(
    client: Browser, okta: FakeOkta, override: dict[str, Any], reason: str
) -> None:
    okta.claims = override
    r = sign_in(client, okta)
    assert r.status_code == 403, reason
    assert "Sign in again" in r.text
    assert SESSION not in set_cookies(r)
    assert client.get("/reports", headers=NAV).status_code == 302


def test_5_id_token_expiry_uses_the_clock(
    client: Browser, okta: FakeOkta, clock: FakeClock
) -> None:
    okta.claims = {"exp": int(clock()) - 120}  # 74: beyond the 60 s leeway
    assert sign_in(client, okta).status_code == 403
    okta.claims = {"exp": int(clock()) - 30, "iat": int(clock()) - 100}
    assert sign_in(client, okta).status_code == 302


def test_5_bad_signature(client: Browser, okta: FakeOkta, other_rsa_key: Any) -> None:
    okta.signing_key = other_rsa_key
    r = sign_in(client, okta)
    assert r.status_code == 403
    assert SESSION not in set_cookies(r)


def test_5_unknown_kid_is_refetched_once(
    client: Browser, okta: FakeOkta, other_rsa_key: Any, clock: FakeClock
) -> None:
    assert sign_in(client, okta).status_code == 302
    assert okta.keys.call_count == 1
    assert sign_in(client.other_browser(), okta).status_code == 302
    assert okta.keys.call_count == 1  # cached
    okta.jwks = [("k1", okta.key), ("k2", other_rsa_key)]  # 78: rotation
    okta.kid, okta.signing_key = "k2", other_rsa_key
    clock.advance(31)
    assert sign_in(client.other_browser(), okta).status_code == 302
    assert okta.keys.call_count == 2
    okta.kid = "k-unknown"  # 79: looked for at once (rate-limited, tests/adapters/
    r = sign_in(client.other_browser(), okta)  # test_key_rotation.py), then refused
    assert r.status_code == 403
    assert okta.keys.call_count == 3
    assert okta.discovery.call_count == 1


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ("timeout", 504),  # 82
        ("connect_error", 503),  # 83
        ("html_500", 502),  # 84
        ("malformed_json", 502),  # 85
        ("html_200", 502),
        ("missing_id_token", 502),  # 86
        ("wrong_token_type", 502),
        ("invalid_grant", 400),  # 87
        ("invalid_client", 502),  # 88
        ("redirect", 502),  # 90
        ("huge_body", 502),  # 91
    ],
)
def test_b8_token_endpoint_faults(
    client: Browser, okta: FakeOkta, fault: str, status: int, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    config = start_login(client)
    okta.fault = fault
    r = client.get(callback_url(config, okta.issue_code(config)), headers=NAV)
    assert r.status_code == status
    assert_security_headers(r)
    assert 'href="/login">Sign in again</a>' in r.text
    assert "Traceback" not in r.text
    assert "upstream-secret-body" not in r.text
    assert SESSION not in set_cookies(r)
    assert set_cookies(r)[TXN]["max-age"] == "0"  # spent: the code may have been used
    assert okta.token.call_count == 1  # never retried
    assert "evil.example" not in str(r.headers)
    assert client.get("/reports", headers=NAV).status_code == 302
    assert not any("upstream-secret-body" in rec.getMessage() for rec in caplog.records)


def test_b8_82_timeout_page_explains(make_client: Any, okta: FakeOkta) -> None:
    okta.fault = "timeout"
    client = make_client(make_settings(http_deadline=5.0))
    r = sign_in(client, okta)
    assert r.status_code == 504
    assert "took too long" in r.text


def test_5_discovery_faults(client: Browser, okta: FakeOkta) -> None:
    okta.discovery_doc = {**okta.discovery_doc, "issuer": "https://evil.example"}
    r = sign_in(client, okta)
    assert r.status_code == 502
    assert okta.token.call_count == 0
    okta.discovery_doc = {**okta.discovery_doc, "issuer": ISSUER}
    assert sign_in(client, okta).status_code == 302
    assert okta.discovery.call_count == 2


def test_b7_80_jwks_down_without_cache(client: Browser, okta: FakeOkta) -> None:
    okta.keys.mock(return_value=__import__("httpx").Response(500, text="down"))
    r = sign_in(client, okta)
    assert r.status_code == 503
    assert SESSION not in set_cookies(r)


def test_5_session_minted_fresh(client: Browser, okta: FakeOkta) -> None:
    """60: fixation -- a planted (valid) session is replaced by a brand-new one."""
    attacker = client.other_browser()
    planted = signed_in(attacker, okta, sub="00u-attacker", name="Mallory")
    client.cookies.set(SESSION, planted, domain="app.example")
    assert app_view(client.get("/x"))["name"] == "Mallory"
    # Holding the attacker's session, the login page just sends the victim home.
    r = client.get("/login?state=" + "Q" * 43, headers=NAV)
    assert r.status_code == 302
    assert r.headers["location"] == "/"
    client.cookies.delete(SESSION)
    client.cookies.set(SESSION, planted + "x", domain="app.example")  # a forged one
    config = start_login(client)
    r = client.get(callback_url(config, okta.issue_code(config)))
    fresh = set_cookies(r)[SESSION]["value"]
    assert fresh not in (planted, planted + "x")
    old_sid = client.core.sessions._codec.loads(planted, max_age=60)[0]["sid"]
    new_sid = client.core.sessions._codec.loads(fresh, max_age=60)[0]["sid"]
    assert old_sid != new_sid
    assert app_view(client.get("/x"))["name"] == "Ada Lovelace"


def test_5_new_sign_in_revokes_the_session_it_replaces(client: Browser, okta: FakeOkta) -> None:
    """R19: two tabs signed in one after the other; the second session ends the first."""
    first, second = start_login(client), start_login(client, "/other")
    assert client.get(callback_url(first, okta.issue_code(first))).status_code == 302
    before = client.cookies.get(SESSION)
    assert before is not None
    r = client.get(callback_url(second, okta.issue_code(second)))
    assert r.status_code == 302
    assert set_cookies(r)[SESSION]["value"] != before
    replay = client.other_browser()
    replay.cookies.set(SESSION, before, domain="app.example")
    assert replay.get("/x", headers=NAV).status_code == 302


def test_5_huge_claims_still_fit(client: Browser, okta: FakeOkta) -> None:
    """64/65: 200 groups; the Set-Cookie stays within 4096 bytes and the user survives."""
    groups = [f"group-with-a-fairly-long-name-{i:03}" for i in range(200)]
    r = sign_in(client, okta, groups=groups)
    assert r.status_code == 302
    raw = set_cookies(r)[SESSION]["_raw"]
    assert len("Set-Cookie: " + raw) <= 4096
    data = app_view(client.get("/x"))
    assert data["sub"] == "00u-ada"
    assert data["name"] == "Ada Lovelace"


@pytest.mark.cookie_sessions
def test_5_oversized_essential_claims_end_cleanly(client: Browser, okta: FakeOkta) -> None:
    """A name too large for any cookie is an error page, never a 500/traceback."""
    r = sign_in(client, okta, name=secrets.token_urlsafe(4000))
    assert r.status_code == 502
    assert "Sign in again" in r.text
    assert "Traceback" not in r.text
    assert SESSION not in set_cookies(r)


# -- 6. sessions (R18-R25, B5) ------------------------------------------------------------------


@pytest.mark.cookie_sessions
def test_6_session_not_resent_on_every_response(
    client: Browser, okta: FakeOkta, clock: FakeClock
) -> None:
    signed_in(client, okta)
    r = client.get("/x")
    assert r.status_code == 200
    assert "set-cookie" not in r.headers
    assert r.headers["cache-control"] == "public, max-age=600"  # the app's own
    assert r.headers.get_list("vary")[-1] == "Cookie"  # R23: a cache must key on the cookie
    clock.advance(301)  # last_seen needs moving forward for the idle timeout
    r = client.get("/x")
    assert SESSION in set_cookies(r)
    assert r.headers["cache-control"] == "no-store"  # 66/R23
    assert "Cookie" in r.headers["vary"]
    assert "set-cookie" not in client.get("/x").headers


def test_public_page_without_session_does_not_vary(client: Browser) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert "Cookie" not in r.headers.get("vary", "")


def test_b5_53_tampered_cookie_is_anonymous(client: Browser, okta: FakeOkta) -> None:
    value = signed_in(client, okta)
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    r = client.get("/x", headers={**NAV, "cookie": f"{SESSION}={flipped}"})
    assert r.status_code == 302
    cleared = set_cookies(r)[SESSION]
    assert cleared["max-age"] == "0"
    r = client.get("/x", headers={"cookie": f"{SESSION}={flipped}", "accept": "application/json"})
    assert r.status_code == 401


def test_b5_54_key_rotation(make_client: Any, okta: FakeOkta) -> None:
    old = make_client(make_settings(secret_keys=[SECRET_OLD]))
    value = signed_in(old, okta)
    rotated = make_client(make_settings(secret_keys=[SECRET_OLD, SECRET_NEW]))
    r = rotated.get("/x", headers={"cookie": f"{SESSION}={value}"})
    assert app_view(r)["authenticated"] is True
    reissued = set_cookies(r)[SESSION]["value"]
    assert reissued != value
    new_only = make_client(make_settings(secret_keys=[SECRET_NEW]))
    assert app_view(new_only.get("/x", headers={"cookie": f"{SESSION}={reissued}"}))[
        "authenticated"
    ]
    r = new_only.get("/x", headers={**NAV, "cookie": f"{SESSION}={value}"})
    assert r.status_code == 302  # unknown key


def test_b5_55_absolute_timeout(make_client: Any, okta: FakeOkta, clock: FakeClock) -> None:
    client = make_client(make_settings(session_max_age=3600, session_idle_timeout=1800))
    signed_in(client, okta)
    for _ in range(2):
        clock.advance(1700)
        assert client.get("/x").status_code == 200  # activity keeps it alive
    clock.advance(300)  # 3700 s since sign-in
    r = client.get("/x", headers=NAV)
    assert r.status_code == 302
    assert r.headers["location"].startswith("/login")


def test_b5_56_idle_timeout(client: Browser, okta: FakeOkta, clock: FakeClock) -> None:
    signed_in(client, okta)
    clock.advance(3599)
    assert client.get("/x").status_code == 200
    clock.advance(3601)
    assert client.get("/x", headers=NAV).status_code == 302


@pytest.mark.cookie_sessions
def test_b5_57_future_session_is_refused(client: Browser, clock: FakeClock) -> None:
    _, header = client.core.sessions.mint({"sub": "00u-x"}, None, clock() + 600)
    value = header.split(";")[0].split("=", 1)[1]
    r = client.get("/x", headers={**NAV, "cookie": f"{SESSION}={value}"})
    assert r.status_code == 302
    _, header = client.core.sessions.mint({"sub": "00u-x"}, None, clock())
    value = header.split(";")[0].split("=", 1)[1]
    assert app_view(client.get("/x", headers={"cookie": f"{SESSION}={value}"}))["authenticated"]


def test_b5_58_transaction_value_in_session_slot(client: Browser) -> None:
    start_login(client)
    txn_value = next(c.value for c in client.cookies.jar if c.name == TXN)
    r = client.get("/x", headers={**NAV, "cookie": f"{SESSION}={txn_value}"})
    assert r.status_code == 302


def test_b5_61_nameless_and_duplicate_cookies(client: Browser, okta: FakeOkta) -> None:
    value = signed_in(client, okta)
    r = client.get("/x", headers={**NAV, "cookie": f"=__Host-omw_session={value}"})
    assert r.status_code == 302
    r = client.get("/x", headers={"cookie": f"{SESSION}=forged; {SESSION}={value}"})
    assert app_view(r)["authenticated"] is True


def test_b5_62_63_hostile_cookie_headers_are_bounded(client: Browser, okta: FakeOkta) -> None:
    quoted = '"' + "\\" * 20_000 + '"'
    started = time.perf_counter()
    r = client.get("/x", headers={**NAV, "cookie": f"{SESSION}={quoted}"})
    assert r.status_code == 302
    many = "; ".join(f"c{i}={'v' * 150}" for i in range(200))
    r = client.get("/x", headers={**NAV, "cookie": many})
    assert r.status_code in (302, 431)
    assert time.perf_counter() - started < 5  # linear, not quadratic


def test_6_http_deployment_cookies(make_client: Any, http_settings: Settings, okta: Any) -> None:
    client = make_client(http_settings, base_url="http://app.example")
    r = client.get("/x", headers=NAV)
    cookie = set_cookies(r)["omw_signin"]
    assert "secure" not in cookie
    assert cookie["samesite"] == "Lax"
    assert "httponly" in cookie


@pytest.mark.cookie_sessions
def test_6_timestamps_are_inside_the_signed_payload(client: Browser, okta: FakeOkta) -> None:
    value = signed_in(client, okta)
    payload, _ = client.core.sessions._codec.loads(value, max_age=60)
    assert {"sid", "iat", "seen", "u"} <= set(payload)
    assert payload["iat"] == int(client.core.clock())


# -- 8. logout (R21, R22, B10) ------------------------------------------------------------------


def test_b10_100_get_logout_changes_nothing(client: Browser, okta: FakeOkta) -> None:
    signed_in(client, okta)
    r = client.get("/logout", headers=NAV)
    assert r.status_code == 200
    assert_security_headers(r)
    assert '<form method=post action="/logout">' in r.text
    assert "Ada Lovelace" in r.text
    assert "set-cookie" not in r.headers
    assert app_view(client.get("/x"))["authenticated"] is True


def test_8_get_logout_signed_out(client: Browser) -> None:
    r = client.get("/logout")
    assert r.status_code == 200
    assert "You are not signed in." in r.text


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},  # 101
        {"sec-fetch-site": "same-site"},
        {"origin": "https://evil.example"},
        {"origin": "http://app.example"},  # wrong scheme is another origin
    ],
)
def test_b10_101_cross_site_logout_is_403(
    client: Browser, okta: FakeOkta, headers: dict[str, str]
) -> None:
    signed_in(client, okta)
    r = client.post("/logout", headers=headers)
    assert r.status_code == 403
    assert_security_headers(r)
    assert "Sec-Fetch-Site" in r.headers["vary"]
    assert "set-cookie" not in r.headers
    assert app_view(client.get("/x"))["authenticated"] is True


@pytest.mark.cookie_sessions
@pytest.mark.parametrize("headers", [{"sec-fetch-site": "same-origin"}, {"origin": APP_ORIGIN}, {}])
def test_b10_102_logout(make_client: Any, okta: FakeOkta, headers: dict[str, str]) -> None:
    client = make_client(make_settings(post_logout_redirect_uri=f"{APP_ORIGIN}/bye"))
    value = signed_in(client, okta)
    id_token = okta.id_tokens[-1]
    with no_outbound(okta):
        r = client.post(
            "/logout?return_to=https://evil.example&post_logout_redirect_uri=https://evil.example",
            headers=headers,
        )
    assert r.status_code == 303
    assert_security_headers(r)
    assert r.headers["clear-site-data"] == '"cookies"'
    location = r.headers["location"]
    assert location.startswith(END_SESSION_URL + "?")
    params = dict(parse_qsl(urlsplit(location).query))
    assert params == {  # 103: the configured URI, never a request value
        "id_token_hint": id_token,
        "post_logout_redirect_uri": f"{APP_ORIGIN}/bye",
    }
    cookies = set_cookies(r)
    for name in (SESSION, TXN):
        assert cookies[name]["max-age"] == "0"
        assert "secure" in cookies[name]
        assert "httponly" in cookies[name]
        assert cookies[name]["path"] == "/"
        assert cookies[name]["samesite"] == "Lax"
    assert not [c for c in client.cookies.jar if c.name == SESSION]
    # 59: the captured cookie is refused after logout.
    replay = client.get("/x", headers={**NAV, "cookie": f"{SESSION}={value}"})
    assert replay.status_code == 302
    assert len(client.core.sessions.store) == 1  # type: ignore[arg-type]


def test_8_logout_without_session(client: Browser) -> None:
    r = client.post("/logout", headers={"sec-fetch-site": "same-origin"})
    assert r.status_code == 303
    assert r.headers["location"] == "/"


def test_8_logout_other_methods(client: Browser) -> None:
    r = client.request("PUT", "/logout")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, POST"


def test_8_own_paths_refuse_other_methods(client: Browser) -> None:
    for path in ("/login", "/login/callback"):
        r = client.post(path)
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD"
        assert_security_headers(r)


def test_b10_104_cross_site_post_without_lax_cookie(client: Browser, okta: FakeOkta) -> None:
    signed_in(client, okta)
    attacker_view = client.other_browser()  # a Lax cookie is not sent cross-site
    r = attacker_view.post("/app/form", headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 401


def test_b10_105_106_pages_cannot_be_framed_and_load_nothing_external(
    client: Browser,
) -> None:
    r = client.get("/login/callback?state=" + "S" * 43 + "&otp=123456")
    assert_security_headers(r)
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "http://" not in r.text
    assert "https://" not in r.text
    assert "<img" not in r.text
    assert "<meta name=referrer content=no-referrer>" in r.text


def test_b10_107_logs_hold_no_secrets(client: Browser, okta: FakeOkta, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    config = start_login(client)
    client.get(f"/login/callback?state={config['state']}&otp=482913")
    client.other_browser().get(f"/login/callback?state={config['state']}&otp=482913")
    code = okta.issue_code(config)
    r = client.get(callback_url(config, code))
    assert r.status_code == 302
    client.get("/login/callback?error=access_denied&state=" + config["state"])
    client.post("/logout", headers={"sec-fetch-site": "cross-site"})
    client.post("/logout", headers={"sec-fetch-site": "same-origin"})
    txn = config
    secrets_seen = [
        txn["state"],
        txn["nonce"],
        txn["codeChallenge"],
        "482913",
        code,
        okta.id_tokens[0],
        okta.token_forms[0]["code_verifier"],
        set_cookies(r)[SESSION]["value"],
        *(form["token"] for form in okta.revoked),  # the access and refresh tokens
    ]
    events = [rec for rec in caplog.records if rec.name.startswith("okta_magiclink_mw")]
    assert events, "the middleware logged nothing"
    assert any(getattr(rec, "event", "") == "signin.success" for rec in events)
    outbound = [r for r in caplog.records if r.name == "httpx" and "org.example" in r.getMessage()]
    # discovery, token, keys (and with a store, the two revocations): logged by URL only
    assert len(outbound) == 3 + len(okta.revoked)
    for rec in [*events, *outbound]:
        text = rec.getMessage() + repr(rec.__dict__)
        for secret in secrets_seen:
            assert secret not in text, (rec.name, rec.getMessage())


# -- 9/10. framework integration, adapters -------------------------------------------------------


def test_10_remote_user_is_ours(client: Browser, okta: FakeOkta) -> None:
    signed_in(client, okta)
    data = app_view(client.get("/x", headers={"remote-user": "root"}))
    assert data["remote_user"] == ("ada@example.com" if client.kind == "wsgi" else None)
    assert data["identity_headers"] == {}
