"""The signed-in person, as the wrapped app sees them."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from starlette.authentication import AuthCredentials, BaseUser

from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._policy import Policy


class TokenSource(Protocol):
    """Where a user's access token comes from: their session in the shared store."""

    def access_token(self, min_valid: float) -> str: ...

    def aaccess_token(self, min_valid: float) -> Awaitable[str]: ...


#: ``scope["auth"]`` of a person in no group, and of nobody (shared, never rebuilt).
SIGNED_IN = AuthCredentials(["authenticated"])
SIGNED_OUT = AuthCredentials()

_NO_TOKENS = (
    "access tokens are kept only with a session_store (sessions in the cookie never hold "
    "a token): set Settings.session_store, e.g. to redis://localhost:6379/0"
)


class OktaUser(BaseUser):
    """A person signed in through Okta.

    In Starlette and FastAPI it is ``request.user`` (no AuthenticationMiddleware
    needed); in WSGI apps it is ``environ["okta_magiclink_mw.user"]``.

    An email counts only when Okta says it is verified (``email_verified: true``):
    otherwise :attr:`email` is None and :attr:`remote_user` is the Okta id, so an
    address anyone could type into a profile never becomes who someone is. The raw
    claims, ``email`` included, stay readable in :attr:`claims`.

    :attr:`groups` is the ID token's ``groups`` claim, which Okta sends only when the
    authorization server (or the app's "Groups claim filter") is set up to; in Starlette,
    each group is also a ``group:<name>`` scope of ``request.auth`` for ``@requires``.

    :ivar claims: the identity claims of the validated ID token (read-only).
    :ivar email: the verified email address, or None.
    :ivar remote_user: what WSGI's ``REMOTE_USER`` carries: the verified email, else the
        Okta id.
    :ivar groups: the ID token's ``groups`` claim, as a frozenset of names (empty without
        the claim).
    """

    __slots__ = ("_access", "_auth", "_tokens", "claims", "email", "groups", "remote_user")

    def __init__(self, claims: Mapping[str, Any], *, tokens: TokenSource | None = None) -> None:
        self._tokens = tokens
        self.claims: Mapping[str, Any] = MappingProxyType(dict(claims))
        email = claims.get("email")
        verified = isinstance(email, str) and email and claims.get("email_verified") is True
        #: The verified email address, or None.
        self.email: str | None = email if verified else None
        #: What WSGI's ``REMOTE_USER`` carries: the verified email, else the Okta id.
        self.remote_user: str = self.email or str(claims["sub"])
        #: The ID token's ``groups`` claim (a list of strings; anything else is no group).
        self.groups: frozenset[str] = _groups(claims.get("groups"))
        # ``scope["auth"]``: "authenticated" and a "group:<name>" per group (for
        # Starlette's @requires), built once per user, as the user is once per session.
        self._auth = (
            AuthCredentials(["authenticated", *(f"group:{g}" for g in sorted(self.groups))])
            if self.groups
            else SIGNED_IN
        )
        #: The rules this person passes, as the policy that computed them left it.
        self._access: tuple[Policy, int] | None = None

    @property
    def is_authenticated(self) -> bool:
        """Always True: someone is signed in."""
        return True

    @property
    def identity(self) -> str:
        """Okta's stable user id (the ``sub`` claim)."""
        return str(self.claims["sub"])

    @property
    def display_name(self) -> str:
        """A name to greet them with: ``name``, ``preferred_username``, the verified
        email, or their Okta id."""
        for value in (self.claims.get("name"), self.claims.get("preferred_username")):
            if isinstance(value, str) and value:
                return value
        return self.remote_user

    def access_token(self, *, min_valid: float = 60) -> str:
        """Their Okta access token, valid for at least ``min_valid`` more seconds (WSGI).

        Refreshed with the refresh token when needed (``offline_access`` in ``scopes``),
        once per session across every instance sharing the store.

        :raises SignInRequired: the session ended, or its token ran out and cannot be
            renewed; let it propagate and the person is sent to sign in (401 for an API).
        :raises ConfigurationError: no session store, so no token is kept; or called
            under ASGI, where :meth:`aaccess_token` is the one to await.
        """
        if self._tokens is None:
            raise ConfigurationError(_NO_TOKENS)
        return self._tokens.access_token(min_valid)

    async def aaccess_token(self, *, min_valid: float = 60) -> str:
        """:meth:`access_token` for ASGI apps: ``await request.user.aaccess_token()``."""
        if self._tokens is None:
            raise ConfigurationError(_NO_TOKENS)
        return await self._tokens.aaccess_token(min_valid)

    def __repr__(self) -> str:
        return f"OktaUser(identity={self.identity!r})"


def _groups(value: object) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(g for g in value if isinstance(g, str) and g)


class AnonymousUser(BaseUser):
    """Nobody is signed in: what a public path sees without a session.

    It answers like :class:`OktaUser` with nothing in it: ``is_authenticated`` is False,
    ``email`` None, ``remote_user``, ``identity`` and ``display_name`` empty, no groups.
    """

    __slots__ = ()

    claims: Mapping[str, Any] = MappingProxyType({})
    email = None
    remote_user = ""
    groups: frozenset[str] = frozenset()
    _auth = SIGNED_OUT

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
