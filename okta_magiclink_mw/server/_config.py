"""The forward-auth server's configuration: every setting plus a few of its own, all
from the environment.

The middleware's settings come from :meth:`Settings.from_env` (the table in
``_environment.py``); the server adds the variables in :data:`SERVER_VARIABLES`, read
and checked here, so ``serve`` and ``check-config`` agree on what a configuration means.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .. import _environment
from .._environment import Parse
from ..errors import ConfigurationError
from ..settings import Settings

logger = logging.getLogger("okta_magiclink_mw")

#: The server's own endpoints. They are public paths of the middleware in front of
#: it: each checks the session itself, for the request the proxy asks about.
AUTH_PATH = "/auth"
FORWARD_PATH = "/auth/forward"
PING_PATH = "/ping"
READY_PATH = "/ready"
METRICS_PATH = "/metrics"
SERVER_PATHS = (AUTH_PATH, FORWARD_PATH, PING_PATH, READY_PATH, METRICS_PATH)

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

#: ``host`` or ``host:port``: a DNS name or an IPv4 address, or a bracketed IPv6 one.
HOST_PATTERN = re.compile(
    r"(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)"
    r"(?::[0-9]{1,5})?"
)


def _port(variable: str, raw: str) -> int:
    port = _environment.integer(variable, raw)
    if not 1 <= port <= 65535:
        raise ConfigurationError(f"{variable} must be a port number from 1 to 65535")
    return port


def _hosts(variable: str, raw: str) -> tuple[str, ...]:
    hosts = tuple(host.lower() for host in _environment.items(variable, raw))
    for host in hosts:
        if not HOST_PATTERN.fullmatch(host):
            raise ConfigurationError(
                f"{variable}: {host!r} must be a host name, optionally with a port, "
                "such as app.example.com or app.example.com:8443 (no scheme, no path)"
            )
    return hosts


def _level(variable: str, raw: str) -> str:
    level = raw.strip().lower()
    if level not in _LOG_LEVELS:
        raise ConfigurationError(f"{variable} must be one of {', '.join(_LOG_LEVELS)}")
    return level


def _cache(variable: str, raw: str) -> float:
    value = _environment.seconds(variable, raw)
    if not 0 <= value <= 300:
        raise ConfigurationError(f"{variable} must be from 0 to 300 seconds")
    return value


#: The server's variables (field -> variable, parser), besides every setting's.
SERVER_VARIABLES: Mapping[str, tuple[str, Parse]] = {
    "host": ("OKTA_MW_SERVE_HOST", _environment.text),
    "port": ("OKTA_MW_SERVE_PORT", _port),
    "allowed_hosts": ("OKTA_MW_ALLOWED_HOSTS", _hosts),
    "ready_cache": ("OKTA_MW_READY_CACHE", _cache),
    "log_level": ("OKTA_MW_SERVE_LOG_LEVEL", _level),
    "access_log": ("OKTA_MW_SERVE_ACCESS_LOG", _environment.flag),
}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What the server needs besides :class:`~okta_magiclink_mw.Settings`."""

    #: The address uvicorn listens on: loopback by default, only the proxy calls it.
    host: str = "127.0.0.1"
    port: int = 4180
    #: ``host[:port]`` names, besides the host of ``redirect_uri``, that a proxy may
    #: report in ``X-Forwarded-Host`` and that a sign-in may be sent to.
    allowed_hosts: tuple[str, ...] = ()
    #: How long one ``/ready`` answer is reused (seconds), so a probe every second
    #: does not call Okta every second.
    ready_cache: float = 5.0
    log_level: str = "info"
    #: uvicorn's access log; off by default: it would log every check, and sign-in
    #: callback URLs carry one-time codes.
    access_log: bool = False


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """A whole configuration: the middleware's settings and the server's."""

    settings: Settings
    server: ServerSettings
    #: ``OKTA_MW_PUBLIC_PATHS``: paths of the *protected* app that need no sign-in
    #: (``/auth`` answers for them without a session). The middleware in front of the
    #: server gets :data:`SERVER_PATHS` as its own public paths instead.
    app_public_paths: tuple[str, ...]
    #: The variables that were set, by name (what ``check-config`` reports as such).
    given: frozenset[str]


def load_config(environ: Mapping[str, str] | None = None, **server: Any) -> ServerConfig:
    """Read and check the whole configuration; keyword arguments override the server's
    variables (``serve --host/--port``).

    :raises ConfigurationError: naming the first variable that is missing or malformed,
        or the settings that cannot work together.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, (variable, parse) in SERVER_VARIABLES.items():
        raw = env.get(variable, "")
        if raw.strip():
            values[name] = parse(variable, raw)
    values.update({k: v for k, v in server.items() if v is not None})
    server_settings = ServerSettings(**values)

    public_variable, parse_public = _environment.OPTIONAL["public_paths"]
    raw_public = env.get(public_variable, "")
    app_public = tuple(parse_public(public_variable, raw_public)) if raw_public.strip() else ()
    for path in app_public:
        if not isinstance(path, str) or not path.startswith("/") or "?" in path:
            raise ConfigurationError(
                f"{public_variable}: {path!r} must be an absolute path such as '/health'"
            )
    settings = Settings.from_env(env, public_paths=SERVER_PATHS)
    own = {settings.login_path, settings.logout_path, settings.callback_path}
    clash = own.intersection(SERVER_PATHS)
    if clash:
        raise ConfigurationError(
            f"{', '.join(sorted(clash))} is an endpoint of the forward-auth server: choose "
            "another OKTA_MW_LOGIN_PATH, OKTA_MW_LOGOUT_PATH or OKTA_REDIRECT_URI path"
        )
    for name in ("universal_logout_path", "backchannel_logout_path"):
        if getattr(settings, name) in SERVER_PATHS:
            raise ConfigurationError(f"{name} must not be an endpoint of the forward-auth server")
    _warn_about_hosts(settings, server_settings.allowed_hosts)
    given = {variable for variable, _ in _all_variables() if env.get(variable, "").strip()}
    return ServerConfig(settings, server_settings, app_public, frozenset(given))


def _all_variables() -> list[tuple[str, str]]:
    """(variable, field) for every variable the server reads."""
    pairs = [(v, name) for name, (v, _) in _environment.REQUIRED.items()]
    pairs += [(v, name) for name, (v, _) in _environment.OPTIONAL.items()]
    pairs += [(v, name) for name, (v, _) in SERVER_VARIABLES.items()]
    return pairs


def _warn_about_hosts(settings: Settings, allowed: tuple[str, ...]) -> None:
    """Sign-in cookies are host-only: a host name other than redirect_uri's cannot
    finish a sign-in at its callback, whatever the port."""
    home = (urlsplit(settings.redirect_uri).hostname or "").lower()
    for entry in allowed:
        name = urlsplit(f"//{entry}").hostname or entry
        if name != home:
            logger.warning(
                "OKTA_MW_ALLOWED_HOSTS lists %s, but sign-in cookies belong to %s (the host "
                "of OKTA_REDIRECT_URI): a sign-in started on %s cannot complete there",
                entry,
                home,
                name,
                extra={"event": "startup.foreign_host"},
            )
