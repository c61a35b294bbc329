"""The doctor's tests build a FakeOkta per test; they share one set of signing keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from okta_magiclink_mw.testing import _org
from okta_magiclink_mw.testing._keys import KeySet


@pytest.fixture(scope="session", autouse=True)
def _one_key_set() -> Iterator[None]:
    """Making RSA keys is most of a FakeOkta's construction, and the doctor only reads
    the key set: every FakeOkta of these tests signs with the same keys."""
    keys = KeySet()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_org, "KeySet", lambda: keys)
        yield
