"""Tests for :mod:`okta_magiclink_mw._redirects` (R10, catalogue B4 #36-#52).

Every rejected case must come back as exactly ``"/"``; every accepted case must come back as
the very same string.  The rejection table is grouped by catalogue number and extended with
oauth2-proxy style payloads (``pkg/app/redirect/testdata/openredirects.txt`` families).
"""

from __future__ import annotations

import pytest

from okta_magiclink_mw._redirects import safe_return_target

#: The limit as a literal, not imported: a changed MAX_TARGET_LENGTH must fail these tests.
TARGET_LIMIT = 512

OWN_PATHS = ("/login", "/login/callback", "/logout")

REJECTED = [
    # --- #36 protocol-relative: two or more leading slashes ------------------------------
    "//evil.example",
    "///evil.example",
    "////evil.example/",
    "/////evil.example",
    "//evil.example/reports?id=5",
    "//",
    # --- #37 backslash mixes (CVE-2020-5233) -----------------------------------------------
    "/\\evil.example",
    "\\/\\/evil.example/",
    "/\\/evil.example/",
    "\\\\evil.example",
    "/\\\\evil.example",
    "\\evil.example",
    "/a\\b",
    "///\\;@evil.example",
    # --- #38 encoded tab / backslash / slash, checked after one decode (CVE-2020-11053) ---
    "/%09/evil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "//%2Fxevil.example",
    "/%2F%2Fevil.example",
    "/%2f%2fevil.example",
    "/%2F/evil.example",
    "/%5C%5Cevil.example",
    "/%5C/evil.example",
    "/%0a/evil.example",
    "/%0D/evil.example",
    "/%00/evil.example",
    "/%7F/evil.example",
    "/%20/evil.example",
    "/%20%2F/evil.example",
    "/a%2F%2Fb",
    "/%09evil.example",
    # --- #39 raw whitespace between slashes --------------------------------------------------
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\\evil.example",
    "/ /evil.example",
    "/\v/evil.example",
    "/\f/evil.example",
    "/\t\t/evil.example",
    "/\r\n/evil.example",
    " /reports",
    "/reports ",
    "/rep\x00orts",
    "/reports\x7f",
    "/reports?x=\n",
    # --- #40 scheme forms ----------------------------------------------------------------------
    "https://evil.example",
    "http://evil.example/",
    "http:evil.example",
    "https:/\\evil.example",
    "HTTPS://evil.example",
    "/https://evil.example",
    "/redirect/https://evil.example",
    "ftp://evil.example",
    # --- #41 userinfo / delimiter confusion ----------------------------------------------------
    "https://app.example@evil.example/",
    "//evil.example\\@app.example",
    "http://evil.example:80#@app.example/",
    "http://evil.example?@app.example/",
    "//app.example@evil.example",
    "/+&@evil.example#+@app.example",
    # --- #42 script and data URIs ------------------------------------------------------------
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java%09script:alert(1)",
    "java%0Dscript:alert(1)",
    "javascript://%0aalert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "\\j\\av\\a\\s\\cr\\i\\pt\\:\\a\\l\\ert\\(1\\)",
    "vbscript:msgbox(1)",
    '";alert(0);//',
    "<>//evil.example",
    # --- #43 dot segments ------------------------------------------------------------------------
    "/./\\evil.example",
    "/./../../\\evil.example",
    "/%2E%2E/%2F%2Fevil.example",
    "/.",
    "/..",
    "/a/..",
    "/a/../b",
    "/a/./b",
    "/..?x=1",
    "/a/%2e%2e/b",
    "/a/.%2E/b",
    "/a/%2E/b",
    "/..;/admin",
    "/a/..%3Bjsessionid=1/b",
    # --- #44 numeric hosts ------------------------------------------------------------------------
    "http://0xd8.0x3a.0xd6.0xce",
    "http://3627734734",
    "http://[::ffff:216.58.214.206]",
    "//3627734734",
    "//0330.072.0326.0316",
    # --- #45 Unicode look-alikes and NUL ---------------------------------------------------------
    "\u3031evil.example",
    "\u30fcevil.example",
    "//evil%E3%80%82example",
    "//evil%00.example",
    "/\u3031\u3031evil.example",
    "/\uff70evil.example",
    "/\uff0f\uff0fevil.example",
    "/caf\u00e9",
    "/%EF%BC%8F%EF%BC%8Fevil.example",  # encoded U+FF0F FULLWIDTH SOLIDUS: NFKC "/"
    "/%EF%BC%BCevil.example",  # encoded U+FF3C FULLWIDTH REVERSE SOLIDUS: NFKC "\"
    "/%E2%80%A5/admin",  # encoded U+2025 TWO DOT LEADER: NFKC ".."
    "/%C0%AF%C0%AFevil.example",  # overlong UTF-8 "/"
    "/%FF",
    # --- #46 leading blanks / C0 (CPython CVE-2023-24329 class) --------------------------------
    "%20%20//evil.example",
    "%01//evil.example",
    "\x01/reports",
    "%2F%2Fevil.example",
    "%2Freports",
    # --- #47 double encoding: decoded exactly once ----------------------------------------------
    "%252F%252Fevil.example",
    # --- #48 look-alike allow-list hosts (absolute URLs are never allowed) ---------------------
    "https://app.example.evil.example",
    "https://badapp.example",
    "app.example/redirect",
    "evil.example",
    # --- #49 fragments are never stored -------------------------------------------------------
    "/reports#section",
    "/#//evil.example",
    "/public#/../admin",
    # --- malformed percent escapes in the path --------------------------------------------------
    "/%",
    "/100%",
    "/%G1",
    "/abc%2",
    # --- not a path at all ----------------------------------------------------------------------
    "",
    "?x=1",
    "a/b",
    "./a",
    "../a",
    ";//evil.example",
    "#/evil.example",
]


