"""What ``check-config`` prints: every setting's effective value, secrets hidden.

A secret is never printed, in whole or in part: ``client_secret`` and ``secret_keys``
show only whether they are set, and a ``session_store`` URL loses its user and
password (``redis://***@host:6379/0``) and its query (redis-py reads ``?password=``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from .. import _environment
from ..settings import Settings
from ._config import SERVER_PATHS, SERVER_VARIABLES, ServerConfig

_SECRETS = frozenset({"client_secret", "secret_keys"})


def describe(config: ServerConfig) -> list[str]:
    """The lines ``check-config`` prints for a valid configuration."""
    settings = config.settings
    rows: list[tuple[str, str, str]] = []
    for field in dataclasses.fields(Settings):
        if not field.init or field.name in _environment.CODE_ONLY:
            continue
        variable = _environment.variable_of(field.name) or "(code only)"
        value = (
            config.app_public_paths
            if field.name == "public_paths"
            else getattr(settings, field.name)
        )
        rows.append((field.name, variable, _shown(field.name, value)))
    server_rows = [
        (name, variable, _shown(name, getattr(config.server, name)))
        for name, (variable, _) in SERVER_VARIABLES.items()
    ]
    width = max(len(name) for name, _, _ in rows + server_rows)
    var_width = max(len(variable) for _, variable, _ in rows + server_rows)

    def line(name: str, variable: str, value: str) -> str:
        source = "" if variable in config.given else "  (default)"
        return f"  {name:<{width}}  {variable:<{var_width}}  {value}{source}"

    out = ["The configuration is valid.", "", "Settings:"]
    out += [line(*row) for row in rows]
    out += ["", "Forward-auth server:"]
    out += [line(*row) for row in server_rows]
    out += [
        "",
        f"Endpoints: {', '.join(SERVER_PATHS)}; sign-in pages: {settings.login_path}, "
        f"{settings.callback_path}, {settings.logout_path}",
        f"Sign-in site: {settings.app_origin} (cookies "
        f"{'Secure, __Host-' if settings.secure_cookies else 'not Secure'})",
    ]
    return out


def _shown(name: str, value: Any) -> str:
    if name in _SECRETS:
        if not value:
            return "(not set)"
        if name == "secret_keys":
            return f"(set: {len(value)} key{'s' if len(value) != 1 else ''})"
        return "(set)"
    if name == "session_store":
        if value is None:
            return "(not set: sessions in the cookie)"
        return redacted_url(value) if isinstance(value, str) else "(a store object)"
    if name == "cookie_secure" and value is None:
        return "auto"
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        separator = "; " if name == "access_rules" else ", "
        return separator.join(str(item) for item in value) if value else "(none)"
    return str(value)


def redacted_url(url: str) -> str:
    """``url`` without its userinfo and query: ``redis://***@host:6379/0``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "(set)"
    # Nothing before the last "@" is shown: a password may hold "/", "?" or "@" itself.
    at = rest.rfind("@")
    user = "***@" if at >= 0 else ""
    rest, question, _ = rest[at + 1 :].partition("?")
    return f"{scheme}://{user}{rest}{'?***' if question else ''}"
