"""Property: whatever ``rd`` or ``X-Forwarded-Uri`` says, ``/auth/forward`` either sends
no one anywhere, or sends them to this site's login page with a return target that is a
same-origin relative path the middleware itself would accept."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from okta_magiclink_mw._query import STATE
from okta_magiclink_mw._redirects import safe_return_target
from tests.conftest import Browser, set_cookies

from .conftest import forward

#: Pieces attackers put together (oauth2-proxy's open-redirect corpus, in spirit).
PIECES = [
    "/",
    "//",
    "\\",
    "https://",
    "http://",
    "https:",
    "//evil.example",
    "evil.example",
    "app.example",
    "app.example:8443",
    "@",
    "%2F",
    "%2f",
    "%5C",
    "%09",
    "%0d%0a",
    "%00",
    "%2e%2e",
    "..",
    ".",
    "?",
    "#",
    "&",
    "=",
    ";",
    "\t",
    "\r\n",
    " ",
    "\x00",
    "\u3002",
    "\uff0f",
    "login",
    "a",
]
attacks = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)
anything = st.one_of(attacks, st.text(max_size=40))
SITE = "https://app.example"
OWN = ("/login", "/login/callback", "/logout")


def check(server: Browser, uri: str, rd: str | None) -> None:
    server.cookies.clear()
    query = "" if rd is None else f"?rd={quote(rd, safe='')}"
    try:
        r = forward(server, uri, query=query)
    except (UnicodeEncodeError, ValueError):
        event("not sendable")
        return  # no HTTP client can send that header: no proxy will either
    event(f"status {r.status_code}")
    if r.status_code == 400:
        assert "location" not in r.headers
        assert "set-cookie" not in r.headers
        return
    assert r.status_code == 302, (uri, rd, r.status_code)
    location = urlsplit(r.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "app.example", "/login")
    name, _, state = location.query.partition("=")
    assert name == "state"
    assert STATE.fullmatch(state)
    value = set_cookies(r)["__Host-omw_signin"]["value"]
    target = server.core.transactions.load([value], server.core.clock())[state].return_to
    assert target.startswith("/")
    assert not target.startswith("//")
    assert "\\" not in target
    assert target.isascii()
    assert not re.search(r"[\x00-\x20\x7f#]", target)
    assert safe_return_target(target, forbidden_paths=OWN) == target
    # What a browser makes of it, on this site: the same origin, always.
    assert urlsplit(f"{SITE}{target}").netloc == "app.example"


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rd=anything)
@example(rd="https://app.example@evil.example/")
@example(rd="https://app.example/\\evil.example")
@example(rd="https:/\\evil.example")
@example(rd="/\t/evil.example")
def test_any_rd(server: Browser, rd: str) -> None:
    check(server, "/reports", rd)


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(uri=st.one_of(anything, anything.map(lambda text: "/" + text)))
@example(uri="//evil.example")
@example(uri="/%2F%2Fevil.example")
@example(uri="/%5C%5Cevil.example")
@example(uri="/\\evil.example")
def test_any_forwarded_uri(server: Browser, uri: str) -> None:
    check(server, uri, None)
