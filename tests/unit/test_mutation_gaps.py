"""Tests that kill mutants the rest of the suite let survive (``make mutation``).

Each section names the weakening change it catches. They go through public behaviour
(CookieCodec, SessionManager.mint/read, TransactionJar, read_cookies, safe_return_target)
and put limits and boundaries in as literal numbers, so a changed limit fails them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from okta_magiclink_mw._cookies import CookieCodec, cookie_values, fits, read_cookies
from okta_magiclink_mw._query import parse_query
from okta_magiclink_mw._redirects import safe_return_target
from okta_magiclink_mw._transactions import Transaction
from tests.conftest import FakeClock
from tests.unit.test_sessions import CLAIMS, NOW, manager, value_of
from tests.unit.test_transactions import jar

OWN_PATHS = ("/login", "/login/callback", "/logout")
KEY = "k-" + "s" * 32

# -- the cookie MAC is HMAC-SHA256 over an HMAC-derived key (R24) -----------------------------
# Mutant: CookieCodec's signer_kwargs dropped (or one serializer built without them), so
# itsdangerous's defaults sign or verify: HMAC-SHA1 with "django-concat" key derivation.


def _salt_of(codec: CookieCodec) -> bytes:
    # Read from the codec rather than rebuilt from its format: the salt may come to bind
    # more than purpose and name, and these tests are about the algorithm, not the salt.
    salt = codec._newest.salt
    assert isinstance(salt, bytes)
    assert salt
    return salt


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_cookie_mac_is_hmac_sha256_with_hmac_key_derivation() -> None:
    codec = CookieCodec([KEY], name="__Host-s", purpose="session")
    value = codec.dumps({"k": "v"})
    signed, _, mac = value.rpartition(".")
    # 32 bytes of HMAC-SHA256 are 43 base64url characters (SHA-1 would be 27).
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", mac)
    derived = hmac.new(KEY.encode(), _salt_of(codec), hashlib.sha256).digest()
    assert mac == _b64(hmac.new(derived, signed.encode(), hashlib.sha256).digest())


def _itsdangerous_value(codec: CookieCodec, **signer: Any) -> str:
    """``{"k": "v"}`` signed by itsdangerous itself with ``KEY`` and the codec's salt."""
    serializer = URLSafeTimedSerializer(KEY, salt=_salt_of(codec), signer_kwargs=signer)
    value = serializer.dumps({"k": "v"})
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize(
    "signer",
    [
        pytest.param({}, id="itsdangerous-defaults-sha1-django-concat"),
        pytest.param({"digest_method": hashlib.sha1, "key_derivation": "hmac"}, id="sha1"),
        pytest.param({"digest_method": hashlib.sha256}, id="sha256-django-concat"),
        pytest.param(
            {"digest_method": hashlib.sha256, "key_derivation": "concat"}, id="sha256-concat"
        ),
    ],
)
@pytest.mark.parametrize("rotated", [False, True], ids=["newest-key", "older-key"])
def test_values_signed_another_way_are_rejected(signer: dict[str, Any], rotated: bool) -> None:
    # With rotation, KEY is the older key: checked by the verify-all serializer, not the newest.
    keys = [KEY, "k-newer-" + "n" * 32] if rotated else [KEY]
    codec = CookieCodec(keys, name="__Host-s", purpose="session")
    assert codec.loads(_itsdangerous_value(codec, **signer), max_age=60) is None


@pytest.mark.parametrize("rotated", [False, True], ids=["newest-key", "older-key"])
def test_value_signed_the_same_way_is_accepted(rotated: bool) -> None:
    """The positive control of the test above: same key, salt and algorithm verify."""
    keys = [KEY, "k-newer-" + "n" * 32] if rotated else [KEY]
    codec = CookieCodec(keys, name="__Host-s", purpose="session")
    value = _itsdangerous_value(codec, digest_method=hashlib.sha256, key_derivation="hmac")
    assert codec.loads(value, max_age=60) == ({"k": "v"}, rotated)


# -- return targets with more than one "?" or ";" (R10) ----------------------------------------
# Mutants: target.split("?", 1) -> rsplit, segment.split(";", 1) -> rsplit in _redirects.


@pytest.mark.parametrize(
    "target", ["/login?a?b", "/logout?x=1?y", "/login/callback?state=s?otp=123456"]
)
def test_own_path_with_two_question_marks_is_forbidden(target: str) -> None:
    assert safe_return_target(target, forbidden_paths=OWN_PATHS) == "/"


