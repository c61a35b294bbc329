"""Okta Identity Engine magic-link sign-in for ASGI and WSGI apps.

Wrap an app in one line::

    app = OktaMagicLink(app, Settings.from_env())          # Starlette, FastAPI
    app.wsgi_app = OktaMagicLinkWSGI(app.wsgi_app, settings)  # Flask, any WSGI app
"""

from __future__ import annotations

__version__ = "0.1.0"
