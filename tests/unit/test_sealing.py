"""Sealed values (security issue, item 8): the ID token rides in the cookie unreadable."""

from __future__ import annotations

import base64

import pytest

from okta_magiclink_mw._sealing import Sealer

OLD, NEW = "o" * 32, "n" * 32


def test_round_trip_and_nothing_readable() -> None:
    sealer = Sealer([NEW], purpose="id_token")
    sealed = sealer.seal(b"header.payload.signature", b"sid-1")
    assert b"payload" not in base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    assert sealer.open(sealed, b"sid-1") == b"header.payload.signature"
    assert sealer.seal(b"x", b"sid-1") != sealer.seal(b"x", b"sid-1")  # a fresh nonce


def test_bound_to_purpose_session_and_keys() -> None:
    sealed = Sealer([NEW], purpose="id_token").seal(b"secret", b"sid-1")
    assert Sealer([NEW], purpose="id_token").open(sealed, b"sid-2") is None
    assert Sealer([NEW], purpose="other").open(sealed, b"sid-1") is None
    assert Sealer([OLD], purpose="id_token").open(sealed, b"sid-1") is None


def test_key_rotation_newest_seals_all_open() -> None:
    old = Sealer([OLD], purpose="p").seal(b"v", b"a")
    rotated = Sealer([OLD, NEW], purpose="p")
    assert rotated.open(old, b"a") == b"v"
    assert Sealer([NEW], purpose="p").open(rotated.seal(b"v", b"a"), b"a") == b"v"


@pytest.mark.parametrize("garbage", ["", "a", "!!!!", "A" * 15, "A" * 16, "é"])
def test_garbage_opens_to_nothing(garbage: str) -> None:
    assert Sealer([NEW], purpose="p").open(garbage, b"a") is None


def test_tampering_is_detected() -> None:
    sealer = Sealer([NEW], purpose="p")
    raw = bytearray(base64.urlsafe_b64decode(sealer.seal(b"value", b"a") + "=="))
    raw[-1] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert sealer.open(tampered, b"a") is None
