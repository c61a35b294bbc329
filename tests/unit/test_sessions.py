"""Sessions: minting, reading, timeouts, revocation, size (R19-R21, R24, R25)."""

from __future__ import annotations

import json
import secrets
import zlib
from dataclasses import replace
from typing import Any

import pytest

from okta_magiclink_mw import InMemorySessionStore, SessionStore
from okta_magiclink_mw._cookies import CookieCodec, fits
from okta_magiclink_mw._sealing import Sealer
from okta_magiclink_mw._sessions import Session, SessionManager
from okta_magiclink_mw.errors import IdentityProviderError

NOW = 1_800_000_000.0
CLAIMS = {
    "sub": "00u1",
    "email": "a@example.com",
    "email_verified": True,
    "name": "Ada",
    "nonce": "n",
    "iss": "i",
}


def manager(**kw: Any) -> SessionManager:
    keys = kw.pop("keys", ["s" * 32])
    codec = CookieCodec(keys, name="__Host-s", purpose="session")
    options: dict[str, Any] = {
        "sealer": Sealer(keys, purpose="id_token"),
        "max_age": 8 * 3600,
        "idle_timeout": 3600,
        "leeway": 60,
        "secure": True,
        "store": InMemorySessionStore(),
    }
    options.update(kw)
    return SessionManager(codec, **options)


def value_of(header: str) -> str:
    return header.split(";")[0].split("=", 1)[1]


def test_mint_is_fresh_and_drops_protocol_claims() -> None:
    m = manager()
    s1, h1 = m.mint(CLAIMS, "idt", NOW)
    s2, _ = m.mint(CLAIMS, "idt", NOW)
    assert s1.session_id != s2.session_id
    assert len(s1.session_id) >= 22
    assert dict(s1.claims) == {
        "sub": "00u1",
        "email": "a@example.com",
        "email_verified": True,
        "name": "Ada",
    }
    assert s1.user.email == "a@example.com"
    assert "HttpOnly" in h1
    assert "Secure" in h1
    assert f"Max-Age={8 * 3600}" in h1
    assert m.cookie_name == "__Host-s"


def test_read_live_session_without_reissue() -> None:
    m = manager()
    _, header = m.mint(CLAIMS, "idt", NOW)
    session, refreshed = m.read([value_of(header)], NOW + 10)
    assert session is not None
    assert refreshed is None
    assert session.sealed_id_token is None  # the hot path carries no id_token
    session, refreshed = m.read([value_of(header)], NOW + 10, with_id_token=True)
    assert session is not None
    assert m.id_token(session) == "idt"
    assert refreshed is None
    assert m.cache_size == 1
    m.read([value_of(header)], NOW + 11)
    assert m.cache_size == 1  # verified once per value


def test_refresh_moves_last_seen() -> None:
    m = manager()
    _, header = m.mint(CLAIMS, None, NOW)
    session, refreshed = m.read([value_of(header)], NOW + 301)
    assert session is not None
    assert session.last_seen == NOW + 301
    assert refreshed is not None
    again, _ = m.read([value_of(refreshed)], NOW + 302)
    assert again is not None
    assert again.session_id == session.session_id
    assert again.issued_at == NOW


@pytest.mark.parametrize(
    ("offset", "alive"),
    [(3599, True), (3601, False), (-61, False), (-59, True)],
)
def test_idle_and_future(offset: float, alive: bool) -> None:
    m = manager()
    _, header = m.mint(CLAIMS, None, NOW)
    session, _ = m.read([value_of(header)], NOW + offset)
    assert (session is not None) is alive


def test_absolute_timeout() -> None:
    m = manager(max_age=3600, idle_timeout=3000)
    _, header = m.mint(CLAIMS, None, NOW)
    value = value_of(header)
    for t in (2900, 3500):
        session, refreshed = m.read([value], NOW + t)
        assert session is not None
        value = value_of(refreshed) if refreshed else value
    assert m.read([value], NOW + 3601) == (None, None)


def test_old_key_is_reissued_with_newest() -> None:
    old = manager(keys=["o" * 32])
    _, header = old.mint(CLAIMS, None, NOW)
    rotated = manager(keys=["o" * 32, "n" * 32])
    session, refreshed = rotated.read([value_of(header)], NOW + 1)
    assert session is not None
    assert refreshed is not None
    assert manager(keys=["n" * 32]).read([value_of(refreshed)], NOW + 2)[0] is not None


def test_revocation() -> None:
    store = InMemorySessionStore()
    m = manager(store=store)
    session, header = m.mint(CLAIMS, None, NOW)
    m.revoke(session)
    assert store.is_revoked(session.session_id)
    assert store._revoked[session.session_id] == NOW + 8 * 3600 + 60
    assert m.read([value_of(header)], NOW + 1) == (None, None)


def test_store_is_bounded_oldest_first() -> None:
    store = InMemorySessionStore(max_entries=2)
    for sid in ("a", "b", "c"):
        store.revoke(sid, NOW)
    assert len(store) == 2
    assert not store.is_revoked("a")
    assert store.is_revoked("c")
    assert isinstance(store, SessionStore)


def test_custom_store_is_consulted() -> None:
    class DenyAll:
        def revoke(self, session_id: str, until: float) -> None:
            pass

        def is_revoked(self, session_id: str) -> bool:
            return True

    m = manager(store=DenyAll())
    _, header = m.mint(CLAIMS, None, NOW)
    assert m.read([value_of(header)], NOW) == (None, None)


