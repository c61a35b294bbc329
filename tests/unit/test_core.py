"""The sans-IO core, driven directly with RequestFacts; the token exchange generator is
driven by hand with next()/send()/throw()."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from okta_magiclink_mw._effects import run_now_or_later
from okta_magiclink_mw._flow import (
    ANONYMOUS,
    Exchange,
    MagicLinkCore,
    PassThrough,
    RequestFacts,
    Respond,
)
from okta_magiclink_mw._query import STATE as STATE_RE
from okta_magiclink_mw._query import parse_query, valid
from okta_magiclink_mw.errors import BadRequest
from tests.conftest import (
    CLIENT_ID,
    DISCOVERY_URL,
    END_SESSION_URL,
    ISSUER,
    JWKS_URL,
    TOKEN_URL,
    FakeClock,
    make_settings,
    public_jwk,
)

SESSION = "__Host-omw_session"
TXN = "__Host-omw_signin"


def headers_of(respond: Respond) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in respond.headers:
        out.setdefault(k, []).append(v)
    return out


def cookie_pair(set_cookie: str) -> str:
    return set_cookie.split(";")[0]


@pytest.fixture
def core(clock: FakeClock) -> MagicLinkCore:
    return MagicLinkCore(make_settings(), clock=clock)


def nav(path: str, query: str = "", cookie: str = "", method: str = "GET") -> RequestFacts:
    return RequestFacts(method, path, query, cookie, "text/html", "", "navigate")


def begin(core: MagicLinkCore, path: str = "/r") -> tuple[str, str, Any]:
    """Start a sign-in: (state, transaction cookie pair, transaction)."""
    path, _, query = path.partition("?")
    d = core.decide(nav(path, query))
    assert isinstance(d, Respond)
    h = headers_of(d)
    state = h["location"][0].split("state=")[1]
    cookie = cookie_pair(h["set-cookie"][0])
    held = core.transactions.load([cookie.split("=", 1)[1]], core.clock())
    return state, cookie, held[state]


def session_cookie(core: MagicLinkCore, **claims: Any) -> str:
    claims.setdefault("sub", "00u1")
    _, header = core.sessions.mint(claims, "id.token.value", core.clock())
    return cookie_pair(header)


# -- decide ---------------------------------------------------------------------------------


def test_anonymous_navigation_is_redirected(core: MagicLinkCore) -> None:
    state, cookie, txn = begin(core, "/reports")
    assert valid(STATE_RE, state)
    assert txn.return_to == "/reports"
    assert cookie.startswith(TXN + "=")


def test_query_is_kept_and_stale_session_cleared(core: MagicLinkCore) -> None:
    d = core.decide(nav("/r", "a=1&b=2", f"{SESSION}=stale"))
    assert isinstance(d, Respond)
    cookies = headers_of(d)["set-cookie"]
    assert any(c.startswith(f"{SESSION}=") and "Max-Age=0" in c for c in cookies)
    state = headers_of(d)["location"][0].split("state=")[1]
    held = core.transactions.load([cookie_pair(cookies[0]).split("=", 1)[1]], core.clock())
    assert held[state].return_to == "/r?a=1&b=2"


def test_non_ascii_path_is_quoted(core: MagicLinkCore) -> None:
    _, _, txn = begin(core, "/café")
    assert txn.return_to == "/caf%C3%A9"


@pytest.mark.parametrize(
    "facts",
    [
        RequestFacts("POST", "/r"),
        RequestFacts("GET", "/r", accept="application/json"),
        RequestFacts("GET", "/r", sec_fetch_mode="cors"),
        RequestFacts("GET", "/r", requested_with="XMLHttpRequest"),
    ],
)
def test_non_navigation_is_401(core: MagicLinkCore, facts: RequestFacts) -> None:
    d = core.decide(facts)
    assert isinstance(d, Respond)
    assert d.status == 401
    assert json.loads(d.body)["error"] == "unauthenticated"


def test_json_and_html_accept_is_a_navigation(core: MagicLinkCore) -> None:
    d = core.decide(RequestFacts("GET", "/r", accept="text/html, application/json"))
    assert isinstance(d, Respond)
    assert d.status == 302


def test_session_passes_through(core: MagicLinkCore, clock: FakeClock) -> None:
    cookie = session_cookie(core, name="Ada")
    d = core.decide(nav("/r", cookie=cookie))
    assert isinstance(d, PassThrough)
    assert d.user.display_name == "Ada"
    assert d.set_cookies == ()
    clock.advance(301)
    d = core.decide(nav("/r", cookie=cookie))
    assert isinstance(d, PassThrough)
    assert len(d.set_cookies) == 1
    assert run_now_or_later(core.authenticate(cookie)) is not None
    assert run_now_or_later(core.authenticate("")) is None


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/health", True),
        ("/public/a.css", True),
        ("/public/", True),
        ("/health/", False),
        ("/public", False),
        ("/public//x", False),
        ("/public/\\x", False),
        ("/public/./x", False),
        ("/public/../admin", False),
        ("/public/..", False),
        ("/public/.", False),
        ("/public/a\x00", False),
        ("/admin", False),
    ],
)
def test_is_public(core: MagicLinkCore, path: str, public: bool) -> None:
    assert core.is_public(path) is public
    d = core.decide(nav(path))
    if public:
        assert d == PassThrough(ANONYMOUS)
    else:
        assert isinstance(d, Respond)
        assert d.status == 302


# -- login page -----------------------------------------------------------------------------


def test_login_page_for_held_state(core: MagicLinkCore) -> None:
    state, cookie, txn = begin(core)
    d = core.decide(nav("/login", f"state={state}&otp=Ab12cd", cookie))
    assert isinstance(d, Respond)
    assert d.status == 200
    body = d.body.decode()
    assert f'"state":"{state}"' in body
    assert f'"codeChallenge":"{txn.code_challenge}"' in body
    assert '"otp":"Ab12cd"' in body
    assert txn.code_verifier not in body


def test_login_with_otp_for_unheld_state_shows_code(core: MagicLinkCore) -> None:
    d = core.decide(nav("/login", "state=" + "x" * 43 + "&otp=123456"))
    assert isinstance(d, Respond)
    assert d.status == 200
    assert b">123456<" in d.body
    assert "set-cookie" not in headers_of(d)


@pytest.mark.parametrize(
    "query", ["state=%3Cx%3E", "otp=123456", "state=abcdefgh&otp=12", "a=1&a=2"]
)
def test_login_bad_input(core: MagicLinkCore, query: str) -> None:
    d = core.decide(nav("/login", query))
    assert isinstance(d, Respond)
    assert d.status == 400


# -- callback -------------------------------------------------------------------------------


def test_magic_link_same_browser(core: MagicLinkCore) -> None:
    state, cookie, _ = begin(core)
    d = core.decide(nav("/login/callback", f"state={state}&otp=123456", cookie))
    assert isinstance(d, Respond)
    assert d.status == 302
    assert headers_of(d)["location"] == [f"/login?state={state}&otp=123456"]


def test_magic_link_signed_in_elsewhere_goes_home(core: MagicLinkCore) -> None:
    d = core.decide(
        nav("/login/callback", "state=" + "x" * 43 + "&otp=123456", session_cookie(core))
    )
    assert isinstance(d, Respond)
    assert headers_of(d)["location"] == ["/"]


@pytest.mark.parametrize(
    "query",
    [
        "state=bad%20state&otp=123456",
        "otp=123456",
        "state=abcdefgh&otp=1234",
        "interaction_code=abc",
        "state=abcdefgh&interaction_code=" + "%20",
        "state=abcdefgh",
        "state=abcdefgh&otp=123456&interaction_code=abc",
    ],
)
def test_callback_bad_input(core: MagicLinkCore, query: str) -> None:
    d = core.decide(nav("/login/callback", query))
    assert isinstance(d, Respond)
    assert d.status == 400


def test_callback_iss_mismatch(core: MagicLinkCore) -> None:
    d = core.decide(nav("/login/callback", "error=access_denied&iss=https%3A%2F%2Fevil"))
    assert isinstance(d, Respond)
    assert d.status == 403


def test_error_for_held_state_clears_only_that(core: MagicLinkCore) -> None:
    state, cookie, _ = begin(core)
    d = core.decide(nav("/login/callback", f"error=user_canceled_request&state={state}", cookie))
    assert isinstance(d, Respond)
    assert d.status == 400
    assert b"The sign-in was cancelled." in d.body
    assert "Max-Age=0" in headers_of(d)["set-cookie"][0]


def test_interaction_required_redirects_to_widget(core: MagicLinkCore) -> None:
    state, cookie, _ = begin(core)
    d = core.decide(nav("/login/callback", f"error=interaction_required&state={state}", cookie))
    assert isinstance(d, Respond)
    assert headers_of(d)["location"] == [f"/login?state={state}"]


def test_unknown_state_is_403_and_expired_says_so(core: MagicLinkCore, clock: FakeClock) -> None:
    state, cookie, _ = begin(core)
    d = core.decide(nav("/login/callback", "interaction_code=c&state=" + "y" * 43, cookie))
    assert isinstance(d, Respond)
    assert d.status == 403
    assert b"not started in this browser" in d.body
    clock.advance(901)
    d = core.decide(nav("/login/callback", f"interaction_code=c&state={state}", cookie))
    assert isinstance(d, Respond)
    assert d.status == 403
    assert b"took too long" in d.body


# -- the exchange generator -------------------------------------------------------------------


def discovery_response(**extra: Any) -> httpx.Response:
    doc = {
        "issuer": ISSUER,
        "token_endpoint": TOKEN_URL,
        "jwks_uri": JWKS_URL,
        "end_session_endpoint": END_SESSION_URL,
        **extra,
    }
    return httpx.Response(200, json=doc)


def token_response(rsa_key: Any, nonce: str, clock: FakeClock, **claims: Any) -> httpx.Response:
    import jwt

    now = int(clock())
    payload = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "00u1", "iat": now, "exp": now + 300}
    payload.update(nonce=nonce, **claims)
    idt = jwt.encode(payload, rsa_key, algorithm="RS256", headers={"kid": "k1"})
    return httpx.Response(200, json={"token_type": "Bearer", "access_token": "a", "id_token": idt})


def exchange(core: MagicLinkCore, path: str = "/r") -> tuple[Any, Any]:
    state, cookie, txn = begin(core, path)
    d = core.decide(nav("/login/callback", f"interaction_code=code-1&state={state}", cookie))
    assert isinstance(d, Exchange)
    return d.flow, txn


def test_generator_happy_path(core: MagicLinkCore, rsa_key: Any, clock: FakeClock) -> None:
    flow, txn = exchange(core, "/dest?x=1")
    request = next(flow)
    assert (request.method, str(request.url)) == ("GET", DISCOVERY_URL)
    request = flow.send(discovery_response())
    assert (request.method, str(request.url)) == ("POST", TOKEN_URL)
    form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
    assert form["code_verifier"] == txn.code_verifier
    assert form["interaction_code"] == "code-1"
    request = flow.send(token_response(rsa_key, txn.nonce, clock, name="Ada"))
    assert str(request.url) == JWKS_URL
    jwks = httpx.Response(200, json={"keys": [public_jwk(rsa_key, "k1")]})
    with pytest.raises(StopIteration) as stop:
        flow.send(jwks)
    respond = stop.value.value
    assert respond.status == 302
    h = headers_of(respond)
    assert h["location"] == ["/dest?x=1"]
    assert any(c.startswith(SESSION) for c in h["set-cookie"])
    # Discovery and keys are cached: the next exchange asks only for the token.
    flow, txn = exchange(core)
    assert str(next(flow).url) == TOKEN_URL
    with pytest.raises(StopIteration) as stop:
        flow.send(token_response(rsa_key, txn.nonce, clock))
    assert stop.value.value.status == 302


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (httpx.ReadTimeout("t"), 504),
        (httpx.ConnectError("c"), 503),
        (httpx.TooManyRedirects("r"), 502),
    ],
)
def test_generator_transport_failures(core: MagicLinkCore, exc: Exception, status: int) -> None:
    flow, _ = exchange(core)
    next(flow)
    with pytest.raises(StopIteration) as stop:
        flow.throw(exc)
    respond = stop.value.value
    assert respond.status == status
    assert b"Sign in again" in respond.body
    assert any("Max-Age=0" in c for c in headers_of(respond)["set-cookie"])


def test_generator_nonce_mismatch(core: MagicLinkCore, rsa_key: Any, clock: FakeClock) -> None:
    flow, _ = exchange(core)
    next(flow)
    flow.send(discovery_response())
    flow.send(token_response(rsa_key, "other-nonce", clock))
    with pytest.raises(StopIteration) as stop:
        flow.send(httpx.Response(200, json={"keys": [public_jwk(rsa_key, "k1")]}))
    assert stop.value.value.status == 403


def test_jwks_failure_with_cached_key(core: MagicLinkCore, rsa_key: Any, clock: FakeClock) -> None:
    """#80: a failed refetch keeps the keys it had; an unknown kid still fails."""
    flow, txn = exchange(core)
    next(flow)
    flow.send(discovery_response())
    flow.send(token_response(rsa_key, txn.nonce, clock))
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200, json={"keys": [public_jwk(rsa_key, "k1")]}))
    clock.advance(60)
    import jwt

    flow, txn = exchange(core)
    next(flow)
    now = int(clock())
    idt = jwt.encode(
        {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "s",
            "iat": now,
            "exp": now + 60,
            "nonce": txn.nonce,
        },
        rsa_key,
        algorithm="RS256",
        headers={"kid": "k9"},
    )
    request = flow.send(
        httpx.Response(200, json={"token_type": "Bearer", "access_token": "a", "id_token": idt})
    )
    assert str(request.url) == JWKS_URL
    with pytest.raises(StopIteration) as stop:
        flow.send(httpx.Response(500, text="down"))
    assert stop.value.value.status == 503
    assert core.okta.jwks.key_for("k1") is not None


