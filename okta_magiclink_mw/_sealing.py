"""Sealed values: encrypted and authenticated, for what the browser may carry but not read.

The session cookie is signed, which stops forgery but not reading: anything in it is
visible to the browser, its extensions and whoever copies the cookie. The ID token
(kept only as logout's ``id_token_hint``) is sealed with AES-256-GCM under a key
derived from each of ``secret_keys`` (HKDF-SHA256, one ``purpose`` per use), so
rotating the secrets rotates these keys too: the newest seals, all open.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class Sealer:
    """Seals and opens short byte strings, bound to a ``purpose`` and to associated data."""

    __slots__ = ("_ciphers",)

    def __init__(self, secret_keys: Sequence[str | bytes], *, purpose: str) -> None:
        info = f"okta-magiclink-mw.seal:{purpose}".encode()
        self._ciphers = [
            AESGCM(_derive(key.encode() if isinstance(key, str) else key, info))
            for key in reversed(secret_keys)  # newest first: it seals, and opens most values
        ]

    def seal(self, plaintext: bytes, associated: bytes) -> str:
        """The sealed text: base64url of a random nonce and the ciphertext with its tag."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._ciphers[0].encrypt(nonce, plaintext, associated)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, sealed: str, associated: bytes) -> bytes | None:
        """The plaintext, or None for anything not sealed by one of our keys for this data."""
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        except (binascii.Error, ValueError):
            return None
        nonce, ciphertext = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        if len(nonce) != _NONCE_BYTES or not ciphertext:
            return None
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, ciphertext, associated)
            except InvalidTag:
                continue
        return None


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)
