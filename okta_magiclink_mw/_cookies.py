"""Signed cookies: one codec per purpose, key rotation, a size guard, strict parsing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from http.cookies import SimpleCookie
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

#: RFC 6265 §6.1: browsers keep at least 4096 bytes per cookie, name and attributes included.
MAX_SET_COOKIE_BYTES = 4096
#: Work bound on the Cookie header (R26, catalogue #62/#63): longer headers are read no further.
MAX_COOKIE_HEADER_BYTES = 16_384
_MAX_COOKIE_PAIRS = 64


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


def read_cookies(header: str, names: frozenset[str]) -> dict[str, list[str]]:
    """Collect the values of the named cookies from a ``Cookie`` header.

    Only ``names`` are looked at; nameless pairs (``=__Host-x=v``, Werkzeug CVE-2023-23934)
    never match a name, duplicates are all kept (only a valid signature will count), and the
    work is bounded however large the header is.
    """
    found: dict[str, list[str]] = {}
    if len(header) > MAX_COOKIE_HEADER_BYTES:
        header = header[:MAX_COOKIE_HEADER_BYTES]
    for pair in header.split(";", _MAX_COOKIE_PAIRS)[:_MAX_COOKIE_PAIRS]:
        name, sep, value = pair.partition("=")
        if not sep:
            continue
        name = name.strip()
        if name in names:
            found.setdefault(name, []).append(value.strip())
    return found


def cookie_values(header: str, needle: str) -> list[str]:
    """The values of one cookie, found without parsing the whole header (the hot path).

    ``needle`` is the cookie's name followed by ``=``. A match must start the header or
    follow ``;`` or a space, so a nameless pair (``=name=v``) or a longer name ending in
    the name never matches.
    """
    size = len(needle)
    found: list[str] = []
    start = header.find(needle)
    while start != -1 and len(found) < 4:
        # Resume after this pair's ";": never scan a long value twice for the name.
        end = header.find(";", start + size)
        if start == 0 or header[start - 1] in "; \t":
            value = header[start + size : end] if end != -1 else header[start + size :]
            found.append(value.strip())
        if end == -1:
            break
        start = header.find(needle, end)
    return found


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
