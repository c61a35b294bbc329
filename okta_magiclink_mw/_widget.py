"""The Okta Sign-In Widget the login page loads: which bundles and releases can finish our
sign-in, and where the widget's own files (its language files) live.

Okta puts the nonce of ``/v1/interact`` into the interaction-code ID token, and the
middleware checks it. Only the Gen2 widget from 6.8.0 on sends the nonce it is given
(``src/v2/client/startLoginFlow.ts``); the Gen3 bundle (``okta-sign-in.next.js``) and
older releases make up their own, so every sign-in would fail with a nonce mismatch.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

#: Where Okta's CDN serves each widget release, as ``{CDN}/{version}/js/...``.
CDN = "https://global.oktacdn.com/okta-signin-widget"
#: The first release whose Gen2 bundle forwards the configured ``nonce`` to ``/interact``.
MIN_VERSION = (6, 8, 0)

_VERSION = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)
# A release on Okta's CDN or in an npm-style copy: ".../okta-signin-widget/7.49.0/js/...".
_VERSION_IN_PATH = re.compile(r"/okta-signin-widget/([0-9][^/]*)/", re.ASCII)
_TOO_OLD = (
    "the Sign-In Widget sends the sign-in's nonce to Okta only from 6.8.0 on, and without "
    "it every sign-in fails (use 6.8.0 or later, e.g. 7.49.0)"
)
# Characters that would end or split a source expression in a CSP header.
_CSP_UNSAFE = re.compile(r"[\s;,'\"\\]")


class WidgetVersion(NamedTuple):
    """A widget release, ``major.minor.patch`` with an optional ``-prerelease``."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""

    @property
    def forwards_nonce(self) -> bool:
        """Whether this release's Gen2 bundle sends the configured nonce (6.8.0 and later;
        a prerelease of 6.8.0 comes before 6.8.0 and does not count)."""
        core = (self.major, self.minor, self.patch)
        return core > MIN_VERSION or (core == MIN_VERSION and not self.prerelease)

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.prerelease}" if self.prerelease else core


def parse_version(text: object) -> WidgetVersion:
    """Parse a release number such as ``"7.49.0"`` (semantic versioning, no build part).

    :raises ValueError: with a message that says what a version looks like.
    """
    match = _VERSION.fullmatch(text) if isinstance(text, str) and len(text) <= 64 else None
    if match is None:
        raise ValueError(
            f"widget_version must be a release number such as '7.49.0', not {text!r:.80}"
        )
    major, minor, patch, prerelease = match.groups()
    return WidgetVersion(int(major), int(minor), int(patch), prerelease or "")


def check_version(text: object) -> str | None:
    """None if ``text`` names a release that can run this sign-in, else why not."""
    try:
        version = parse_version(text)
    except ValueError as exc:
        return str(exc)
    if not version.forwards_nonce:
        return f"widget_version {version} is too old: {_TOO_OLD}"
    return None


def check_bundle(url: object, name: str = "widget_js_url") -> str | None:
    """None if ``url`` may be a Gen2 widget bundle that forwards the nonce, else why not.

    Refused: the Gen3 bundles (``okta-sign-in.next.js``, ``okta-sign-in.next.no-polyfill.js``),
    which make up their own nonce; the Classic Engine bundle (``okta-sign-in.classic.js``),
    which has no Identity Engine flow at all; and a release older than 6.8.0 when the URL
    names one (``.../okta-signin-widget/6.7.0/js/...``).
    """
    if not isinstance(url, str) or not _absolute(url):
        return f"{name} must be an absolute http(s) URL"
    path = urlsplit(url).path
    file = path.rsplit("/", 1)[-1].lower()
    if ".next." in file:
        return (
            f"{name} loads the Gen3 Sign-In Widget ({file}), which sends Okta a nonce of "
            "its own, so every sign-in would fail: use the Gen2 bundle okta-sign-in.min.js"
        )
    if ".classic." in file:
        return (
            f"{name} loads the Classic Engine Sign-In Widget ({file}), which cannot run an "
            "Identity Engine sign-in: use okta-sign-in.min.js"
        )
    found = _VERSION_IN_PATH.search(path)
    try:
        version = parse_version(found.group(1)) if found else None
    except ValueError:  # not a release number: a folder of the app's own
        version = None
    if version is not None and not version.forwards_nonce:
        return f"{name} loads Sign-In Widget {version}: {_TOO_OLD}"
    return None


def release_in_url(url: str) -> str | None:
    """The release a bundle URL names (``.../okta-signin-widget/7.49.0/js/...``), or None."""
    found = _VERSION_IN_PATH.search(urlsplit(url).path)
    return found.group(1) if found else None


def check_assets_url(url: object) -> str | None:
    """None if ``url`` can be the widget's assets base (it goes into the page's CSP)."""
    if not isinstance(url, str) or not _absolute(url):
        return "widget_assets_url must be an absolute http(s) URL"
    parts = urlsplit(url)
    if parts.query or parts.fragment or "@" in parts.netloc or _CSP_UNSAFE.search(url):
        return (
            "widget_assets_url must be a plain URL without query, fragment, user@, quotes, "
            "commas, semicolons or spaces"
        )
    return None


def assets_base(assets_url: str | None, js_url: str | None, version: str) -> str:
    """The widget's ``assets.baseUrl``: where it finds ``/labels/json/login_fr.json``.

    The setting if given; else the folder above ``/js/`` of a bundle laid out as the npm
    package's ``dist`` (Okta's CDN and FakeOkta's ``/widget/`` are); else the CDN copy of
    ``version``.
    """
    if assets_url is not None:
        return assets_url.rstrip("/")
    if js_url is not None:
        parts = urlsplit(js_url)
        head, sep, file = parts.path.rpartition("/js/")
        if sep and file and "/" not in file and not _CSP_UNSAFE.search(head):
            return urlunsplit((parts.scheme, parts.netloc, head, "", ""))
    return f"{CDN}/{version}"


def labels_source(base: str) -> str:
    """The CSP ``connect-src`` source for the widget's language files under ``base``: the
    widget fetches ``{base}/labels/json/login_{lang}.json`` and ``country_{lang}.json``
    (``src/util/Bundles.ts``), and nothing else from there."""
    return f"{base}/labels/json/"


def _absolute(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and bool(parts.netloc) and url.isascii()
