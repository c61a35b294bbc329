"""The forward-auth server: okta-magiclink-mw for apps that are not Python.

nginx (``auth_request``), Traefik (``forwardAuth``) and Caddy (``forward_auth``) ask it
whether a request may pass; it answers from the person's session cookie, and hosts the
sign-in pages itself. ``okta-magiclink-mw serve`` runs it with uvicorn; everything is
configured from the environment (see the README's tables)::

    from okta_magiclink_mw.server import create_app

    app = create_app()  # an ASGI app: OKTA_* variables from os.environ
"""

from __future__ import annotations

from ._app import create_app as create_app
from ._config import SERVER_PATHS as SERVER_PATHS
from ._config import SERVER_VARIABLES as SERVER_VARIABLES
from ._config import ServerConfig as ServerConfig
from ._config import ServerSettings as ServerSettings
from ._config import load_config as load_config

__all__ = [
    "SERVER_PATHS",
    "SERVER_VARIABLES",
    "ServerConfig",
    "ServerSettings",
    "create_app",
    "load_config",
]
