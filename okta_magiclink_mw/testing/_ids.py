"""Okta-looking random identifiers."""

from __future__ import annotations

import secrets
import string

_ALNUM = string.ascii_letters + string.digits


def okta_id(prefix: str) -> str:
    """A 20-character Okta object id such as ``00u1egri51r4PYyfE1d7``."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(20 - len(prefix)))


def opaque(nbytes: int = 32) -> str:
    """An opaque URL-safe token (interaction handles, codes)."""
    return secrets.token_urlsafe(nbytes)


def state_handle() -> str:
    """An IDX state handle, shaped like Okta's ``02…`` handles."""
    return "02" + secrets.token_urlsafe(30)


def otp() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(1_000_000):06d}"


def okta_session_id() -> str:
    """An Okta session id as ID tokens carry it in ``sid`` (``idx`` + 22 characters)."""
    return "idx" + secrets.token_urlsafe(16)
