"""What a proxy tells the forward-auth server about the request it asks about (pure).

nginx's ``auth_request`` sends ``X-Original-URI`` (and ``X-Original-Method``); Traefik's
``forwardAuth`` and Caddy's ``forward_auth`` send ``X-Forwarded-Method``, ``-Proto``,
``-Host`` and ``-Uri``. A client can send every one of these headers too, and some
proxies pass the client's along (Traefik copies all request headers), so:

* the URI is the raw request target, ``/path?query``, and anything else is refused
  (a misconfigured proxy, or a client's forgery) rather than guessed at;
* when both URI headers come and disagree, one of them is the client's: refused;
* the path the policy sees is the raw path percent-decoded once, as ASGI servers
  decode ``scope["path"]`` (the policy resolves dot segments itself);
* a return target is kept only if it is a relative path on the very site being signed
  in to, under the middleware's own rules (``_redirects.safe_return_target``);
* a site is only ever one the configuration names (``redirect_uri``'s host, or one of
  ``OKTA_MW_ALLOWED_HOSTS``): the server never builds a redirect to any other host.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from .._redirects import safe_return_target
from ._config import HOST_PATTERN

__all__ = [
    "MAX_URI_LENGTH",
    "BadForward",
    "Original",
    "Site",
    "normal_host",
    "original_request",
    "return_target",
    "site_of",
]

#: Longest original URI accepted; nginx's default header buffers end at 8 KiB.
MAX_URI_LENGTH = 8192

#: Controls, space, DEL, and "#" (a fragment never reaches a server).
_RAW_FORBIDDEN = re.compile(r"[\x00-\x20\x7f#]")
#: Controls in the decoded path: no route contains them, so no request needs them.
_DECODED_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
#: An absolute http(s) URL: scheme, authority, rest (an ``rd`` may be one).
_ABSOLUTE = re.compile(r"(https?)://([^/?#]*)(.*)", re.IGNORECASE | re.DOTALL)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_METHOD = re.compile(r"[A-Za-z]{1,16}")
_COMMON_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class BadForward(Exception):
    """The proxy's description of the request cannot be used: answered with a 400."""


@dataclass(frozen=True, slots=True)
class Original:
    """The request the proxy asks about."""

    method: str
    #: The request target as the client sent it: ``/path?query``, percent-encoded.
    uri: str
    #: The path percent-decoded once: what public paths and the policy are matched on.
    path: str
    query: str


@dataclass(frozen=True, slots=True)
class Site:
    """Where the person is: ``origin`` is ``scheme://host[:port]`` (no default port)."""

    scheme: str
    host: str

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"


def original_request(
    headers: Mapping[str, str], *, prefer: tuple[str, str], default_method: str
) -> Original:
    """The original request from the proxy's headers (lower-case names).

    :param prefer: the two URI headers, the one this endpoint's proxy sets first
        (``x-original-uri`` for nginx, ``x-forwarded-uri`` for Traefik and Caddy).
    :raises BadForward: no URI header, two that disagree, or a URI that is not a plain
        ``/path?query``.
    """
    first, second = (headers.get(name) for name in prefer)
    if first is None and second is None:
        raise BadForward(
            "the proxy sent no X-Original-URI or X-Forwarded-Uri header: set it to the "
            "request's URI (nginx: proxy_set_header X-Original-URI $request_uri;)"
        )
    if first is not None and second is not None and first != second:
        raise BadForward("X-Original-URI and X-Forwarded-Uri disagree")
    raw = first if first is not None else second
    assert raw is not None
    uri, path, query = _parse_uri(raw)
    method = headers.get("x-original-method") or headers.get("x-forwarded-method")
    method = method or default_method
    if method not in _COMMON_METHODS:
        if not _METHOD.fullmatch(method):
            raise BadForward("the original method is not an HTTP method")
        method = method.upper()
    return Original(method, uri, path, query)


