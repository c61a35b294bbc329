"""Okta Identity Engine magic-link sign-in for ASGI and WSGI apps.

Wrap an app in one line::

    app = OktaMagicLink(app, Settings.from_env())             # Starlette, FastAPI
    app.wsgi_app = OktaMagicLinkWSGI(app.wsgi_app, settings)  # Flask, any WSGI app
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Imported on first use (PEP 562): the pytest plugin (okta_magiclink_mw.pytest_plugin) loads
# in every pytest run of every user, and must not pay for starlette, httpx and cryptography.
_LAZY = {
    "AccessDenied": "errors",
    "AccessRule": "_policy",
    "AnonymousUser": "user",
    "BadRequest": "errors",
    "ConfigurationError": "errors",
    "IdentityProviderError": "errors",
    "InMemorySessionStore": "_sessions",
    "InvalidIdToken": "errors",
    "MagicLinkError": "errors",
    "OktaMagicLink": "asgi",
    "OktaMagicLinkWSGI": "wsgi",
    "OktaUser": "user",
    "SessionStore": "_sessions",
    "Settings": "settings",
    "SignInError": "errors",
    "StateMismatch": "errors",
    "TokenExchangeError": "errors",
    "WidgetPage": "settings",
}

__all__ = [*sorted(_LAZY), "__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once found, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