@pytest.mark.parametrize("target", ["/x/..;a;b/y", "/..;a;b", "/x/.;a;b/y", "/x/..;a;b;c"])
def test_dot_segment_with_several_parameters_is_rejected(target: str) -> None:
    assert safe_return_target(target, forbidden_paths=OWN_PATHS) == "/"


@pytest.mark.parametrize("target", ["/search?q=a?b", "/x;a;b/y", "/x/..a;b/y", "/x?next=/login"])
def test_legitimate_targets_with_several_separators_are_kept(target: str) -> None:
    assert safe_return_target(target, forbidden_paths=OWN_PATHS) == target


# -- a bad cookie value before a good one -------------------------------------------------------
# Mutant: "continue" -> "break" in the loops over cookie values / pairs.


def test_read_cookies_skips_a_nameless_pair_before_good_ones() -> None:
    got = read_cookies("junk; a=1; other; a=2", frozenset({"a"}))
    assert got == {"a": ["1", "2"]}


def test_session_read_skips_garbage_before_a_valid_value() -> None:
    m = manager()
    _, header = m.mint(CLAIMS, None, NOW)
    good = value_of(header)
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")  # a wrong MAC
    for values in (["garbage", good], [forged, good], ["", "x.y.z", good]):
        session, _ = m.read(values, NOW + 1)
        assert session is not None, values


def test_session_read_skips_a_dead_session_before_a_live_one() -> None:
    m = manager()
    revoked, revoked_header = m.mint(CLAIMS, None, NOW)
    m.revoke(revoked)
    _, old_header = m.mint(CLAIMS, None, NOW - 9 * 3600)  # past the absolute timeout
    live, live_header = m.mint(CLAIMS, None, NOW)
    values = [value_of(revoked_header), value_of(old_header), value_of(live_header)]
    session, _ = m.read(values, NOW + 1)
    assert session is not None
    assert session.session_id == live.session_id


def test_session_read_skips_a_forged_payload_under_a_cached_mac() -> None:
    """A value carrying a verified value's MAC on another payload hits the cache; when the
    payload is re-read (refresh, logout) it fails and the next value must still count."""
    m = manager()
    _, header = m.mint(CLAIMS, "idt", NOW)
    good = value_of(header)
    _, other_header = m.mint({"sub": "00u-mallory"}, None, NOW)
    spliced = value_of(other_header).rsplit(".", 1)[0] + "." + good.rsplit(".", 1)[1]
    assert m.read([good], NOW + 1)[0] is not None  # now cached under its MAC
    # Logout re-reads the payload for the id_token; a refresh does too (300 s on).
    for now, kwargs in ((NOW + 2, {"with_id_token": True}), (NOW + 400, {})):
        session, _ = m.read([spliced, good], now, **kwargs)
        assert session is not None
        assert session.user.identity == "00u1"
    assert m.read([spliced], NOW + 2, with_id_token=True) == (None, None)


def test_transactions_load_skips_garbage_before_a_valid_value() -> None:
    j = jar()
    txn = Transaction.start("/a", NOW)
    good = value_of(j.dump({txn.state: txn}, NOW))
    # Signed by this app, but for another purpose: never a transaction here.
    foreign = CookieCodec(["k" * 32], name="__Host-t", purpose="elsewhere").dumps([])
    for values in (["garbage", good], [good[:-2] + "zz", good], [foreign, good]):
        held = j.load(values, NOW + 1)
        assert held == {txn.state: txn}, values
        assert j.find(held, txn.state, NOW + 1) == txn


# -- session lifetime boundaries (R20, #57) ---------------------------------------------------
# Mutants: ">" -> ">=" (or the limit +/- 1) in SessionManager.read. The limit itself is still
# alive: a session dies only once it is *older* than max_age / idle for longer than idle.


@pytest.mark.parametrize(("offset", "alive"), [(7199, True), (7200, True), (7201, False)])
def test_absolute_timeout_boundary(offset: int, alive: bool) -> None:
    clock = FakeClock(NOW)
    # Idle longer than the absolute limit, so only the absolute limit is tested.
    m = manager(max_age=7200, idle_timeout=10_000)
    _, header = m.mint(CLAIMS, None, clock())
    clock.advance(offset)
    assert (m.read([value_of(header)], clock())[0] is not None) is alive