def test_first_valid_value_wins() -> None:
    m = manager()
    _, header = m.mint(CLAIMS, None, NOW)
    session, _ = m.read(["forged", "", value_of(header)], NOW)
    assert session is not None


@pytest.mark.parametrize(
    "payload",
    [
        "string",
        {"sid": 1, "iat": 1, "seen": 1, "u": {"sub": "x"}},
        {"sid": "s", "iat": 1, "seen": 1, "u": []},
        {"sid": "s", "iat": "1", "seen": 1, "u": {"sub": "x"}},
        {"sid": "s", "iat": 1, "seen": 1.5, "u": {"sub": "x"}},
        {"sid": "s", "iat": 1, "seen": 1, "u": {"sub": 5}},
        {"sid": "s", "iat": 1, "seen": 1, "u": {"sub": "x"}, "idt": 5},
    ],
)
def test_malformed_payloads_are_refused(payload: Any) -> None:
    assert Session.from_payload(payload) is None
    codec = CookieCodec(["s" * 32], name="__Host-s", purpose="session")
    assert manager().read([codec.dumps(payload)], NOW) == (None, None)


def test_cache_is_bounded() -> None:
    m = manager()
    values = [value_of(m.mint({"sub": f"u{i}"}, None, NOW)[1]) for i in range(1030)]
    for v in values:
        assert m.read([v], NOW)[0] is not None
    assert m.cache_size == 1024


def test_large_claims_shrink_to_fit() -> None:
    m = manager()
    groups = [secrets.token_urlsafe(24) for _ in range(200)]
    big_token = secrets.token_urlsafe(1500)
    _, header = m.mint({**CLAIMS, "groups": groups}, big_token, NOW)
    assert fits(header)
    read, _ = m.read([value_of(header)], NOW)
    assert read is not None
    assert read.sealed_id_token is None
    assert "groups" not in read.claims
    assert read.claims["sub"] == "00u1"
    # Only the id_token too big: it goes, the claims stay.
    _, header = m.mint({**CLAIMS, "groups": groups[:5]}, secrets.token_urlsafe(3500), NOW)
    read, _ = m.read([value_of(header)], NOW)
    assert read is not None
    assert read.sealed_id_token is None
    assert len(read.claims["groups"]) == 5


def test_groups_stay_when_other_claims_are_trimmed() -> None:
    groups = [f"group-{i}" for i in range(40)]
    filler = {f"claim{i}": secrets.token_urlsafe(40) for i in range(150)}
    _, header = manager(keep_groups=True).mint({**CLAIMS, **filler, "groups": groups}, None, NOW)
    read, _ = manager().read([value_of(header)], NOW)
    assert read is not None
    assert "claim0" not in read.claims
    assert list(read.claims["groups"]) == groups
    assert read.user.groups == frozenset(groups)


def test_groups_the_rules_need_are_never_dropped(caplog: pytest.LogCaptureFixture) -> None:
    groups = [secrets.token_urlsafe(24) for _ in range(200)]
    with pytest.raises(IdentityProviderError) as info:
        manager(keep_groups=True).mint({**CLAIMS, "groups": groups}, None, NOW)
    assert info.value.code == "session_too_large"
    assert [r.event for r in caplog.records] == ["session.groups_too_large"]  # type: ignore[attr-defined]
    caplog.clear()
    manager().mint({**CLAIMS, "groups": groups}, None, NOW)  # no rule needs them: dropped
    assert [r.event for r in caplog.records] == ["session.groups_dropped"]  # type: ignore[attr-defined]


def test_too_large_even_when_trimmed_is_a_sign_in_error() -> None:
    with pytest.raises(IdentityProviderError) as info:
        manager().mint({"sub": secrets.token_urlsafe(4000)}, None, NOW)
    assert info.value.status == 502
    assert info.value.code == "session_too_large"


def test_payload_never_holds_access_tokens() -> None:
    session, _ = manager().mint(CLAIMS, "idt", NOW)
    payload = session.to_payload()
    assert set(payload) == {"sid", "iat", "seen", "u", "idt"}
    assert "access_token" not in json.dumps(payload)
    session, _ = manager().mint(CLAIMS, None, NOW)
    assert "idt" not in session.to_payload()


def test_sealed_id_token_is_compressed_and_bounded() -> None:
    m = manager()
    token = "eyJhbGciOiJSUzI1NiJ9." + "eyJzdWIiOiIwMHUxIn0" * 40 + ".c2ln"
    session, _ = m.mint(CLAIMS, token, NOW)
    assert session.sealed_id_token is not None
    assert len(session.sealed_id_token) < len(token) // 2
    assert m.id_token(session) == token
    # Whatever was sealed, opening never inflates past 16 KB or accepts a cut stream.
    sealer = Sealer(["s" * 32], purpose="id_token")
    aad = session.session_id.encode()
    for plain in (zlib.compress(b"x" * 100_000), zlib.compress(b"header.payload.sig")[:-3]):
        forged = replace(session, sealed_id_token=sealer.seal(plain, aad))
        assert m.id_token(forged) is None
    assert m.id_token(replace(session, sealed_id_token="not-sealed-by-us")) is None
