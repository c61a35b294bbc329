"""``fold``'s fast path for ASCII text is the ASCII-only table, exactly."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from okta_magiclink_mw._policy import fold

_TABLE = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@given(st.text())
def test_fold_is_the_ascii_table_on_any_text(text: str) -> None:
    assert fold(text) == text.translate(_TABLE)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_fold_is_the_ascii_table_on_ascii_text(text: str) -> None:
    assert fold(text) == text.translate(_TABLE)


def test_fold_leaves_look_alikes_of_ascii_letters() -> None:
    # KELVIN SIGN and LATIN CAPITAL I WITH DOT: str.lower would make them "k" and "i̇".
    assert fold("\u212aODAK.com") == "\u212aodak.com"
    assert fold("\u0130NFO@EXAMPLE.COM") == "\u0130nfo@example.com"