def test_jwks_failure_with_known_kid_after_refetch(
    core: MagicLinkCore, rsa_key: Any, clock: FakeClock
) -> None:
    """The fetch failed but the kid is (still) known: carry on with the cached key."""
    flow, txn = exchange(core)
    next(flow)
    flow.send(discovery_response())
    flow.send(token_response(rsa_key, txn.nonce, clock))
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200, json={"keys": [public_jwk(rsa_key, "k1")]}))
    core.okta.jwks._keys.clear()  # forget the key, but remember we fetched
    core.okta.jwks._keys["k1"] = rsa_key.public_key()
    flow, txn = exchange(core)
    assert str(next(flow).url) == TOKEN_URL


def test_second_jwks_failure_without_cache(
    core: MagicLinkCore, rsa_key: Any, clock: FakeClock
) -> None:
    flow, txn = exchange(core)
    next(flow)
    flow.send(discovery_response())
    flow.send(token_response(rsa_key, txn.nonce, clock))
    with pytest.raises(StopIteration) as stop:
        flow.throw(httpx.ConnectError("down"))
    assert stop.value.value.status == 503


# -- logout -----------------------------------------------------------------------------------


def test_logout_uses_settings_endpoint_before_discovery(clock: FakeClock) -> None:
    core = MagicLinkCore(make_settings(), clock=clock)
    cookie = session_cookie(core)
    d = core.decide(
        RequestFacts("POST", "/logout", cookie_header=cookie, origin="https://app.example")
    )
    assert isinstance(d, Respond)
    assert d.status == 303
    location = headers_of(d)["location"][0]
    assert location.startswith(f"{ISSUER}/v1/logout?id_token_hint=id.token.value")
    assert "post_logout_redirect_uri" not in location


