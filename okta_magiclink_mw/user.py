"""The signed-in person, as the wrapped app sees them."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from starlette.authentication import BaseUser


class OktaUser(BaseUser):
    """A person signed in through Okta.

    In Starlette and FastAPI it is ``request.user`` (no AuthenticationMiddleware
    needed); in WSGI apps it is ``environ["okta_magiclink_mw.user"]``.

    :ivar claims: the identity claims of the validated ID token (read-only).
    """

    __slots__ = ("claims",)

    def __init__(self, claims: Mapping[str, Any]) -> None:
        self.claims: Mapping[str, Any] = MappingProxyType(dict(claims))

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> str:
        """Okta's stable user id (the ``sub`` claim)."""
        return str(self.claims["sub"])

    @property
    def email(self) -> str | None:
        email = self.claims.get("email")
        return email if isinstance(email, str) else None

    @property
    def display_name(self) -> str:
        for claim in ("name", "preferred_username", "email", "sub"):
            value = self.claims.get(claim)
            if isinstance(value, str) and value:
                return value
        return ""

    def __repr__(self) -> str:
        return f"OktaUser(identity={self.identity!r})"


class AnonymousUser(BaseUser):
    """Nobody is signed in: what a public path sees without a session."""

    __slots__ = ()

    claims: Mapping[str, Any] = MappingProxyType({})
    email = None

    @property
    def is_authenticated(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        return ""

    @property
    def identity(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "AnonymousUser()"
