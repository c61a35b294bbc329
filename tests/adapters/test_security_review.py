"""The outside attack review (security issue 7), through both adapters where it applies.

Each test names its item. Each fails on the code before the fix; the safe behaviour is what
is asserted.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import sys
import wsgiref.util
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import pytest

from okta_magiclink_mw import ConfigurationError, OktaMagicLink, OktaMagicLinkWSGI
from tests.adapters.test_adapter_specific import _websocket, _ws_app
from tests.conftest import (
    APP_ORIGIN,
    CLIENT_ID,
    ISSUER,
    NAV,
    SECRET_NEW,
    Browser,
    FakeClock,
    FakeOkta,
    callback_url,
    make_settings,
    start_login,
    wsgi_echo_app,
)

SESSION = "__Host-omw_session"
TXN = "__Host-omw_signin"


def signed_in_value(client: Browser, okta: FakeOkta, **claims: Any) -> str:
    config = start_login(client, "/reports")
    r = client.get(callback_url(config, okta.issue_code(config, **claims)), headers=NAV)
    assert r.status_code == 302, r.text
    values = [c.value for c in client.cookies.jar if c.name == SESSION]
    assert len(values) == 1
    return values[0]


def whoami(client: Browser, cookie: str) -> dict[str, Any]:
    """What the app sees for a request carrying exactly this Cookie header."""
    client.cookies.clear()
    r = client.get("/whoami", headers={**NAV, "cookie": cookie})
    if r.status_code != 200:
        return {"status": r.status_code}
    data: dict[str, Any] = r.json()
    return data


# -- item 1: a session hidden inside another cookie's value -----------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "prefs=x {s}={v}",
        "prefs=x\t{s}={v}",
        "prefs={s}={v}",
        "={s}={v}",
        'a="x; {s}={v}; b="',
    ],
)
def test_1_hidden_session_is_not_a_session(client: Browser, okta: FakeOkta, template: str) -> None:
    attacker = signed_in_value(client.other_browser(), okta, sub="00u-mallory")
    assert whoami(client, f"{SESSION}={attacker}")["sub"] == "00u-mallory"  # it is valid
    seen = whoami(client, template.format(s=SESSION, v=attacker))
    assert seen == {"status": 302}  # not signed in: sent to sign in


def test_1_hidden_session_does_not_outrank_the_victims(client: Browser, okta: FakeOkta) -> None:
    attacker = signed_in_value(client.other_browser(), okta, sub="00u-mallory")
    victim = signed_in_value(client.other_browser(), okta, sub="00u-ada")
    seen = whoami(client, f"prefs=x {SESSION}={attacker}; {SESSION}={victim}")
    assert seen["sub"] == "00u-ada"


def test_1_two_different_sessions_count_as_none(client: Browser, okta: FakeOkta) -> None:
    # A planted (tossed) session never outranks the person's own, in either order.
    one = signed_in_value(client.other_browser(), okta, sub="00u-one")
    two = signed_in_value(client.other_browser(), okta, sub="00u-two")
    assert whoami(client, f"{SESSION}={one}; {SESSION}={two}") == {"status": 302}
    assert whoami(client, f"{SESSION}={two}; {SESSION}={one}") == {"status": 302}
    # The same session twice, or a bad value before a good one, is still that session.
    assert whoami(client, f"{SESSION}={one}; {SESSION}={one}")["sub"] == "00u-one"
    assert whoami(client, f"{SESSION}=junk.junk.junk; {SESSION}={one}")["sub"] == "00u-one"


# -- item 2: sessions bound to their deployment -----------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        {"client_id": "0oa-another-app"},
        {"issuer": "https://dev-org.example/oauth2/default"},
    ],
)
def test_2_another_deployments_session_is_refused(
    make_client: Any, okta: FakeOkta, other: dict[str, str]
) -> None:
    ours = make_client(make_settings())
    value = signed_in_value(ours, okta)
    theirs = make_client(make_settings(**other))  # the same secret_keys
    assert theirs.core.settings.secret_keys == ours.core.settings.secret_keys
    assert whoami(theirs, f"{SESSION}={value}") == {"status": 302}
    assert whoami(ours, f"{SESSION}={value}")["sub"] == "00u-ada"


def test_2_another_deployments_transaction_is_refused(make_client: Any, okta: FakeOkta) -> None:
    ours = make_client(make_settings())
    config = start_login(ours, "/reports")
    txn = next(c.value for c in ours.cookies.jar if c.name == TXN)
    theirs = make_client(make_settings(client_id="0oa-another-app"))
    code = okta.issue_code(config)
    r = theirs.get(callback_url(config, code), headers={**NAV, "cookie": f"{TXN}={txn}"})
    assert r.status_code == 403
    assert okta.token.call_count == 0


# -- item 3: an unverified email is never the identity ----------------------------------------


@pytest.mark.parametrize("verified", [False, None, "true", 1])
def test_3_unverified_email_is_not_the_identity(
    client: Browser, okta: FakeOkta, verified: Any
) -> None:
    value = signed_in_value(client, okta, email="ceo@example.com", email_verified=verified)
    seen = whoami(client, f"{SESSION}={value}")
    assert seen["sub"] == "00u-ada"
    assert seen["email"] is None
    assert "ceo@example.com" not in str(seen["remote_user"])
    if client.kind == "wsgi":
        assert seen["remote_user"] == "00u-ada"


def test_3_verified_email_is_the_identity(client: Browser, okta: FakeOkta) -> None:
    value = signed_in_value(client, okta, email="ada@example.com", email_verified=True)
    seen = whoami(client, f"{SESSION}={value}")
    assert seen["email"] == "ada@example.com"
    if client.kind == "wsgi":
        assert seen["remote_user"] == "ada@example.com"


def test_3_require_verified_email_refuses_the_sign_in(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(require_verified_email=True))
    config = start_login(client, "/reports")
    code = okta.issue_code(config, email_verified=False)
    r = client.get(callback_url(config, code), headers=NAV)
    assert r.status_code == 403
    assert "not verified" in r.text
    assert SESSION not in r.headers.get("set-cookie", "")
    assert signed_in_value(client, okta, email_verified=True)  # a verified one is welcome


# -- item 6: plain http only on loopback, or by an explicit opt-in ----------------------------


@pytest.mark.parametrize("uri", ["http://app.example/cb", "http://10.0.0.5/cb"])
def test_6_plain_http_redirect_uri_is_refused(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="https"):
        make_settings(redirect_uri=uri)
    settings = make_settings(redirect_uri=uri, allow_insecure_http=True)
    assert settings.session_cookie_name == "omw_session"
    with pytest.raises(ConfigurationError, match="cookie_secure=True needs an https"):
        make_settings(redirect_uri=uri, allow_insecure_http=True, cookie_secure=True)


@pytest.mark.parametrize(
    "uri", ["http://localhost:8000/cb", "http://127.0.0.1/cb", "http://[::1]:8000/cb"]
)
def test_6_loopback_http_stays_allowed(uri: str) -> None:
    assert make_settings(redirect_uri=uri).secure_cookies is False


# -- item 7: the verified-cookie cache is keyed by the whole value ----------------------------


def test_7_altered_value_with_the_same_mac_is_refused(client: Browser, okta: FakeOkta) -> None:
    value = signed_in_value(client, okta)
    assert whoami(client, f"{SESSION}={value}")["sub"] == "00u-ada"  # now cached
    payload, _, mac = value.rpartition(".")
    for altered in (f"A{payload[1:]}.{mac}", f"{payload}x.{mac}", f"{value}!!!!"):
        assert altered != value
        assert whoami(client, f"{SESSION}={altered}") == {"status": 302}


# -- item 13: a spent transaction makes no second call to Okta --------------------------------


def test_13_replayed_transaction_cookie_makes_no_token_call(
    client: Browser, okta: FakeOkta
) -> None:
    config = start_login(client, "/reports")
    txn = next(c.value for c in client.cookies.jar if c.name == TXN)
    r = client.get(callback_url(config, okta.issue_code(config)), headers=NAV)
    assert r.status_code == 302
    assert okta.token.call_count == 1
    attacker = client.other_browser()
    for _ in range(5):
        code = okta.issue_code(config)  # even with a fresh, valid code
        replay = attacker.get(callback_url(config, code), headers={**NAV, "cookie": f"{TXN}={txn}"})
        assert replay.status_code == 403
        assert "already used" in replay.text
        assert SESSION not in replay.headers.get("set-cookie", "")
    assert okta.token.call_count == 1


def test_13_replay_with_a_live_session_goes_home(client: Browser, okta: FakeOkta) -> None:
    config = start_login(client, "/reports")
    txn = next(c.value for c in client.cookies.jar if c.name == TXN)
    assert client.get(callback_url(config, okta.issue_code(config)), headers=NAV).status_code == 302
    session = next(c.value for c in client.cookies.jar if c.name == SESSION)
    client.cookies.clear()
    replay = client.get(
        callback_url(config, okta.issue_code(config)),
        headers={**NAV, "cookie": f"{TXN}={txn}; {SESSION}={session}"},
    )
    assert replay.status_code == 302
    assert replay.headers["location"] == "/"
    assert okta.token.call_count == 1


def test_13_spent_states_are_bounded_and_expire() -> None:
    from okta_magiclink_mw._transactions import SpentStates

    spent = SpentStates(ttl=100, max_entries=10)
    assert spent.spend("s0", 0)
    assert not spent.spend("s0", 50)
    for i in range(1, 50):
        assert spent.spend(f"s{i}", 1)
    assert len(spent) <= 10
    assert spent.spend("s0", 101)  # after the TTL nothing could be redeemed anyway
    assert not spent.spend("s0", 102)


# -- item 14: threaded WSGI with more live cookies than the cache holds ------------------------


def _environ(cookie: str) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/whoami",
        "HTTP_COOKIE": cookie,
        "HTTP_ACCEPT": "text/html",
        "wsgi.input": io.BytesIO(),
    }
    wsgiref.util.setup_testing_defaults(environ)
    return environ


@pytest.fixture
def fast_thread_switching() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # make every race as likely as possible
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("fast_thread_switching")
def test_14_caches_are_safe_under_threads(clock: FakeClock) -> None:
    mw = OktaMagicLinkWSGI(wsgi_echo_app, make_settings(), clock=clock)
    cookies = []
    for i in range(3000):
        _, header = mw.core.sessions.mint({"sub": f"00u{i}"}, None, clock())
        cookies.append(header.split(";")[0])

    def call(cookie: str) -> str:
        status: list[str] = []
        b"".join(mw(_environ(cookie), lambda s, h, e=None: status.append(s)))
        return status[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        statuses = list(pool.map(call, cookies * 2))
    assert statuses == ["200 OK"] * 6000
    assert mw.core.sessions.cache_size <= 1024


# -- item 16: websockets from another origin ----------------------------------------------------


def _ws_session(mw: OktaMagicLink, clock: FakeClock) -> bytes:
    claims = {"sub": "00u-ada", "name": "Ada Lovelace"}
    _, header = mw.core.sessions.mint(claims, None, clock())
    return header.split(";")[0].encode()


@pytest.mark.parametrize(
    "origin",
    [b"https://evil.example", b"https://sub.app.example", b"http://app.example", b"null"],
)
def test_16_websocket_from_another_origin_is_closed(clock: FakeClock, origin: bytes) -> None:
    mw = OktaMagicLink(_ws_app(), make_settings(), clock=clock)
    headers = [(b"cookie", _ws_session(mw, clock)), (b"origin", origin)]
    assert anyio.run(_websocket, mw, "/ws", headers) == [{"type": "websocket.close", "code": 1008}]
    # On a public path the socket opens, but without the session.
    sent = anyio.run(_websocket, mw, "/public/ws", headers)
    assert sent[0]["type"] == "websocket.accept"
    assert sent[1]["text"].startswith("|False|")


@pytest.mark.parametrize(
    ("origin", "extra"),
    [
        (APP_ORIGIN.encode(), ()),
        (b"https://admin.example", ("https://admin.example",)),
        (None, ()),  # not a browser: no Origin, and no way to be forged into a cookie
    ],
)
def test_16_websocket_from_an_allowed_origin_gets_the_user(
    clock: FakeClock, origin: bytes | None, extra: tuple[str, ...]
) -> None:
    mw = OktaMagicLink(_ws_app(), make_settings(websocket_origins=extra), clock=clock)
    headers = [(b"cookie", _ws_session(mw, clock))]
    if origin is not None:
        headers.append((b"origin", origin))
    sent = anyio.run(_websocket, mw, "/ws", headers)
    assert sent[0]["type"] == "websocket.accept"
    assert sent[1]["text"].startswith("Ada Lovelace|True|")


@pytest.mark.parametrize("bad", ["admin.example", "https://a.example/path", "ftp://a.example", ""])
def test_16_websocket_origins_must_be_origins(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="websocket_origins"):
        make_settings(websocket_origins=(bad,))
    with pytest.raises(ConfigurationError, match="websocket_origins"):
        make_settings(websocket_origins="https://a.example")


def test_16_cross_origin_without_a_cookie_is_refused_quietly(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # A complete configuration, so the only records are the refusal's (no startup advice).
    settings = make_settings(post_logout_redirect_uri=APP_ORIGIN)
    mw = OktaMagicLink(_ws_app(), settings, clock=clock)
    with caplog.at_level(logging.INFO, logger="okta_magiclink_mw"):
        sent = anyio.run(_websocket, mw, "/ws", [(b"origin", b"https://evil.example")])
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert caplog.records == []


def test_16_cross_origin_refusal_is_logged(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # A complete configuration, so the only records are the refusal's (no startup advice).
    settings = make_settings(post_logout_redirect_uri=APP_ORIGIN)
    mw = OktaMagicLink(_ws_app(), settings, clock=clock)
    cookie = _ws_session(mw, clock)
    with caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"):
        anyio.run(
            _websocket, mw, "/ws", [(b"cookie", cookie), (b"origin", b"https://evil.example")]
        )
    assert [r.event for r in caplog.records] == ["websocket.cross_origin"]  # type: ignore[attr-defined]
    assert cookie.decode().split("=", 1)[1] not in caplog.text


# -- item 20: an expired session does not turn a form POST into raw JSON ----------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin", "accept": "text/html"},
        {"accept": "text/html,application/xhtml+xml"},  # an older browser: no fetch metadata
    ],
)
def test_20_form_post_without_session_goes_to_sign_in_and_back(
    client: Browser, okta: FakeOkta, headers: dict[str, str]
) -> None:
    r = client.post(
        "/notes/save",
        data={"text": "what I typed"},
        headers={**headers, "referer": f"{APP_ORIGIN}/notes/edit?id=7"},
    )
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/login?state=")
    state = dict(parse_qsl(urlsplit(location).query))["state"]
    held = client.core.transactions.load(
        [c.value for c in client.cookies.jar if c.name == TXN], client.core.clock()
    )
    assert held[state].return_to == "/notes/edit?id=7"
    # And the sign-in ends on that page.
    page = client.get(location, headers=NAV)
    config = {"state": state, **_config_of(page.text)}
    done = client.get(callback_url(config, okta.issue_code(config)), headers=NAV)
    assert done.status_code == 302
    assert done.headers["location"] == "/notes/edit?id=7"


def _config_of(html: str) -> dict[str, Any]:
    from tests.conftest import widget_config

    return widget_config(html)


@pytest.mark.parametrize(
    "referer",
    [
        "https://evil.example/notes/edit",
        "http://app.example/notes/edit",  # another scheme is another origin
        "",
        "https://app.example/login?state=x",  # our own pages are never a return target
        "https://app.example//evil.example/x",
        "not a url at all \x00",
        "https://[bad",  # not even parseable
    ],
)
def test_20_form_post_returns_to_root_without_a_safe_referer(client: Browser, referer: str) -> None:
    r = client.post("/notes/save", headers={"accept": "text/html", "referer": referer})
    assert r.status_code == 303
    state = dict(parse_qsl(urlsplit(r.headers["location"]).query))["state"]
    held = client.core.transactions.load(
        [c.value for c in client.cookies.jar if c.name == TXN], client.core.clock()
    )
    assert held[state].return_to == "/"


@pytest.mark.parametrize(
    "headers",
    [
        {"accept": "application/json"},
        {"accept": "*/*"},
        {"sec-fetch-mode": "cors", "accept": "text/html"},
        {"sec-fetch-mode": "same-origin"},
        {"x-requested-with": "XMLHttpRequest", "accept": "text/html"},
    ],
)
def test_20_api_calls_keep_their_401(client: Browser, headers: dict[str, str]) -> None:
    r = client.post("/api/notes", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthenticated"


def test_module_constants_are_the_deployment_under_test() -> None:
    # The binding tests above mean something only if both deployments share the secret.
    assert make_settings().secret_keys == (SECRET_NEW,)
    assert (make_settings().issuer, make_settings().client_id) == (ISSUER, CLIENT_ID)
