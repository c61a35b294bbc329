"""The authenticated fast path, the session cache keyed by MAC, and the rules added with them
(stale cookies cleared at /login, Referer as the last CSRF signal, Secure needs https)."""

from __future__ import annotations

from typing import Any

import pytest

from okta_magiclink_mw import ConfigurationError
from okta_magiclink_mw._cookies import cookie_values
from okta_magiclink_mw._flow import MagicLinkCore, PassThrough, RequestFacts, Respond
from tests.conftest import FakeClock, make_settings
from tests.unit.test_sessions import CLAIMS, NOW, manager, value_of

SESSION = "__Host-omw_session"


@pytest.fixture
def core(clock: FakeClock) -> MagicLinkCore:
    return MagicLinkCore(make_settings(), clock=clock)


def session_pair(core: MagicLinkCore, id_token: str | None = "id.token.value") -> str:
    _, header = core.sessions.mint({"sub": "00u1", "name": "Ada"}, id_token, core.clock())
    return header.split(";")[0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", []),
        ("s=1", ["1"]),
        ("a=b; s=1; c=d", ["1"]),
        ("a=b;s=1", ["1"]),
        ("s=1; s=2", ["1", "2"]),
        ("=s=evil; xs=evil; s_x=evil", []),  # nameless, longer names: never a match
        ("s= 1 ", ["1"]),
        ("; ".join(["s=v"] * 10), ["v"] * 4),  # bounded
    ],
)
def test_cookie_values(header: str, expected: list[str]) -> None:
    assert cookie_values(header, "s") == expected


def test_signed_in_agrees_with_decide(core: MagicLinkCore) -> None:
    cookie = session_pair(core)
    fast = core.signed_in("/reports", cookie)
    assert isinstance(fast, PassThrough)
    assert fast.user.display_name == "Ada"
    assert fast.set_cookies == ()
    full = core.decide(RequestFacts("GET", "/reports", "", cookie))
    assert isinstance(full, PassThrough)
    assert full.user.identity == fast.user.identity


@pytest.mark.parametrize("path", ["/login", "/login/callback", "/logout"])
def test_signed_in_never_answers_for_own_paths(core: MagicLinkCore, path: str) -> None:
    assert core.signed_in(path, session_pair(core)) is None


def test_signed_in_without_a_live_session(core: MagicLinkCore) -> None:
    assert core.signed_in("/r", "") is None
    assert core.signed_in("/r", "other=1") is None
    assert core.signed_in("/r", f"{SESSION}=forged.value.sig") is None


def test_cache_keeps_no_id_token_but_logout_gets_it(core: MagicLinkCore) -> None:
    cookie = session_pair(core)
    value = cookie.split("=", 1)[1]
    core.sessions.read([value], core.clock())
    cached = next(iter(core.sessions._cache.values()))[0]
    assert cached.sealed_id_token is None
    full, _ = core.sessions.read([value], core.clock(), with_id_token=True)
    assert full is not None
    assert core.sessions.id_token(full) == "id.token.value"


def test_forged_payload_with_a_known_mac_gets_no_id_token_or_refresh() -> None:
    m = manager()
    _, header = m.mint(CLAIMS, "idt", NOW)
    value = value_of(header)
    assert m.read([value], NOW)[0] is not None  # now cached under its MAC
    payload, _, mac = value.rpartition(".")
    forged = f"X{payload[1:]}.{mac}"
    assert m.read([forged], NOW, with_id_token=True) == (None, None)
    assert m.read([forged], NOW + 1000) == (None, None)  # a refresh re-verifies too


def test_refresh_keeps_the_id_token() -> None:
    m = manager()
    _, header = m.mint(CLAIMS, "idt", NOW)
    m.read([value_of(header)], NOW)
    fresh, reissued = m.read([value_of(header)], NOW + 400)
    assert fresh is not None
    assert reissued is not None
    again, _ = m.read([value_of(reissued)], NOW + 401, with_id_token=True)
    assert again is not None
    assert m.id_token(again) == "idt"


def test_login_page_clears_a_stale_session_cookie(core: MagicLinkCore) -> None:
    decision = core.decide(RequestFacts("GET", "/login", "", f"{SESSION}=stale.value.sig"))
    assert isinstance(decision, Respond)
    cookies = [v for k, v in decision.headers if k == "set-cookie"]
    assert any(c.startswith(f"{SESSION}=") and "Max-Age=0" in c for c in cookies)


@pytest.mark.parametrize(
    ("referer", "status"),
    [("https://app.example/page", 303), ("https://evil.example/page", 403)],
)
def test_logout_falls_back_to_referer(core: MagicLinkCore, referer: str, status: int) -> None:
    facts = RequestFacts("POST", "/logout", "", session_pair(core), referer=referer)
    decision = core.decide(facts)
    assert isinstance(decision, Respond)
    assert decision.status == status


def test_secure_cookies_need_https() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        make_settings(redirect_uri="http://app.example/login/callback", cookie_secure=True)
    local: Any = make_settings(redirect_uri="http://localhost:8000/cb", cookie_secure=True)
    assert local.session_cookie_name == SESSION


def test_okta_description_is_printable_and_bounded() -> None:
    from okta_magiclink_mw._callback import _printable

    assert _printable("a\nb\x00c") == "abc"
    long = _printable("x" * 500)
    assert len(long) == 200
    assert long.endswith("…")