@pytest.mark.parametrize("target", REJECTED)
def test_rejected_targets_become_root(target: str) -> None:
    assert safe_return_target(target, forbidden_paths=OWN_PATHS) == "/"


def test_rejection_table_is_large_and_distinct() -> None:
    # The brief asks for at least 80 cases; duplicates would silently shrink the table.
    assert len(REJECTED) >= 80
    assert len(set(REJECTED)) == len(REJECTED)


ACCEPTED = [
    "/",
    "/reports?id=5",
    "/a/b?x=1&y=%2F",
    "/caf%C3%A9",
    "/reports",
    "/a/b/",
    "/a?",
    "/my%20file",
    "/a/.../b",  # "..." is an ordinary segment, not a dot segment
    "/a/.hidden",
    "/a..b/c",
    "/a;b=c",
    "/@evil.example",  # a same-origin path segment, not a host
    "/search?q=a+b&next=https://evil.example/",  # "//" in the query cannot change origin
    "/?//evil.example",
    "/x?y=%0A",  # decoded query content is the app's business, not a redirect risk
    "/%252F%252Fevil.example",  # decoded once -> "/%2F%2Fevil.example", still a path
    "/evil%E3%80%82example",  # encoded look-alike stays encoded in the Location header
    "/loginx",
    "/logins/a",
    "/app/login",
    "/app/logout?x=/login",
    "/" + "a" * (TARGET_LIMIT - 1),
]


@pytest.mark.parametrize("target", ACCEPTED)
def test_accepted_targets_pass_unchanged(target: str) -> None:
    result = safe_return_target(target, forbidden_paths=OWN_PATHS)
    assert result == target
    # R10: it is re-validated just before the redirect; a second pass must not change it.
    assert safe_return_target(result, forbidden_paths=OWN_PATHS) == target


@pytest.mark.parametrize(
    "target",
    [
        "/login",
        "/login/",
        "/login?next=/reports",
        "/login/callback",
        "/login/callback?state=abc&otp=123456",
        "/login/callback/x",
        "/logout",
        "/logout?",
        "/LOGIN",
        "/LogOut",
        "/login%2Fcallback",  # decodes to the callback path
        "/%6Cogin",  # decodes to "/login"
    ],
)
def test_own_paths_are_rejected_to_avoid_loops(target: str) -> None:
    """#51: never send someone back to login, callback or logout."""
    assert safe_return_target(target, forbidden_paths=OWN_PATHS) == "/"
    # Without forbidden paths the same targets are ordinary paths.
    assert safe_return_target(target) == target


def test_forbidden_path_with_trailing_slash_is_normalised() -> None:
    assert safe_return_target("/auth/x", forbidden_paths=("/auth/",)) == "/"
    assert safe_return_target("/auth", forbidden_paths=("/auth/",)) == "/"
    assert safe_return_target("/authx", forbidden_paths=("/auth/",)) == "/authx"


def test_forbidden_root_forbids_everything() -> None:
    # A misconfiguration, but it must fail safe: everything collapses to "/".
    assert safe_return_target("/reports", forbidden_paths=("/",)) == "/"


@pytest.mark.parametrize(
    ("length", "expected_passes"),
    [
        (TARGET_LIMIT, True),
        (TARGET_LIMIT + 1, False),
        (10 * 1024, False),  # #52
    ],
)
def test_length_limit(length: int, expected_passes: bool) -> None:
    target = "/" + "a" * (length - 1)
    assert len(target) == length
    assert (safe_return_target(target) == target) is expected_passes
    if not expected_passes:
        assert safe_return_target(target) == "/"


@pytest.mark.parametrize("target", [None, 42, b"/reports", ["/reports"]])
def test_non_strings_become_root(target: object) -> None:
    assert safe_return_target(target) == "/"  # type: ignore[arg-type]


def test_result_is_the_same_object_not_a_normalised_copy() -> None:
    target = "/a/b?x=1&y=%2F"
    assert safe_return_target(target) is target


@pytest.mark.parametrize("target", REJECTED + ACCEPTED)
def test_idempotent(target: str) -> None:
    """Validating twice (login start, then before the redirect) gives the same answer."""
    once = safe_return_target(target, forbidden_paths=OWN_PATHS)
    assert safe_return_target(once, forbidden_paths=OWN_PATHS) == once
