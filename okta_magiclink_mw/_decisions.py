"""What the core is told about a request, and what it decides: the types the adapters
translate to and from (re-exported by ``_flow``), and whether a request is a navigation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._effects import Flow
from .user import AnonymousUser, OktaUser

Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the core needs to know about a request, and nothing more."""

    method: str
    #: The percent-decoded path as the browser sees it: ASGI ``scope["path"]``, WSGI
    #: ``SCRIPT_NAME + PATH_INFO``.
    path: str
    query_string: str = ""
    cookie_header: str = ""
    accept: str = ""
    sec_fetch_site: str = ""
    sec_fetch_mode: str = ""
    origin: str = ""
    requested_with: str = ""
    referer: str = ""
    #: The path the app routes on, when it differs from ``path``: WSGI ``PATH_INFO``, ASGI
    #: ``path`` without ``root_path``. Public paths are matched on it (see
    #: :meth:`MagicLinkCore.is_public`).
    route_path: str | None = None
    #: ``Authorization``, ``Content-Type`` and the body: read only for POSTs to the global
    #: logout endpoints (:attr:`MagicLinkCore.body_paths`), bounded by the adapter.
    authorization: str = ""
    content_type: str = ""
    body: bytes = b""


@dataclass(slots=True)
class PassThrough:
    """Call the app with ``user`` attached, adding ``set_cookies`` to its response."""

    user: OktaUser | AnonymousUser
    set_cookies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Respond:
    """The middleware answers by itself."""

    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Exchange:
    """The answer needs Okta or the session store: drive ``flow`` (it yields effects and
    is sent their results) to a :class:`PassThrough` or a :class:`Respond`."""

    flow: Flow[PassThrough | Respond]


Decision = PassThrough | Respond | Exchange
ANONYMOUS = AnonymousUser()


def is_navigation(request: RequestFacts) -> bool:
    """A top-level page load or form submission that can follow a redirect to the login
    page (R28). Everything else is an API call and gets a 401 it can act on."""
    if request.requested_with.lower() == "xmlhttprequest":
        return False
    if request.sec_fetch_mode:  # Fetch Metadata says it outright
        return request.sec_fetch_mode == "navigate"
    accept = request.accept
    if request.method in ("GET", "HEAD"):
        return not ("application/json" in accept and "text/html" not in accept)
    # An older browser's form POST asks for HTML; scripts and API clients do not.
    return "text/html" in accept