def test_logout_session_without_id_token(clock: FakeClock) -> None:
    core = MagicLinkCore(
        make_settings(post_logout_redirect_uri="https://app.example/bye"), clock=clock
    )
    _, header = core.sessions.mint({"sub": "s"}, None, clock())
    d = core.decide(RequestFacts("POST", "/logout", cookie_header=cookie_pair(header)))
    assert isinstance(d, Respond)
    assert headers_of(d)["location"] == ["https://app.example/bye"]
    assert run_now_or_later(core.authenticate(cookie_pair(header))) is None


def test_logout_head_and_sec_fetch_none(core: MagicLinkCore) -> None:
    d = core.decide(RequestFacts("HEAD", "/logout"))
    assert isinstance(d, Respond)
    assert d.status == 200
    d = core.decide(RequestFacts("POST", "/logout", sec_fetch_site="none"))
    assert isinstance(d, Respond)
    assert d.status == 303


def test_error_response_is_a_page(core: MagicLinkCore) -> None:
    r = core.error_response(BadRequest("<b>bad</b>"), [("x-extra", "1")])
    assert r.status == 400
    assert b"&lt;b&gt;bad&lt;/b&gt;" in r.body
    assert headers_of(r)["x-extra"] == ["1"]


# -- query parsing (R9) -----------------------------------------------------------------------


