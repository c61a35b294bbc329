"""The one cookie parser (security issue, item 1): the middleware never sees a cookie under
our names that Starlette's or Werkzeug's parser would not see under the same name.

Property: for generated ``Cookie`` headers, every value :func:`cookie_values` returns for
one of our names is, in order, among the values both frameworks see for that name. A
value they read differently is refused (not returned), never guessed.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.requests import cookie_parser
from werkzeug.sansio.http import parse_cookie

from okta_magiclink_mw._cookies import (
    CookieCodec,
    cookie_values,
    read_cookies,
    remembered_cookie_values,
)

SESSION = "__Host-omw_session"
TXN = "__Host-omw_signin"
OURS = (SESSION, TXN)
TOKEN = CookieCodec(["k" * 32], name=SESSION, purpose="p").dumps({"sub": "00u-attacker"})


def starlette_values(header: str, name: str) -> list[str]:
    """Every value Starlette's parser reads under ``name``, in order (its dict keeps the last)."""
    values = []
    for chunk in header.split(";"):
        parsed = cookie_parser(chunk)
        if name in parsed:
            values.append(parsed[name])
    return values


def werkzeug_values(header: str, name: str) -> list[str]:
    return parse_cookie(header).getlist(name)


def is_subsequence(small: list[str], big: list[str]) -> bool:
    remaining = iter(big)
    return all(any(item == other for other in remaining) for item in small)


def assert_agrees(header: str) -> None:
    for name in OURS:
        ours = cookie_values(header, name)
        assert is_subsequence(ours, starlette_values(header, name)), (header, name, ours)
        assert is_subsequence(ours, werkzeug_values(header, name)), (header, name, ours)
        assert read_cookies(header, frozenset(OURS)).get(name, []) == ours
    # And the framework's own answer: Starlette keeps the last value of a name.
    last = cookie_parser(header).get(SESSION)
    if cookie_values(header, SESSION) and last is not None:
        assert last in starlette_values(header, SESSION)


names = st.sampled_from(
    [SESSION, TXN, "prefs", "a", f"x{SESSION}", f"{SESSION}x", "", " ", f" {SESSION}"]
)
values = st.one_of(
    st.just(TOKEN),
    st.sampled_from(["", "x", '"x', 'x"', '"a;b"', '"\\"', f"{SESSION}={TOKEN}", " x y "]),
    st.text(alphabet=' \t"\\=;,xX.\x0b\x1c\xa0', max_size=8),
)
separators = st.sampled_from(["; ", ";", " ; ", ";\t", " ", "\t", ",", ";;", '"; '])
pairs = st.tuples(names, st.sampled_from(["=", " = ", "", "=="]), values)


@st.composite
def headers(draw: st.DrawFn) -> str:
    parts = draw(st.lists(pairs, max_size=6))
    text = ""
    for name, eq, value in parts:
        text += f"{name}{eq}{value}" + draw(separators)
    return text + draw(st.sampled_from(["", f"{SESSION}={TOKEN}", f"; {SESSION}={TOKEN}"]))


@settings(max_examples=3000, deadline=None)
@given(headers())
@example(f"prefs=x {SESSION}={TOKEN}")
@example(f"prefs=x\t{SESSION}={TOKEN}")
@example(f'a="x; {SESSION}={TOKEN}; b="')
@example(f'a="\\"; {SESSION}={TOKEN}; b=\\""')
@example(f"{SESSION}={TOKEN}\x0b")
@example(f"a=b;\x0b{SESSION}={TOKEN}")
def test_our_view_is_the_frameworks_view_or_nothing(header: str) -> None:
    assert_agrees(header)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=' \t";=\\,ab\x0b', max_size=30), st.text(alphabet=' \t";=ab', max_size=10))
def test_arbitrary_text_around_our_cookie(before: str, after: str) -> None:
    assert_agrees(f"{before}{SESSION}={TOKEN}{after}")


