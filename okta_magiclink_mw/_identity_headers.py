"""The request headers a client could send to pose as someone, and finding them (R29).

Auth proxies hand the signed-in person to the app in headers (oauth2-proxy's
``X-Forwarded-*`` and ``X-Auth-Request-*``, Authelia's and Traefik's ``Remote-*``,
Apache's ``X-Remote-*``, Grafana's ``X-WEBAUTH-*``), so an app behind this middleware may
trust any of them. None of them may come from the client: they are removed from every
request the app sees, in any case and with ``-`` or ``_`` (WSGI folds both into one
``HTTP_*`` key; ASGI passes them as sent), plus the WSGI ``REMOTE_USER`` variable.

Kept, because proxies need them and they say nothing about who the person is:
``X-Forwarded-For``, ``-Proto``, ``-Host``, ``-Port`` and ``-Prefix`` (only the five
``X-Forwarded-*`` names below are identity headers), and the server's own CGI variables
(``REMOTE_ADDR``, ``REMOTE_PORT``, ...), which are not headers. Every header whose name
starts with ``Remote-`` goes, ``Remote-Addr`` included.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any

from .errors import ConfigurationError

#: The identity headers, in the syntax of ``Settings.identity_headers``: a name, or a
#: prefix ending in ``*``; matched in any case, ``-`` and ``_`` alike.
IDENTITY_HEADERS = (
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-auth-request-*",
    "remote-*",
    "x-remote-*",
    "x-webauth-*",
)

_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\*?")
# How many harmless names each adapter remembers. Requests carry a few dozen names at most;
# the bound keeps a client that invents new ones from growing the memory.
_REMEMBERED = 512


def header_patterns(value: Any) -> tuple[str, ...]:
    """Check ``Settings.identity_headers``: header names, or prefixes ending in ``*``.

    :raises ConfigurationError: naming the setting.
    """
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigurationError("identity_headers must be a sequence of header names")
    patterns = tuple(value)
    for pattern in patterns:
        if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern):
            raise ConfigurationError(
                f"identity_headers: {pattern!r} is not a header name "
                "(letters, digits, '-', '_'; a trailing '*' makes it a prefix)"
            )
    return patterns


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


class IdentityHeaders:
    """Recognises identity headers by name, for one middleware.

    Names found harmless are remembered (a bounded number), so the common request costs a
    set lookup per header, as a fixed list would; only a name never seen before is
    normalised and compared with the families.

    :param extra: ``Settings.identity_headers``: more names, or prefixes ending in ``*``.
    """

    __slots__ = ("_exact", "_prefixes", "harmless_keys", "harmless_names")

    def __init__(self, extra: Iterable[str] = ()) -> None:
        patterns = [_canonical(p) for p in (*IDENTITY_HEADERS, *extra)]
        self._exact = frozenset(p for p in patterns if not p.endswith("*"))
        self._prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
        #: ASGI header names (bytes, as sent) known not to be identity headers.
        self.harmless_names: set[bytes] = set()
        #: WSGI environ keys known not to be identity headers.
        self.harmless_keys: set[Any] = set()

    def _matches(self, name: str) -> bool:
        canonical = _canonical(name)
        return canonical in self._exact or canonical.startswith(self._prefixes)

    def is_identity_name(self, name: bytes) -> bool:
        """Whether an ASGI header name is an identity header (remembering it if not)."""
        found = self._matches(name.decode("latin-1"))
        if not found and len(self.harmless_names) < _REMEMBERED:
            self.harmless_names.add(name)
        return found

    def is_identity_key(self, key: Any) -> bool:
        """Whether a WSGI environ key is ``REMOTE_USER`` or an identity header's
        ``HTTP_*`` key (remembering it if not)."""
        found = False
        if isinstance(key, str):  # apps read exactly these keys; the header part any way
            found = key == "REMOTE_USER" or (key.startswith("HTTP_") and self._matches(key[5:]))
        if not found and len(self.harmless_keys) < _REMEMBERED:
            self.harmless_keys.add(key)
        return found

    def strip_environ(self, environ: MutableMapping[str, Any]) -> None:
        """Remove every identity key from a WSGI environ, in place (the adapter first
        checks ``harmless_keys.issuperset(environ)``: nothing to do then)."""
        harmless = self.harmless_keys
        for key in [k for k in environ if k not in harmless and self.is_identity_key(k)]:
            del environ[key]

    def strip_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The ASGI headers without the identity headers."""
        harmless = self.harmless_names
        return [h for h in headers if h[0] in harmless or not self.is_identity_name(h[0])]
