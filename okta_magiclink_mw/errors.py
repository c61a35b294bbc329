"""Errors raised by okta_magiclink_mw.

The tree::

    MagicLinkError                 base class; carries .code and .status
    ├── ConfigurationError         bad settings, raised at construction (also a ValueError)
    ├── AccessDenied               signed in, but not allowed there                (403)
    └── SignInError                a sign-in attempt failed; rendered as an error page
        ├── BadRequest             malformed or ambiguous callback input           (400)
        ├── StateMismatch          no matching sign-in in this browser             (403)
        ├── InvalidIdToken         the ID token failed validation                  (403)
        ├── TokenExchangeError     Okta refused the interaction code               (400/502)
        ├── IdentityProviderError  Okta could not be reached or answered nonsense  (502/503/504)
        └── SignInRequired         the session ended, or has no usable token: sign in (401)

Each error knows the HTTP status it maps to and a message that is safe to
show a person: no token, code, OTP, state or upstream body is ever put in
one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._policy import Denial


class MagicLinkError(Exception):
    """Base class for every error of this package."""

    #: A short machine-readable code, stable across releases.
    code: str = "error"
    #: The HTTP status a response for this error should carry.
    status: int = 500
    #: A message safe to show to the person signing in.
    public_message: str = "Something went wrong while signing you in."

    def __init__(
        self,
        public_message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        if public_message is not None:
            self.public_message = public_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        super().__init__(self.public_message)


class ConfigurationError(MagicLinkError, ValueError):
    """The settings cannot work; raised when the middleware is built, never per request."""

    code = "configuration_error"


class AccessDenied(MagicLinkError):
    """A signed-in person may not have this page: what the guards of
    :mod:`okta_magiclink_mw.fastapi`, :mod:`~okta_magiclink_mw.starlette` and
    :mod:`~okta_magiclink_mw.flask` raise. Let it propagate: the middleware answers with
    its 403 page (JSON for an API call), as for a person its own rules refuse."""

    code = "forbidden"
    status = 403
    public_message = "You do not have access to this page."

    def __init__(
        self,
        public_message: str | None = None,
        *,
        user: Any = None,
        denial: Denial | None = None,
    ) -> None:
        super().__init__(public_message)
        #: Who was refused (an :class:`~okta_magiclink_mw.OktaUser`), and why.
        self.user = user
        self.denial = denial


class SignInError(MagicLinkError):
    """A sign-in attempt failed in a way the person can recover from by starting again."""

    code = "sign_in_failed"


class BadRequest(SignInError):
    code = "bad_request"
    status = 400
    public_message = "This sign-in link is malformed."


class StateMismatch(SignInError):
    code = "state_mismatch"
    status = 403
    public_message = "This sign-in was not started in this browser, or it has expired."


class InvalidIdToken(SignInError):
    code = "invalid_id_token"
    status = 403
    public_message = "Okta's answer could not be verified."


class TokenExchangeError(SignInError):
    code = "token_exchange_failed"
    status = 400
    public_message = "This sign-in has expired or was already used."


class IdentityProviderError(SignInError):
    code = "idp_unavailable"
    status = 502
    public_message = "Okta did not answer as expected. Please try again in a moment."


class SignInRequired(SignInError):
    """The person must sign in again: their session ended (Okta refused its refresh token,
    they were signed out elsewhere) or it holds no access token that can be renewed.

    Raised by :meth:`OktaUser.access_token <okta_magiclink_mw.OktaUser.access_token>` and
    friends. Let it propagate: the middleware turns it into what a signed-out request
    gets (a redirect to sign in for a page, a 401 for an API call) when the app has not
    started its response yet.
    """

    code = "signin_required"
    status = 401
    public_message = "Your session has ended. Please sign in again."