@pytest.mark.parametrize(
    "header",
    [
        f"prefs=x {SESSION}={TOKEN}",  # hidden in another cookie's value after a space
        f"prefs=x\t{SESSION}={TOKEN}",  # ... or a tab
        f"prefs={SESSION}={TOKEN}",  # the value of another cookie
        f"={SESSION}={TOKEN}",  # a nameless pair (Werkzeug CVE-2023-23934)
        f"x{SESSION}={TOKEN}",  # a longer name
        f'a="x; {SESSION}={TOKEN}; b="',  # inside a quoted value Werkzeug reads across ";"
        f'a="x\\"; {SESSION}={TOKEN}; b=\\""',  # ... with an escaped quote
        f"{SESSION} ={TOKEN}",  # not written exactly "name="
        f'{SESSION}="{TOKEN}"',  # quoted: the frameworks unquote it, we do not guess
        f"{SESSION}={TOKEN}\x0b",  # Starlette strips \x0b, Werkzeug keeps it
        f"{SESSION}=a b",
    ],
)
def test_hidden_or_ambiguous_cookies_are_not_seen(header: str) -> None:
    assert cookie_values(header, SESSION) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"{SESSION}={TOKEN}", [TOKEN]),
        (f"a=1;{SESSION}={TOKEN}", [TOKEN]),
        (f"a=1; \t {SESSION}={TOKEN} ; b=2", [TOKEN]),
        (f'a="quoted; fine"; {SESSION}={TOKEN}', []),  # Werkzeug: one cookie "a"
        (f'a="closed"; {SESSION}={TOKEN}', [TOKEN]),
        (f"{SESSION}=1; {SESSION}=2", ["1", "2"]),
        (f"{SESSION}=bad; {SESSION}={TOKEN}", ["bad", TOKEN]),  # a bad value before a good one
    ],
)
def test_values_in_header_order(header: str, expected: list[str]) -> None:
    assert cookie_values(header, SESSION) == expected
    assert_agrees(header)


def test_truncation_keeps_whole_pairs_only() -> None:
    # The 16 KB bound never hands back a value cut short (not the value anyone sent).
    filler = "f=" + "v" * 16_370
    header = f"{filler}; {SESSION}=" + "t" * 100
    assert cookie_values(header, SESSION) == []
    assert cookie_values(f"{SESSION}=early; {filler}", SESSION) == ["early"]
    assert cookie_values(f"{SESSION}=" + "t" * 20_000, SESSION) == []


def test_at_most_4_values_and_many_pairs_are_fine() -> None:
    many = "; ".join(f"c{i}=v" for i in range(200)) + f"; {SESSION}=late"
    assert cookie_values(many, SESSION) == ["late"]
    assert cookie_values("; ".join(f"{SESSION}={i}" for i in range(9)), SESSION) == [
        "0",
        "1",
        "2",
        "3",
    ]
    assert cookie_values(f"{SESSION}=; {SESSION}=x", SESSION) == ["x"]  # empty: nothing


def test_remembered_values_are_the_same_answer_and_objects() -> None:
    header = f"a=1; {SESSION}={TOKEN}"
    first = remembered_cookie_values(header, SESSION)
    assert list(first) == cookie_values(header, SESSION) == [TOKEN]
    again = remembered_cookie_values(str(header.encode().decode()), SESSION)
    assert again[0] is first[0]  # the hash of the value is computed once
    big = f"pad={'p' * 5000}; {SESSION}={TOKEN}"
    assert list(remembered_cookie_values(big, SESSION)) == [TOKEN]
    hidden = f"prefs=x {SESSION}={TOKEN}"
    assert list(remembered_cookie_values(hidden, SESSION)) == []


@pytest.mark.parametrize("suffix", ["!!!!", "\x0b", " ", "====", "*"])
def test_codec_only_accepts_what_it_writes(suffix: str) -> None:
    # itsdangerous alone skips characters outside base64 in the signature, so a value with
    # junk appended would verify as the original: a second spelling of one session.
    codec = CookieCodec(["k" * 32], name=SESSION, purpose="p")
    value = codec.dumps({"sub": "x", "pad": "y" * 300})  # long enough to be compressed
    assert value.startswith(".")
    assert codec.loads(value, max_age=60) is not None
    assert codec.loads(value + suffix, max_age=60) is None


@pytest.mark.parametrize(
    "header",
    [
        f'a=b="x; {SESSION}=v',  # the value is b="x: no quote opens it (Werkzeug agrees)
        f'a=\x0b"x; {SESSION}=v',  # \x0b is not a space Werkzeug skips before a quote
        f'a=X"x; {SESSION}=v',
    ],
)
def test_only_a_value_that_opens_with_a_quote_ends_the_reading(header: str) -> None:
    assert cookie_values(header, SESSION) == ["v"]
    assert_agrees(header)


def test_reading_ends_exactly_where_the_unclosed_quote_starts() -> None:
    # Our cookie right before the pair that opens an unclosed quote is still read; the
    # same cookie right after it is not.
    header = f'a="q"; {SESSION}=v; b="x; {SESSION}=w'
    assert cookie_values(header, SESSION) == ["v"]
    assert_agrees(header)
    longer = f'first=1; a="q"; {SESSION}=v; b="x'
    assert cookie_values(longer, SESSION) == ["v"]
