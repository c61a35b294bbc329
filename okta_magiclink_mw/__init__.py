"""Okta Identity Engine magic-link sign-in for ASGI and WSGI apps.

Wrap an app in one line::

    app = OktaMagicLink(app, Settings.from_env())             # Starlette, FastAPI
    app.wsgi_app = OktaMagicLinkWSGI(app.wsgi_app, settings)  # Flask, any WSGI app
"""

from __future__ import annotations

from ._policy import AccessRule as AccessRule
from ._sessions import InMemorySessionStore as InMemorySessionStore
from ._sessions import SessionStore as SessionStore
from .asgi import OktaMagicLink as OktaMagicLink
from .errors import AccessDenied as AccessDenied
from .errors import BadRequest as BadRequest
from .errors import ConfigurationError as ConfigurationError
from .errors import IdentityProviderError as IdentityProviderError
from .errors import InvalidIdToken as InvalidIdToken
from .errors import MagicLinkError as MagicLinkError
from .errors import SignInError as SignInError
from .errors import StateMismatch as StateMismatch
from .errors import TokenExchangeError as TokenExchangeError
from .settings import Settings as Settings
from .settings import WidgetPage as WidgetPage
from .user import AnonymousUser as AnonymousUser
from .user import OktaUser as OktaUser
from .wsgi import OktaMagicLinkWSGI as OktaMagicLinkWSGI

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "AccessRule",
    "AnonymousUser",
    "BadRequest",
    "ConfigurationError",
    "IdentityProviderError",
    "InMemorySessionStore",
    "InvalidIdToken",
    "MagicLinkError",
    "OktaMagicLink",
    "OktaMagicLinkWSGI",
    "OktaUser",
    "SessionStore",
    "Settings",
    "SignInError",
    "StateMismatch",
    "TokenExchangeError",
    "WidgetPage",
    "__version__",
]
