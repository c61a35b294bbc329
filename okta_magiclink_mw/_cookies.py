"""Signed cookies: one codec per purpose, key rotation, a size guard, strict parsing."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from http.cookies import SimpleCookie
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

#: RFC 6265 §6.1: browsers keep at least 4096 bytes per cookie, name and attributes included.
MAX_SET_COOKIE_BYTES = 4096
#: Work bound on the Cookie header (R26, catalogue #62/#63): longer headers are read no further.
MAX_COOKIE_HEADER_BYTES = 16_384
_MAX_VALUES = 4
_REMEMBERED_HEADER_BYTES = 4096
#: What :meth:`CookieCodec.dumps` writes: URL-safe base64 segments joined by dots (a leading
#: dot marks a compressed payload).
_TOKEN = re.compile(r"\.?[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")
#: An RFC 6265 quoted value with backslash escapes, as Werkzeug reads it.
_QUOTED = re.compile(r'"(?:[^\\"]|\\.)*"')


class CookieCodec:
    """Signs and verifies the cookie of one purpose.

    The salt binds both the purpose and the cookie name into the signature (R24), so a
    value minted for one cookie never verifies as another. ``secret_keys`` run oldest
    to newest: the newest signs, all verify, and :meth:`loads` reports when a value was
    signed by an older key so the caller can re-issue it.
    """

    __slots__ = ("_all", "_newest", "name")

    def __init__(self, secret_keys: Sequence[str | bytes], *, name: str, purpose: str) -> None:
        self.name = name
        salt = f"okta-magiclink-mw.{purpose}:{name}"
        signer = {"key_derivation": "hmac", "digest_method": hashlib.sha256}
        keys = [k.encode() if isinstance(k, str) else k for k in secret_keys]
        self._all = URLSafeTimedSerializer(keys, salt=salt, signer_kwargs=signer)
        self._newest = URLSafeTimedSerializer(keys[-1], salt=salt, signer_kwargs=signer)

    def dumps(self, payload: Any) -> str:
        value = self._newest.dumps(payload)
        assert isinstance(value, str)
        return value

    def loads(self, value: str, *, max_age: int) -> tuple[Any, bool] | None:
        """Return ``(payload, signed_with_old_key)``, or None for anything not ours.

        Tampered, expired, foreign and malformed values all come back as None:
        a bad cookie means "no cookie", never an error (R26).
        """
        if _TOKEN.fullmatch(value) is None:
            # itsdangerous's base64 decoding skips characters outside its alphabet, so
            # "<signature>\x0b" would still verify: only what dumps() writes is ours.
            return None
        try:
            return self._newest.loads(value, max_age=max_age), False
        except BadData:
            pass
        try:
            return self._all.loads(value, max_age=max_age), True
        except BadData:
            return None
        except Exception:
            return None


def cookie_values(header: str, name: str) -> list[str]:
    """The values of cookie ``name`` in a ``Cookie`` header, in header order: the one parser.

    Both the hot path and every other read go through here, so the middleware never
    sees a cookie under our names that the framework's own parser (Starlette's
    ``cookie_parser``, Werkzeug's ``parse_cookie``) would not see under the same name:

    * a name counts only at the start of the header, or after ``;`` and optional spaces
      or tabs, written exactly ``name=`` (so ``prefs=x name=v``, a name hidden inside
      another cookie's value, and ``=name=v``, a nameless pair, never match);
    * the value runs to the next ``;``, without surrounding spaces or tabs; a value
      that still holds a space, a tab or a quote, or other whitespace at either end,
      is read differently by the two frameworks and is skipped;
    * after a quoted value that does not close before its ``;``, nothing is read:
      Werkzeug lets such a value run across ``;`` and would see no cookie there;
    * the work is bounded: the first 16 KB (whole pairs only), at most 4 values.

    Duplicates are all returned, in order; what they mean is the caller's rule (see
    :meth:`~okta_magiclink_mw._sessions.SessionManager.read`).
    """
    if len(header) > MAX_COOKIE_HEADER_BYTES:
        # Whole pairs only: a value cut short is not the value the framework sees.
        header = header[: max(header.rfind(";", 0, MAX_COOKIE_HEADER_BYTES), 0)]
    needle = name + "="
    size = len(needle)
    quoted = '"' in header
    limit = _unambiguous_length(header) if quoted else len(header)
    found: list[str] = []
    start = header.find(needle, 0, limit)
    while start != -1:
        end = header.find(";", start + size)
        if _starts_pair(header, start):
            value = header[start + size : end if end != -1 else len(header)].strip(" \t")
            # Werkzeug refuses a value with a space, tab or quote inside; Starlette strips
            # every kind of whitespace at the ends: such a value is not the same for both.
            if value and not (
                " " in value
                or "\t" in value
                or (quoted and '"' in value)
                or value[0].isspace()
                or value[-1].isspace()
            ):
                found.append(value)
                if len(found) == _MAX_VALUES:
                    break
        if end == -1:
            break
        # Resume after this pair's ";": the rest of the pair is its value, never a name.
        start = header.find(needle, end, limit)
    return found


@functools.lru_cache(maxsize=1024)
def _remembered(header: str, name: str) -> tuple[str, ...]:
    return tuple(cookie_values(header, name))


def remembered_cookie_values(header: str, name: str) -> Sequence[str]:
    """:func:`cookie_values`, remembered per header (the hot path).

    A browser sends the same ``Cookie`` header request after request, so the answer is
    kept for the last 1024 headers up to 4 KB (a C-level LRU, safe under threads). The
    values it hands back are the same string objects each time, whose hashes Python
    keeps, so the session cache finds them without hashing them again.
    """
    if len(header) > _REMEMBERED_HEADER_BYTES:
        return cookie_values(header, name)
    return _remembered(header, name)


def read_cookies(header: str, names: frozenset[str]) -> dict[str, list[str]]:
    """:func:`cookie_values` for each of ``names`` that occurs in ``header``."""
    found: dict[str, list[str]] = {}
    for name in names:
        values = cookie_values(header, name)
        if values:
            found[name] = values
    return found


def _starts_pair(header: str, index: int) -> bool:
    """Whether ``index`` is where a cookie name begins: the header's start, or after ``;``
    and only spaces or tabs (Werkzeug skips exactly these; Starlette strips more)."""
    while index and header[index - 1] in " \t":
        index -= 1
    return index == 0 or header[index - 1] == ";"


def _unambiguous_length(header: str) -> int:
    """How much of ``header`` every parser splits alike: up to the first pair whose quoted
    value does not close within the pair (Werkzeug would read on across its ``;``)."""
    position = 0
    for pair in header.split(";"):
        _, sep, value = pair.partition("=")
        value = value.strip(" \t")
        if sep and value.startswith('"') and _QUOTED.fullmatch(value) is None:
            return position
        position += len(pair) + 1
    return len(header)


def set_cookie_header(name: str, value: str, *, max_age: int, secure: bool) -> str:
    """The value of a ``Set-Cookie`` header: HttpOnly, SameSite=Lax, Path=/ and no Domain.

    SameSite must be Lax, not Strict: the magic link and the widget's redirect are
    cross-site top-level navigations, and a Strict cookie would not be sent (R17, R18).
    """
    jar: SimpleCookie = SimpleCookie()
    jar[name] = value
    morsel = jar[name]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    morsel["max-age"] = max_age
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()


def delete_cookie_header(name: str, *, secure: bool) -> str:
    """A ``Set-Cookie`` value that removes the cookie, with the same attributes it was set with."""
    header = set_cookie_header(name, "", max_age=0, secure=secure)
    return f"{header}; expires=Thu, 01 Jan 1970 00:00:00 GMT"


def fits(header: str) -> bool:
    """Whether a ``Set-Cookie`` value stays within what every browser keeps."""
    return len(header) + len("Set-Cookie: ") <= MAX_SET_COOKIE_BYTES
