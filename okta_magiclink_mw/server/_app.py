"""The forward-auth server: the middleware in front of a tiny app that answers a proxy.

``OktaMagicLink`` does what it always does: it hosts the sign-in pages (``/login``,
the callback, ``/logout``), and reads the session cookie of every request, which the
proxy passes along with its question, so a valid session reaches the app below as
``scope["user"]`` (its idle renewal's ``Set-Cookie`` added to the answer). The app's
own endpoints are public paths of the middleware: each one checks the person itself,
for the request the proxy asks about, not for the endpoint's own path.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx
from starlette.types import Receive, Scope, Send

from .. import _pages as pages
from .._decisions import is_navigation
from .._flow import MagicLinkCore, RequestFacts, Respond, public_path
from .._observe import Observer
from .._query import parse_query
from .._sessions import SessionStore
from ..asgi import OktaMagicLink, _respond
from ..errors import BadRequest
from ..stores._base import RecordStore
from ..user import OktaUser
from ._config import (
    AUTH_PATH,
    FORWARD_PATH,
    METRICS_PATH,
    PING_PATH,
    READY_PATH,
    ServerConfig,
    load_config,
)
from ._forward import (
    BadForward,
    Original,
    Site,
    normal_host,
    original_request,
    return_target,
    site_of,
)
from ._ready import Readiness

if TYPE_CHECKING:
    from ._metrics import PrometheusObserver

logger = logging.getLogger("okta_magiclink_mw")

Handler = Callable[[Scope, Send], Awaitable[None]]

#: The request headers the endpoints read, and the name each is known by.
_READ = {
    name.encode(): name
    for name in (
        "x-original-uri",
        "x-original-method",
        "x-forwarded-uri",
        "x-forwarded-method",
        "x-forwarded-host",
        "x-forwarded-proto",
        "cookie",
        "accept",
        "sec-fetch-site",
        "sec-fetch-mode",
        "origin",
        "x-requested-with",
        "referer",
    )
}
#: Headers that say where the request went: a second copy is someone's forgery.
_SINGLE = frozenset(
    {
        "x-original-uri",
        "x-original-method",
        "x-forwarded-uri",
        "x-forwarded-method",
        "x-forwarded-host",
        "x-forwarded-proto",
    }
)
#: A value that can be put in a response header as it is: printable ASCII, no CR/LF or
#: other control, no blank at either end (a parser would trim it).
_HEADER_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,1022}[\x21-\x7e])?")
_NO_STORE = (b"cache-control", b"no-store")
_NO_BODY = (b"content-length", b"0")
_ANONYMOUS_HEADERS = [_NO_STORE, _NO_BODY]
_IDENTITY_CACHE_SIZE = 4096
_METRICS_MISSING = b"/metrics needs prometheus-client: pip install 'okta-magiclink-mw[metrics]'\n"


class ForwardAuthApp:
    """``/auth`` (nginx), ``/auth/forward`` (Traefik, Caddy, nginx's error_page),
    ``/ping``, ``/ready`` and ``/metrics``; attach it to its middleware before use."""

    def __init__(self, config: ServerConfig, metrics: PrometheusObserver | None) -> None:
        self._config = config
        settings = config.settings
        #: None without prometheus-client: /metrics is a 501, and nothing is counted.
        self._metrics = metrics
        self._observer: Observer | None = metrics
        self._public_exact = frozenset(p for p in config.app_public_paths if not p.endswith("/"))
        self._public_prefixes = tuple(p for p in config.app_public_paths if p.endswith("/"))
        home = httpx.URL(settings.redirect_uri)
        self._home = Site(home.scheme, normal_host(home.netloc.decode(), home.scheme) or "")
        self._allowed_hosts = config.server.allowed_hosts
        self._own_paths = (settings.login_path, settings.callback_path, settings.logout_path)
        self._core: MagicLinkCore | None = None
        # Identity headers by user object: a cached session hands the same OktaUser to
        # every request, so each person's headers are checked and encoded once.
        self._identities: dict[OktaUser, list[tuple[bytes, bytes]] | None] = {}
        self._readiness: Readiness | None = None
        self._routes: dict[str, Handler] = {
            AUTH_PATH: self._auth,
            FORWARD_PATH: self._forward,
            PING_PATH: self._ping,
            READY_PATH: self._ready,
            METRICS_PATH: self._metrics_page,
        }

    def attach(self, middleware: OktaMagicLink) -> None:
        """Use ``middleware``'s core, and its driver for the readiness checks."""
        self._core = middleware.core
        self._readiness = Readiness(
            middleware.settings,
            middleware._drive,
            has_store=middleware.core.record_store is not None,
            cache_for=self._config.server.ready_cache,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            handler = self._routes.get(scope["path"])
            if handler is None:
                await _plain(send, 404, b"Not found\n")
            else:
                await handler(scope, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # a websocket: nothing to talk about
            await receive()
            await send({"type": "websocket.close", "code": 1000})

    # -- the checks ---------------------------------------------------------------------

    async def _auth(self, scope: Scope, send: Send) -> None:
        """nginx ``auth_request``: 202 allowed, 401 not signed in, 403 not allowed."""
        await self._check(scope, send, forward=False)

    async def _forward(self, scope: Scope, send: Send) -> None:
        """Traefik/Caddy forward auth: 200 allowed, a redirect to sign in (navigations)
        or 401 (API calls) when not signed in, 403 not allowed."""
        await self._check(scope, send, forward=True)

    async def _check(self, scope: Scope, send: Send, *, forward: bool) -> None:
        core = self._core
        assert core is not None, "ForwardAuthApp.attach(middleware) was not called"
        headers, repeated = _read_headers(scope)
        prefer = (
            ("x-forwarded-uri", "x-original-uri")
            if forward
            else ("x-original-uri", "x-forwarded-uri")
        )
        try:
            if repeated:
                raise BadForward("a forwarded header (X-Original-*, X-Forwarded-*) came twice")
            original = original_request(headers, prefer=prefer, default_method=scope["method"])
        except BadForward as exc:
            await self._bad_request(send, str(exc))
            return
        user = scope.get("user")
        signed_in = isinstance(user, OktaUser)
        if public_path(original.path, self._public_exact, self._public_prefixes):
            self._count("allowed")
            await self._allowed(send, user if signed_in else None, forward)
            return
        if not signed_in:
            await self._unauthenticated(scope, send, headers, original, forward)
            return
        assert isinstance(user, OktaUser)
        denial = core.authorize(user, original.path)  # logs access.denied
        if denial is not None:
            self._count("forbidden")
            await _respond(send, core.forbidden(_facts(original, headers), user, denial))
            return
        self._count("allowed")
        await self._allowed(send, user, forward)

    async def _allowed(self, send: Send, user: OktaUser | None, forward: bool) -> None:
        headers = _ANONYMOUS_HEADERS
        if user is not None:
            identity = self._identity_of(user)
            if identity is None:
                logger.warning(
                    "the person's identity cannot be put in a header: refused",
                    extra={"event": "forward.identity_unsafe"},
                )
                await _json(send, 403, {"error": "forbidden"})
                return
            headers = identity
        # The lists are shared between requests: the middleware and servers copy
        # response headers before they add to them, never append in place.
        await send(
            {"type": "http.response.start", "status": 200 if forward else 202, "headers": headers}
        )
        await send({"type": "http.response.body", "body": b""})

    async def _unauthenticated(
        self,
        scope: Scope,
        send: Send,
        headers: dict[str, str],
        original: Original,
        forward: bool,
    ) -> None:
        core = self._core
        assert core is not None
        login_url = core.settings.login_path
        if not forward:
            self._count("unauthenticated")
            await _json(send, 401, {"error": "unauthenticated", "login_url": login_url})
            return
        facts = _facts(original, headers)
        if not is_navigation(facts):
            self._count("unauthenticated")
            await _respond(send, core.turn_away(facts))
            return
        site = site_of(
            headers,
            home=self._home,
            allowed_hosts=self._allowed_hosts,
            secure=core.settings.secure_cookies,
        )
        if site is None:
            await self._bad_request(
                send,
                "X-Forwarded-Host is not the host of OKTA_REDIRECT_URI nor one of "
                "OKTA_MW_ALLOWED_HOSTS: no sign-in is sent there",
            )
            return
        try:
            rd = parse_query(scope.get("query_string", b"").decode("latin-1")).get("rd")
        except BadRequest:
            rd = None
        target = None
        if original.method in ("GET", "HEAD"):  # a form's POST returns to its page (Referer)
            target = return_target(rd, original, site, forbidden_paths=self._own_paths)
        self._count("unauthenticated")
        answer = core.turn_away(facts, return_to=target)
        await _respond(send, _absolute(answer, site))

    async def _bad_request(self, send: Send, message: str) -> None:
        # A misconfigured proxy, or a forgery: the operator reads why in the log; nginx
        # turns a 400 from auth_request into a 500, so nothing is ever let through.
        logger.warning(
            "forward auth refused the proxy's request: %s",
            message,
            extra={"event": "forward.bad_request"},
        )
        self._count("bad_request")
        await _plain(send, 400, f"Bad request: {message}\n".encode())

    def _identity_of(self, user: OktaUser) -> list[tuple[bytes, bytes]] | None:
        cache = self._identities
        try:
            return cache[user]
        except KeyError:
            pass
        if len(cache) >= _IDENTITY_CACHE_SIZE:
            cache.clear()  # bounded: a burst of new people costs one recomputation each
        identity = cache[user] = _identity_headers(user)
        return identity

    def _count(self, result: str) -> None:
        if self._observer is not None:
            self._observer.auth_check(result)

    # -- health and metrics ---------------------------------------------------------------

    async def _ping(self, scope: Scope, send: Send) -> None:
        await _plain(send, 200, b"ok\n")

    async def _ready(self, scope: Scope, send: Send) -> None:
        assert self._readiness is not None
        status, body = await self._readiness.answer()
        headers = [_NO_STORE, (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _metrics_page(self, scope: Scope, send: Send) -> None:
        if self._metrics is None:
            await _plain(send, 501, _METRICS_MISSING)
            return
        from ._metrics import CONTENT_TYPE

        headers = [_NO_STORE, (b"content-type", CONTENT_TYPE.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self._metrics.render()})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                store = self._core.record_store if self._core is not None else None
                close = getattr(store, "aclose", None)
                if close is not None:
                    await close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(
    environ: dict[str, str] | None = None,
    *,
    config: ServerConfig | None = None,
    http_client: httpx.AsyncClient | None = None,
    session_store: SessionStore | RecordStore | None = None,
    clock: Callable[[], float] = time.time,
) -> OktaMagicLink:
    """The forward-auth server as an ASGI app, configured from ``environ`` (by default
    ``os.environ``): every setting's variable, and the server's own.

    :param config: an already loaded configuration (``load_config``) instead.
    :param http_client: passed to the middleware (proxies, a CA bundle; tests).
    :param session_store: passed to the middleware; by default ``OKTA_MW_SESSION_STORE``.
    :raises ConfigurationError: naming the variable that is missing or malformed.

    .. code-block:: console

        $ okta-magiclink-mw serve            # uvicorn, on OKTA_MW_SERVE_HOST:PORT
        $ uvicorn --factory okta_magiclink_mw.server:create_app   # the same app
    """
    config = config if config is not None else load_config(environ)
    observer = _prometheus(config.settings.issuer)
    app = ForwardAuthApp(config, observer)
    middleware = OktaMagicLink(
        app,
        config.settings,
        http_client=http_client,
        session_store=session_store,
        clock=clock,
        observer=observer,
    )
    app.attach(middleware)
    return middleware


def _prometheus(issuer: str) -> PrometheusObserver | None:
    """A PrometheusObserver, or None when prometheus-client is not installed."""
    try:
        from ._metrics import PrometheusObserver
    except ImportError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "prometheus_client":
            raise
        logger.info(
            "prometheus-client is not installed: /metrics answers 501 "
            "(pip install 'okta-magiclink-mw[metrics]')",
            extra={"event": "startup.no_metrics"},
        )
        return None
    return PrometheusObserver(issuer)


# -- small pieces -----------------------------------------------------------------------------


def _read_headers(scope: Scope) -> tuple[dict[str, str], bool]:
    """The headers the endpoints read (one pass), and whether one of :data:`_SINGLE`
    came more than once."""
    found: dict[str, str] = {}
    repeated = False
    for name, value in scope["headers"]:
        key = _READ.get(name)
        if key is None:
            continue
        text = value.decode("latin-1")
        if key not in found:
            found[key] = text
        elif key == "cookie":  # HTTP/2 may split Cookie into several lines
            found[key] = f"{found[key]}; {text}"
        elif key in _SINGLE:
            repeated = True
    return found, repeated


def _facts(original: Original, headers: dict[str, str]) -> RequestFacts:
    """The original request, as the core sees a request."""
    return RequestFacts(
        original.method,
        original.path,
        original.query,
        cookie_header=headers.get("cookie", ""),
        accept=headers.get("accept", ""),
        sec_fetch_site=headers.get("sec-fetch-site", ""),
        sec_fetch_mode=headers.get("sec-fetch-mode", ""),
        origin=headers.get("origin", ""),
        requested_with=headers.get("x-requested-with", ""),
        referer=headers.get("referer", ""),
    )


def _identity_headers(user: OktaUser) -> list[tuple[bytes, bytes]] | None:
    """The headers of an allowed answer with ``X-Auth-Request-User``/``-Email``/``-Groups``,
    or None if not even the user's Okta id can be put in a header. Values that are not
    header-safe are left out."""
    name = next((v for v in (user.remote_user, user.identity) if _HEADER_SAFE.fullmatch(v)), None)
    if name is None:
        return None
    email = user.email if user.email and _HEADER_SAFE.fullmatch(user.email) else ""
    groups = ",".join(
        group for group in sorted(user.groups) if "," not in group and _HEADER_SAFE.fullmatch(group)
    )
    return [
        _NO_STORE,
        _NO_BODY,
        (b"x-auth-request-user", name.encode()),
        (b"x-auth-request-email", email.encode()),
        (b"x-auth-request-groups", groups.encode()),
    ]


def _absolute(answer: Respond, site: Site) -> Respond:
    """``answer`` with its relative ``Location`` made absolute on ``site``: a proxy
    resolves a relative one against the auth server's address, not the person's."""
    headers = [
        (name, f"{site.origin}{value}" if name == "location" and value.startswith("/") else value)
        for name, value in answer.headers
    ]
    return Respond(answer.status, headers, answer.body)


#: A plain-text answer may reach a browser (through Traefik or Caddy): the headers of
#: every page the middleware writes, with a CSP that allows nothing at all.
_PLAIN_CSP = "default-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
_PLAIN_HEADERS = [
    (name.encode(), value.encode()) for name, value in pages.security_headers(_PLAIN_CSP)
] + [(b"content-type", b"text/plain; charset=utf-8")]


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _PLAIN_HEADERS})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, body: dict[str, str]) -> None:
    headers = pages.security_headers(pages.strict_csp(pages.new_nonce()))
    headers.append(("content-type", "application/json"))
    await _respond(send, Respond(status, headers, json.dumps(body).encode()))
