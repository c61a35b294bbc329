"""The signed cookie codec and the Cookie header reader (R24, R25, R26)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from okta_magiclink_mw._cookies import (
    CookieCodec,
    delete_cookie_header,
    fits,
    read_cookies,
    set_cookie_header,
)

KEY_OLD = "k-old-" + "o" * 32
KEY_NEW = "k-new-" + "n" * 32


def codec(keys: Any = (KEY_NEW,), name: str = "c", purpose: str = "session") -> CookieCodec:
    return CookieCodec(list(keys), name=name, purpose=purpose)


def test_round_trip() -> None:
    c = codec()
    value = c.dumps({"a": [1, "x"]})
    assert c.loads(value, max_age=60) == ({"a": [1, "x"]}, False)


def test_bytes_keys_work() -> None:
    c = CookieCodec([KEY_NEW.encode()], name="c", purpose="session")
    assert c.loads(c.dumps(1), max_age=60) == (1, False)


def test_purpose_and_name_are_bound() -> None:
    value = codec().dumps("x")
    assert codec(purpose="transaction").loads(value, max_age=60) is None
    assert codec(name="other").loads(value, max_age=60) is None


def test_rotation_reports_old_key() -> None:
    old_value = codec([KEY_OLD]).dumps("x")
    rotated = codec([KEY_OLD, KEY_NEW])
    assert rotated.loads(old_value, max_age=60) == ("x", True)
    new_value = rotated.dumps("x")
    assert codec([KEY_NEW]).loads(new_value, max_age=60) == ("x", False)
    assert codec([KEY_NEW]).loads(old_value, max_age=60) is None


@pytest.mark.parametrize("value", ["", "garbage", "a.b.c", "\\" * 100, "é"])
def test_garbage_is_none(value: str) -> None:
    assert codec().loads(value, max_age=60) is None


def test_tampered_is_none() -> None:
    value = codec().dumps({"sub": "x"})
    flipped = value[:5] + ("A" if value[5] != "A" else "B") + value[6:]
    assert codec().loads(flipped, max_age=60) is None


def test_expired_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    c = codec()
    value = c.dumps("x")
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    assert c.loads(value, max_age=60) is None


def test_unexpected_error_in_fallback_is_none() -> None:
    """Defensive: whatever the fallback verifier raises, a bad cookie is "no cookie"."""
    c = codec()

    class Boom:
        def loads(self, value: str, max_age: int) -> Any:
            raise RuntimeError("boom")

    c._all = Boom()  # type: ignore[assignment]
    assert c.loads("x.y.z", max_age=60) is None


def test_read_cookies_selects_names() -> None:
    names = frozenset({"a", "b"})
    got = read_cookies(" a=1; b=2 ; c=3; a=4; =a=5; novalue; a", names)
    assert got == {"a": ["1", "4"], "b": ["2"]}
    # A name written with space before "=" is not the name as written: refused.
    assert read_cookies("b =2", names) == {}


def test_read_cookies_is_bounded() -> None:
    names = frozenset({"late"})
    header = "x=" + "v" * 16_384 + "; late=1"  # the limit as a literal, on purpose
    assert read_cookies(header, names) == {}
    assert read_cookies("late=1; " + "; ".join(f"c{i}=v" for i in range(100)), names) == {
        "late": ["1"]
    }


def test_set_cookie_header_attributes() -> None:
    h = set_cookie_header("__Host-x", "v", max_age=10, secure=True)
    parts = h.split("; ")
    assert parts[0] == "__Host-x=v"
    assert set(parts[1:]) == {"HttpOnly", "Max-Age=10", "Path=/", "SameSite=Lax", "Secure"}
    assert "Secure" not in set_cookie_header("x", "v", max_age=10, secure=False)


def test_delete_cookie_header() -> None:
    h = delete_cookie_header("x", secure=True)
    assert "Max-Age=0" in h
    assert "expires=Thu, 01 Jan 1970" in h
    assert "Secure" in h


def test_fits() -> None:
    assert fits("a" * (4096 - len("Set-Cookie: ")))
    assert not fits("a" * (4097 - len("Set-Cookie: ")))