def test_parse_query() -> None:
    assert parse_query("") == {}
    assert parse_query("a=1&&b=x+y%20z&c") == {"a": "1", "b": "x y z", "c": ""}
    assert parse_query("state=A;otp=1") == {"state": "A;otp=1"}
    with pytest.raises(BadRequest) as info:
        parse_query("a=1&a=2")
    assert info.value.code == "duplicate_parameter"
    with pytest.raises(BadRequest) as info:
        parse_query("x" * 4097)  # MAX_QUERY_BYTES + 1, as a literal on purpose
    assert info.value.code == "query_too_long"
    with pytest.raises(BadRequest) as info:
        parse_query("&".join(f"k{i}=v" for i in range(17)))  # MAX_FIELDS + 1
    assert info.value.code == "too_many_fields"
    assert not valid(STATE_RE, None)


def test_concurrent_jwks_fetch_failure_uses_the_key_another_fetch_got(
    core: MagicLinkCore, rsa_key: Any, clock: FakeClock
) -> None:
    """Two exchanges in flight: A's JWKS fetch fails, but B's succeeded meanwhile."""
    flow_a, txn_a = exchange(core)
    next(flow_a)
    flow_a.send(discovery_response())
    jwks_request = flow_a.send(token_response(rsa_key, txn_a.nonce, clock))
    assert str(jwks_request.url) == JWKS_URL
    flow_b, txn_b = exchange(core)
    assert str(next(flow_b).url) == TOKEN_URL  # discovery is cached
    assert str(flow_b.send(token_response(rsa_key, txn_b.nonce, clock)).url) == JWKS_URL
    with pytest.raises(StopIteration) as stop_b:
        flow_b.send(httpx.Response(200, json={"keys": [public_jwk(rsa_key, "k1")]}))
    assert stop_b.value.value.status == 302
    with pytest.raises(StopIteration) as stop_a:
        flow_a.send(httpx.Response(503, text="busy"))
    assert stop_a.value.value.status == 302


def test_encoded_question_mark_stays_in_the_path(core: MagicLinkCore) -> None:
    _, _, txn = begin(core, "/a?b=1")
    assert txn.return_to == "/a?b=1"
    d = core.decide(nav("/dest?x"))  # a decoded path holding "?" (from %3F)
    assert isinstance(d, Respond)
    state = headers_of(d)["location"][0].split("state=")[1]
    cookie = cookie_pair(headers_of(d)["set-cookie"][0]).split("=", 1)[1]
    assert core.transactions.load([cookie], core.clock())[state].return_to == "/dest%3Fx"