def _parse_uri(raw: str) -> tuple[str, str, str]:
    # "//x" stays: the policy collapses slashes, and a return target refuses it anyway.
    if not raw.startswith("/"):
        raise BadForward("the original URI must be a path such as /page?x=1")
    if len(raw) > MAX_URI_LENGTH:
        raise BadForward("the original URI is too long")
    if _RAW_FORBIDDEN.search(raw):
        raise BadForward("the original URI has spaces, control characters or a fragment")
    raw_path, _, query = raw.partition("?")
    if "%" not in raw_path and raw_path.isascii():
        return raw, raw_path, query  # the common case: nothing to decode, already checked
    # Header text is latin-1 (the bytes as sent); a path's bytes are UTF-8 once decoded.
    path = unquote_to_bytes(raw_path.encode("latin-1")).decode("utf-8", "replace")
    if _DECODED_FORBIDDEN.search(path):
        raise BadForward("the original path has encoded control characters")
    return raw, path, query


def site_of(
    headers: Mapping[str, str],
    *,
    home: Site,
    allowed_hosts: Collection[str],
    secure: bool,
) -> Site | None:
    """The site the person is on, from ``X-Forwarded-Proto`` and ``X-Forwarded-Host``;
    ``home`` (redirect_uri's) when no host is given; None for a host not configured.

    With Secure cookies (``secure``), the scheme is always https: a sign-in cannot
    complete over http, and a proxy's word never downgrades it.
    """
    proto = headers.get("x-forwarded-proto", "").strip().lower()
    scheme = "https" if secure else (proto if proto in _DEFAULT_PORTS else home.scheme)
    home_host = normal_host(home.host, scheme) or home.host
    raw_host = headers.get("x-forwarded-host")
    if raw_host is None:
        return Site(scheme, home_host)
    host = normal_host(raw_host, scheme)
    if host is None:
        return None
    if host == home_host or any(host == normal_host(entry, scheme) for entry in allowed_hosts):
        return Site(scheme, host)
    return None


def normal_host(raw: str, scheme: str) -> str | None:
    """``host[:port]`` lower-cased, without the scheme's default port; None if it is
    not a plain host name (a list, userinfo, a path...)."""
    host = raw.strip().lower()
    if not HOST_PATTERN.fullmatch(host):
        return None
    if host.endswith("]"):  # a bracketed IPv6 address without a port
        return host
    name, colon, port = host.rpartition(":")
    return name if colon and port == _DEFAULT_PORTS.get(scheme) else host


def return_target(
    rd: str | None, original: Original, site: Site, *, forbidden_paths: Collection[str]
) -> str:
    """Where to send the person after sign-in: ``rd`` if given, else the original URI,
    as a same-site relative path that :func:`safe_return_target` accepts; ``"/"``
    for anything doubtful (as the middleware does)."""
    candidate = original.uri if rd is None else _relative(rd, site)
    if candidate is None:
        return "/"
    return safe_return_target(candidate, forbidden_paths=forbidden_paths)


def _relative(rd: str, site: Site) -> str | None:
    """``rd`` as a relative target: as given when it is one, or the path and query of
    an absolute URL on ``site`` itself; None for anything else."""
    if rd.startswith("/"):
        return rd  # checked as a relative target by the caller
    # No controls, spaces or fragment anywhere: WHATWG parsers drop tabs and newlines
    # silently, so "https://app\t.evil" must never be read as two different URLs.
    if not rd.isascii() or _RAW_FORBIDDEN.search(rd):
        return None
    match = _ABSOLUTE.fullmatch(rd)
    if match is None:
        return None
    scheme, authority, rest = match.group(1).lower(), match.group(2), match.group(3)
    # Userinfo ("https://app@evil") and backslashes ("https://app\\@evil") are how
    # parsers are made to disagree about the host: refused outright.
    if scheme != site.scheme or "@" in authority or "\\" in authority:
        return None
    if normal_host(authority, scheme) != site.host:
        return None
    return "/" + rest if not rest or rest.startswith("?") else rest
