"""Login transactions: PKCE, TTL, eviction, the cookie budget (R1, R2, R25, R35)."""

from __future__ import annotations

from typing import Any

import pytest

from okta_magiclink_mw._cookies import CookieCodec, fits
from okta_magiclink_mw._transactions import Transaction, TransactionJar, _decode, _encode

NOW = 1_800_000_000.0


def jar(max_count: int = 5, ttl: float = 900) -> TransactionJar:
    codec = CookieCodec(["k" * 32], name="__Host-t", purpose="transaction")
    return TransactionJar(codec, ttl=ttl, max_count=max_count, secure=True)


def value_of(header: str) -> str:
    return header.split(";")[0].split("=", 1)[1]


def test_start_is_random_and_strong() -> None:
    a, b = Transaction.start("/x", NOW), Transaction.start("/x", NOW)
    assert a.state != b.state
    assert a.nonce != b.nonce
    assert a.code_verifier != b.code_verifier
    assert len(a.state) >= 43
    assert len(a.code_verifier) >= 43
    assert a.return_to == "/x"
    assert a.created_at == NOW


def test_code_challenge_rfc7636_vector() -> None:
    txn = Transaction("s", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "n", "/", NOW)
    assert txn.code_challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(
    ("offset", "expired"), [(-61, True), (-60, False), (0, False), (899, False), (900, True)]
)
def test_expired(offset: float, expired: bool) -> None:
    assert Transaction("s", "v", "n", "/", NOW).expired(NOW + offset, 900) is expired


def test_round_trip_and_find() -> None:
    j = jar()
    t1, t2 = Transaction.start("/a", NOW), Transaction.start("/b", NOW + 1)
    header = j.dump({t1.state: t1, t2.state: t2}, NOW + 1)
    assert header.startswith("__Host-t=")
    held = j.load([value_of(header)], NOW + 2)
    assert held == {t1.state: t1, t2.state: t2}
    assert j.find(held, t1.state, NOW + 2) == t1
    assert j.find(held, "nope", NOW + 2) is None
    assert j.find(held, t1.state, NOW + 1000) is None  # expired
    assert j.cookie_name == "__Host-t"


def test_dump_empty_clears() -> None:
    header = jar().dump({}, NOW)
    assert header.startswith("__Host-t=")
    assert "Max-Age=0" in header


def test_dump_keeps_newest_max_count() -> None:
    j = jar(max_count=2)
    txns = [Transaction.start(f"/{i}", NOW + i) for i in range(4)]
    header = j.dump({t.state: t for t in txns}, NOW + 4)
    held = j.load([value_of(header)], NOW + 4)
    assert {t.return_to for t in held.values()} == {"/2", "/3"}


def test_dump_drops_expired() -> None:
    j = jar()
    old, new = Transaction.start("/old", NOW), Transaction.start("/new", NOW + 900)
    held = j.load([value_of(j.dump({old.state: old, new.state: new}, NOW + 900))], NOW + 900)
    assert [t.return_to for t in held.values()] == ["/new"]


def test_dump_evicts_until_it_fits() -> None:
    j = jar(max_count=20)
    import secrets

    txns = [Transaction.start("/" + secrets.token_urlsafe(300), NOW + i) for i in range(12)]
    header = j.dump({t.state: t for t in txns}, NOW + 12)
    assert fits(header)
    held = j.load([value_of(header)], NOW + 12)
    assert 0 < len(held) < 12
    assert txns[-1].state in held  # the newest survives


@pytest.mark.parametrize(
    "payload",
    [
        {"not": "a list"},
        ["not a txn"],
        [["s", "v", "n", "/"]],
        [["s", "v", "n", 5, 1.0]],
        [["s", "v", "n", "/", "time"]],
        [["s", "v", "n", "/", True]],
    ],
)
def test_load_ignores_malformed(payload: Any) -> None:
    codec = CookieCodec(["k" * 32], name="__Host-t", purpose="transaction")
    assert jar().load([codec.dumps(payload)], NOW) == {}


def test_load_ignores_foreign_values() -> None:
    assert jar().load(["forged", ""], NOW) == {}


def test_encode_decode() -> None:
    t = Transaction("s", "v", "n", "/r", NOW + 0.1234)
    assert _decode(_encode(t)) == Transaction("s", "v", "n", "/r", round(NOW + 0.1234, 3))
    assert _decode(["s", "v", "n", "/r", 5]) == Transaction("s", "v", "n", "/r", 5.0)
