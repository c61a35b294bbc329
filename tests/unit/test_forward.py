"""The forward-auth server's reading of a proxy's headers (``server/_forward.py``, pure)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from okta_magiclink_mw.server._forward import (
    BadForward,
    Original,
    Site,
    normal_host,
    original_request,
    return_target,
    site_of,
)

NGINX = ("x-original-uri", "x-forwarded-uri")
TRAEFIK = ("x-forwarded-uri", "x-original-uri")
HOME = Site("https", "app.example")
OWN = ("/login", "/login/callback", "/logout")


def test_original_request() -> None:
    got = original_request(
        {"x-original-uri": "/a%20b/c?x=1&y=%2F", "x-original-method": "post"},
        prefer=NGINX,
        default_method="GET",
    )
    assert got == Original("POST", "/a%20b/c?x=1&y=%2F", "/a b/c", "x=1&y=%2F")
    got = original_request({"x-forwarded-uri": "/"}, prefer=NGINX, default_method="HEAD")
    assert (got.method, got.path, got.query) == ("HEAD", "/", "")


def test_the_endpoints_proxy_header_comes_first() -> None:
    same = {"x-original-uri": "/a", "x-forwarded-uri": "/a"}
    assert original_request(same, prefer=TRAEFIK, default_method="GET").path == "/a"
    with pytest.raises(BadForward, match="disagree"):
        original_request(
            {"x-original-uri": "/public", "x-forwarded-uri": "/admin"},
            prefer=TRAEFIK,
            default_method="GET",
        )


@pytest.mark.parametrize("method", ["", "G T", "GET\r\n", "X" * 17, "GÉT", "1"])
def test_bad_methods(method: str) -> None:
    headers = {"x-original-uri": "/", "x-original-method": method}
    if method == "":  # empty: the request's own
        assert original_request(headers, prefer=NGINX, default_method="GET").method == "GET"
        return
    with pytest.raises(BadForward):
        original_request(headers, prefer=NGINX, default_method="GET")


@hypothesis_settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=60))
def test_paths_decode_as_asgi_servers_do(raw: str) -> None:
    """uvicorn's ``scope["path"]`` is ``unquote(raw_path)``: the policy must see the
    path the app behind the proxy sees, decoded once, or a rule can be stepped around."""
    uri = "/" + raw
    try:
        got = original_request({"x-original-uri": uri}, prefer=NGINX, default_method="GET")
    except BadForward:
        assert any(c in uri for c in "# \x7f") or any(ord(c) < 0x20 for c in unquote(uri))
        return
    raw_path = uri.split("?", 1)[0]
    assert got.path == unquote(raw_path)
    assert got.uri == uri
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in got.path)


@pytest.mark.parametrize(
    ("raw", "scheme", "expected"),
    [
        ("App.Example", "https", "app.example"),
        ("app.example:443", "https", "app.example"),
        ("app.example:443", "http", "app.example:443"),
        ("app.example:80", "http", "app.example"),
        ("app.example:8443", "https", "app.example:8443"),
        ("127.0.0.1:8080", "http", "127.0.0.1:8080"),
        ("[::1]:8443", "https", "[::1]:8443"),
        ("[::1]", "https", "[::1]"),
        ("[::1]:443", "https", "[::1]"),
        (" app.example ", "https", "app.example"),
        ("app.example.", "https", None),
        ("app.example,evil.example", "https", None),
        ("user@app.example", "https", None),
        ("app.example/x", "https", None),
        ("app.example\\x", "https", None),
        ("app_example", "https", None),
        ("::1", "https", None),
        ("app.example:", "https", None),
        ("", "https", None),
        ("-app.example", "https", None),
        ("app.\u0435xample", "https", None),  # a Cyrillic "e"
    ],
)
def test_normal_host(raw: str, scheme: str, expected: str | None) -> None:
    assert normal_host(raw, scheme) == expected


def test_site_of() -> None:
    allowed = ("app.example:8443",)

    def site(headers: dict[str, str], secure: bool = True) -> Site | None:
        return site_of(headers, home=HOME, allowed_hosts=allowed, secure=secure)

    assert site({}) == HOME
    assert site({"x-forwarded-host": "app.example:8443"}) == Site("https", "app.example:8443")
    assert site({"x-forwarded-host": "evil.example"}) is None
    assert site({"x-forwarded-proto": "http", "x-forwarded-host": "app.example"}) == HOME
    home = Site("http", "localhost:8080")
    plain = site_of({"x-forwarded-proto": "https"}, home=home, allowed_hosts=(), secure=False)
    assert plain == Site("https", "localhost:8080")


@pytest.mark.parametrize(
    ("rd", "expected"),
    [
        (None, "/orig?q=1"),
        ("/x", "/x"),
        ("https://app.example/x?y=1", "/x?y=1"),
        ("HTTPS://app.example:443", "/"),
        ("https://app.example:8443/x", "/"),  # another site than the one signing in
        ("https://evil.example/x", "/"),
        ("//evil.example/x", "/"),
        ("https://app.example@evil.example", "/"),
        ("https://app.example#@evil.example", "/"),
        ("https://app.example/x#frag", "/"),
        ("https://app.example\t/x", "/"),
        ("ftp://app.example/x", "/"),
        ("/logout", "/"),
    ],
)
def test_return_target(rd: str | None, expected: str) -> None:
    original = Original("GET", "/orig?q=1", "/orig", "q=1")
    assert return_target(rd, original, HOME, forbidden_paths=OWN) == expected
