"""Validation of the post-login return target (R10, catalogue B4).

The middleware remembers where a person was going when it sent them to sign in, and sends
them back there afterwards.  That value is attacker-influenced (anyone can send a victim a
link to ``/whatever``), so it is only ever used if it is a plain same-origin *relative path*
that no browser, proxy or framework could read as pointing anywhere else.  Everything
doubtful becomes ``"/"``: a wrong guess costs one click, an open redirector costs credentials
(RFC 9700 §4.11.1).

The checks mirror oauth2-proxy's ``pkg/app/redirect`` validator and its CVE history
(CVE-2017-1000070 ``//host``, CVE-2020-5233 ``/\\host``, CVE-2020-11053 ``/%09/host``), and
are deliberately stricter where strictness is cheap.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from urllib.parse import unquote_to_bytes

__all__ = ["MAX_TARGET_LENGTH", "safe_return_target"]

#: Longest return target kept.  It lives in a cookie (R25); real paths are far shorter (#52).
MAX_TARGET_LENGTH = 512

_FALLBACK = "/"

#: ASCII control characters, space and DEL: WHATWG URL parsing strips leading/trailing C0+space
#: and silently deletes tab/CR/LF anywhere, so ``/\t/evil`` is ``//evil`` to a browser (#39).
_RAW_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\#]")

#: In the percent-decoded path, spaces are legitimate (``/my%20file``) but control
#: characters and backslashes are not (#38).
_DECODED_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")

#: A ``%`` that does not start a two-hex-digit escape.  Decoders disagree about these.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def safe_return_target(target: str | None, *, forbidden_paths: Collection[str] = ()) -> str:
    """Return ``target`` unchanged if it is a safe same-origin relative path, else ``"/"``.

    Call it both when the login starts (on the raw request path + query) and again right
    before the final redirect (R10): the second call guards against a stored value that was
    produced or altered by anything other than the first call.

    Args:
        target: ``/path`` or ``/path?query``, exactly as the browser sent it (percent-encoded).
        forbidden_paths: the middleware's own paths (login, callback, logout).  A target equal
            to or under one of them becomes ``"/"`` so a sign-in can never loop (#51).

    Returns:
        ``target`` itself (never a modified copy), or ``"/"``.
    """
    if not isinstance(target, str) or not _is_safe(target, forbidden_paths):
        return _FALLBACK
    return target


def _is_safe(target: str, forbidden_paths: Collection[str]) -> bool:
    """All checks of :func:`safe_return_target`; any ``False`` means "use ``/``"."""
    # Cheap global checks on the raw value first.  Requiring ASCII rejects raw Unicode
    # look-alikes (U+3031, U+30FC, U+FF70 ... that some browsers map to "/" or ".", #45):
    # browsers always send the request target percent-encoded, so legitimate values are ASCII.
    if len(target) > MAX_TARGET_LENGTH or not target.isascii():
        return False
    # No backslash (#37), no fragment (never stored, #49), no whitespace or control (#39, #46).
    if _RAW_FORBIDDEN.search(target):
        return False

    # Only the path decides where a browser goes; "//" or "\" inside the query is harmless.
    path = target.split("?", 1)[0]
    if not _is_single_slash_path(path) or _BAD_ESCAPE.search(path):
        return False

    # Decode exactly once (#47) and re-check, in case anything downstream decodes the value
    # before acting on it (#38: /%2F%2Fevil, /%5Cevil, /%09/evil).
    try:
        decoded = unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        # Invalid or overlong UTF-8 (%C0%AF is an old "/" bypass) - browsers never send it.
        return False
    if _DECODED_FORBIDDEN.search(decoded):
        return False
    # Spaces are fine inside a segment but not next to a slash: "/%20/evil" must not become
    # "//evil" for a lenient parser that trims, so check the value with spaces removed too.
    # NFKC folds compatibility look-alikes (U+FF0F FULLWIDTH SOLIDUS -> "/", U+FF0E -> "."),
    # so an encoded look-alike cannot turn into "//" or ".." for a normalising consumer.
    for form in (decoded, decoded.replace(" ", ""), unicodedata.normalize("NFKC", decoded)):
        if not _is_single_slash_path(form) or "\\" in form or _has_dot_segment(form):
            return False

    return not _is_forbidden(decoded, forbidden_paths)


def _is_single_slash_path(path: str) -> bool:
    """``"/"`` or ``"/x..."`` with no ``"//"`` anywhere (``/https://evil`` included, #40)."""
    return path.startswith("/") and "//" not in path


def _has_dot_segment(path: str) -> bool:
    """True if any segment is ``.`` or ``..`` (#43).

    A ``;parameters`` suffix is ignored first because some servers (Tomcat, Jetty) treat
    ``..;`` as ``..``.
    """
    return any(segment.split(";", 1)[0] in (".", "..") for segment in path.split("/"))


def _is_forbidden(decoded_path: str, forbidden_paths: Collection[str]) -> bool:
    """True if the path equals or lies under one of ``forbidden_paths`` (#51).

    Compared case-insensitively on the decoded path: a case-insensitive or decoding router in
    front of the app must not be able to route ``/LOGIN`` or ``/login%2Fcallback`` back to the
    middleware.  Being too strict here only means landing on ``/``.
    """
    path = decoded_path.casefold()
    for forbidden in forbidden_paths:
        base = forbidden.casefold().rstrip("/")
        if path == base or path.startswith(base + "/"):
            return True
    return False
