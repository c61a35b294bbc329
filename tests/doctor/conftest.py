"""The doctor's tests build a FakeOkta per test; they share one set of signing keys."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import pytest

from okta_magiclink_mw.testing import _org
from okta_magiclink_mw.testing._keys import KeySet


@cache
def _shared_keys() -> KeySet:
    return KeySet()


@pytest.fixture(scope="module", autouse=True)
def _one_key_set() -> Iterator[None]:
    """Making RSA keys is most of a FakeOkta's construction, and the doctor only reads
    the key set: every FakeOkta of these tests signs with the same keys.

    Module-scoped, not session-scoped: a session fixture would stay patched for every
    test that runs after this folder (and FakeOkta's org keys would then be its
    authorization server's)."""
    keys = _shared_keys()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_org, "KeySet", lambda: keys)
        yield