@pytest.mark.parametrize(("offset", "alive"), [(3599, True), (3600, True), (3601, False)])
def test_idle_timeout_boundary(offset: int, alive: bool) -> None:
    clock = FakeClock(NOW)
    m = manager(max_age=8 * 3600, idle_timeout=3600)
    _, header = m.mint(CLAIMS, None, clock())
    clock.advance(offset)
    assert (m.read([value_of(header)], clock())[0] is not None) is alive


@pytest.mark.parametrize(("offset", "alive"), [(-59, True), (-60, True), (-61, False)])
def test_issued_in_the_future_boundary(offset: int, alive: bool) -> None:
    """A session issued up to ``leeway`` (60 s) after the reader's clock is accepted."""
    clock = FakeClock(NOW)
    m = manager(leeway=60)
    _, header = m.mint(CLAIMS, None, clock())
    clock.advance(offset)
    assert (m.read([value_of(header)], clock())[0] is not None) is alive


@pytest.mark.parametrize(("offset", "refreshed"), [(299, False), (300, True), (301, True)])
def test_last_seen_refresh_boundary(offset: int, refreshed: bool) -> None:
    """last_seen moves forward from 300 s on (min(idle / 12, 300))."""
    clock = FakeClock(NOW)
    m = manager(idle_timeout=3600)
    _, header = m.mint(CLAIMS, None, clock())
    clock.advance(offset)
    session, reissued = m.read([value_of(header)], clock())
    assert session is not None
    assert (reissued is not None) is refreshed


# -- limits, as literal numbers ---------------------------------------------------------------
# Mutant / regression: a limit constant changed. Each limit is tested at its exact edge.


def test_cookie_header_is_read_up_to_16384_bytes() -> None:
    names = frozenset({"late"})
    pad = "x=" + "v" * (16_384 - len("; late=1") - 2)
    header = pad + "; late=1"
    assert len(header) == 16_384
    assert read_cookies(header, names) == {"late": ["1"]}
    # One byte more: only whole pairs within the first 16384 bytes are read, so the pair
    # that crosses the bound is not cut short (a value nobody sent): it is not read at all.
    assert read_cookies(header + "2", names) == {}
    assert read_cookies("v" + header, names) == {}


def test_many_pairs_are_read_within_the_byte_bound() -> None:
    names = frozenset({"late"})
    before = [f"c{i}=v" for i in range(200)]
    assert read_cookies("; ".join([*before, "late=1"]), names) == {"late": ["1"]}


def test_set_cookie_fits_in_4096_bytes() -> None:
    assert fits("a" * (4096 - 12))
    assert not fits("a" * (4096 - 11))


def test_session_cache_holds_1024_values() -> None:
    m = manager()
    for i in range(1025):
        m.read([value_of(m.mint({"sub": f"u{i}"}, None, NOW)[1])], NOW)
        assert m.cache_size == min(i + 1, 1024)


def test_query_limits_are_4096_bytes_and_16_fields() -> None:
    assert parse_query("x" * 4096) == {"x" * 4096: ""}
    fields = parse_query("&".join(f"k{i}=v" for i in range(16)))
    assert len(fields) == 16


# -- more survivors of the baseline run -------------------------------------------------------


@pytest.mark.parametrize("before", ["X", "a", "_", "-", "="])
def test_fast_path_needs_the_exact_cookie_name(before: str) -> None:
    """Mutant: the "starts the header or follows ; or a space" check widened. A cookie
    whose name merely ends in ours (``X__Host-s``, settable without the ``__Host-`` rules)
    must never be read as ours."""
    assert cookie_values(f"{before}__Host-s=v", "__Host-s") == []
    assert cookie_values(f"a=1; {before}__Host-s=v", "__Host-s") == []
    assert cookie_values("a=1;\t__Host-s=v; b=2", "__Host-s") == ["v"]
    assert cookie_values("__Host-s=v", "__Host-s") == ["v"]


@pytest.mark.parametrize(("age", "alive"), [(8 * 3600 + 60 - 5, True), (8 * 3600 + 60 + 5, False)])
def test_session_signature_older_than_max_age_plus_leeway_is_refused(
    monkeypatch: pytest.MonkeyPatch, age: int, alive: bool
) -> None:
    """Mutant: the signature's own age limit (max_age + leeway) dropped or shortened. Only
    the signing time is old here; the session's own timestamps are fresh."""
    m = manager()  # max_age 8 h, leeway 60 s
    signed_at = int(time.time()) - age
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: signed_at)
    _, header = m.mint(CLAIMS, None, NOW)
    monkeypatch.undo()
    assert (m.read([value_of(header)], NOW + 1)[0] is not None) is alive
