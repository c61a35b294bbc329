"""Okta rotating its signing keys, through both adapters (issue 17, R32, catalogue B7).

The fake Okta starts signing with a new ``kid`` and publishes it; no sign-in may fail once
the new JWKS is reachable, however soon after the previous fetch it comes. Keys that cannot
be checked (JWKS down, or refetching rate-limited) are "try again" (503), never "forged" (403).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Browser, FakeClock, FakeOkta, set_cookies, sign_in

SESSION = "__Host-omw_session"


def rotate(okta: FakeOkta, key: Any, kid: str = "k2", *, keep_old: bool = True) -> None:
    """Okta publishes a new key and signs new ID tokens with it."""
    okta.jwks = [*okta.jwks, (kid, key)] if keep_old else [(kid, key)]
    okta.kid, okta.signing_key = kid, key


def test_rotation_one_second_after_a_fetch_signs_in(
    client: Browser, okta: FakeOkta, other_rsa_key: Any, clock: FakeClock
) -> None:
    assert sign_in(client, okta).status_code == 302
    assert okta.keys.call_count == 1
    rotate(okta, other_rsa_key)
    clock.advance(1)  # well inside the old 30 s cooldown
    r = sign_in(client.other_browser(), okta)
    assert r.status_code == 302, r.text
    assert SESSION in set_cookies(r)
    assert okta.keys.call_count == 2


def test_rotation_that_drops_the_old_key_at_once(
    client: Browser, okta: FakeOkta, other_rsa_key: Any, clock: FakeClock
) -> None:
    assert sign_in(client, okta).status_code == 302
    rotate(okta, other_rsa_key, keep_old=False)
    assert sign_in(client.other_browser(), okta).status_code == 302  # same instant
    assert okta.keys.call_count == 2
    assert client.core.okta.jwks.kids == {"k2"}  # the dropped key is no longer trusted


def test_every_sign_in_after_a_rotation_succeeds(
    client: Browser, okta: FakeOkta, other_rsa_key: Any, clock: FakeClock
) -> None:
    """Measured: over the minute after a rotation, one sign-in every second; none fails,
    and the new key is fetched once."""
    assert sign_in(client, okta).status_code == 302
    rotate(okta, other_rsa_key)
    statuses = []
    for _ in range(60):
        clock.advance(1)
        statuses.append(sign_in(client.other_browser(), okta).status_code)
    assert statuses == [302] * 60
    assert okta.keys.call_count == 2


def test_rotation_while_jwks_is_down_is_503_then_signs_in_once_it_is_back(
    client: Browser, okta: FakeOkta, other_rsa_key: Any, clock: FakeClock
) -> None:
    healthy = okta.keys.side_effect
    assert sign_in(client, okta).status_code == 302
    clock.advance(31)
    rotate(okta, other_rsa_key)
    okta.keys.mock(side_effect=None, return_value=httpx.Response(503, text="down"))
    r = sign_in(client.other_browser(), okta)
    assert r.status_code == 503  # keys unavailable: try again, not "forged"
    assert "try again" in r.text
    assert SESSION not in set_cookies(r)
    assert okta.keys.call_count == 2
    okta.keys.mock(side_effect=healthy)  # Okta is back
    clock.advance(1)  # a failed fetch arms no cooldown
    r = sign_in(client.other_browser(), okta)
    assert r.status_code == 302, r.text
    assert okta.keys.call_count == 3


def test_old_key_still_signs_in_while_jwks_is_down(
    client: Browser, okta: FakeOkta, clock: FakeClock
) -> None:
    """#80 is unchanged: stale but known keys carry on when a refresh fails."""
    assert sign_in(client, okta).status_code == 302
    okta.keys.mock(side_effect=None, return_value=httpx.Response(500, text="down"))
    clock.advance(3601)
    assert sign_in(client.other_browser(), okta).status_code == 302
    assert okta.keys.call_count == 2


def test_unknown_kid_after_a_fresh_fetch_is_403(client: Browser, okta: FakeOkta) -> None:
    """A kid a fresh JWKS does not have is not Okta's: refused as today."""
    assert sign_in(client, okta).status_code == 302
    okta.kid = "k-forged"
    r = sign_in(client.other_browser(), okta)
    assert r.status_code == 403
    assert SESSION not in set_cookies(r)
    assert okta.keys.call_count == 2  # it was looked for


def test_forged_kid_flood_costs_okta_little_and_is_503_while_limited(
    client: Browser, okta: FakeOkta, other_rsa_key: Any, clock: FakeClock
) -> None:
    assert sign_in(client, okta).status_code == 302
    statuses = []
    for i in range(20):
        okta.kid = f"k-forged-{i}"
        statuses.append(sign_in(client.other_browser(), okta).status_code)
    # The rest of the burst looks (and finds them forged); then the lookups are paced
    # and the tokens cannot be checked: "try again", not a verdict.
    assert statuses == [403, 403] + [503] * 18
    assert okta.keys.call_count == 3
    # A real rotation during the flood is picked up as soon as the bucket refills.
    rotate(okta, other_rsa_key)
    clock.advance(5)
    assert sign_in(client.other_browser(), okta).status_code == 302
    assert okta.keys.call_count == 4
