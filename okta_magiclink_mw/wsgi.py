"""The WSGI adapter: Flask, Django, and any legacy WSGI app."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx

from . import _guards
from ._access_tokens import CURRENT_OUTCOME, AppOutcome
from ._effects import Flow, T
from ._flow import Decision, Exchange, MagicLinkCore, PassThrough, RequestFacts, Respond
from ._global_logout import MAX_BODY_BYTES
from ._identity_headers import IdentityHeaders
from ._observe import Observer
from ._sessions import SessionStore
from ._transport import SharedGets, drive_sync, new_sync_client
from .errors import BadRequest, MagicLinkError, SignInRequired
from .settings import Settings
from .stores._base import RecordStore, SessionInfo
from .user import OktaUser

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The environ key holding the signed-in :class:`~okta_magiclink_mw.OktaUser`
#: (or an anonymous user on a public path).
USER_KEY = "okta_magiclink_mw.user"

_STATUS_LINES = {
    200: "200 OK",
    302: "302 Found",
    303: "303 See Other",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    204: "204 No Content",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    422: "422 Unprocessable Content",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
    504: "504 Gateway Timeout",
}


class OktaMagicLinkWSGI:
    """Okta magic-link sign-in in front of a WSGI app.

    Requests with a valid session reach the app with ``environ["REMOTE_USER"]`` set to
    the user's email (else their Okta id) and ``environ["okta_magiclink_mw.user"]`` set
    to an :class:`~okta_magiclink_mw.OktaUser`. A ``REMOTE_USER`` or identity header
    sent by the client is removed first. A signed-in person whom ``access_rules`` or
    ``allowed_*`` refuse gets a 403 page (JSON for an API call); rules match ``PATH_INFO``.

    The middleware's own pages are matched on ``SCRIPT_NAME + PATH_INFO`` (the path as the
    browser sees it, like the path of ``redirect_uri``); public paths on ``PATH_INFO``,
    the path the app routes on. Mounted under a prefix (``DispatcherMiddleware``, a
    server's ``SCRIPT_NAME``), give the own paths with the prefix and the public paths
    without it. Behind a proxy that strips a prefix and sends ``X-Forwarded-Prefix``,
    put werkzeug's ``ProxyFix`` outside the middleware so the middleware sees the prefix;
    either order is safe, since no ``SCRIPT_NAME`` makes a view public.

    :param app: the WSGI app to protect.
    :param settings: see :class:`~okta_magiclink_mw.Settings`.
    :param http_client: an ``httpx.Client`` of your own; by default the middleware owns
        one pooled client (close it with :meth:`close`). The default client holds every
        call to Okta to ``http_deadline`` from connect to the last byte; a client of your
        own is bounded by its own per-read timeout while the status line and headers
        arrive.
    :param session_store: where sign-outs are remembered; in-process by default.
    :param observer: an :class:`~okta_magiclink_mw._observe.Observer` told of sign-ins
        and of each call to Okta (metrics); None by default, at no cost.

    .. code-block:: python

        app.wsgi_app = OktaMagicLinkWSGI(app.wsgi_app, Settings.from_env())
        # behind a proxy serving the app under a prefix (X-Forwarded-Prefix):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)
    """

    def __init__(
        self,
        app: WSGIApplication,
        settings: Settings,
        *,
        http_client: httpx.Client | None = None,
        session_store: SessionStore | RecordStore | None = None,
        clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.core = MagicLinkCore(
            settings, session_store=session_store, clock=clock, observer=observer
        )
        self._observer = observer
        self._store = self.core.record_store
        if self._store is not None:  # hear of sign-outs on every instance (a thread)
            self._store.listen(self.core.sessions.on_invalidate)  # type: ignore[union-attr]
        self._client = http_client
        self._owns_client = http_client is None
        self._shared_gets = SharedGets()
        self._identity = IdentityHeaders(settings.identity_headers)
        self._tokens_kept = self.core.tokens is not None
        self.core.drive_sync = self._drive

    def sign_out_everywhere(self, sub: str) -> int:
        """End every session of the person whose Okta id is ``sub``, on every instance
        sharing the session store; returns how many there were. Needs ``session_store``."""
        return self._drive(self.core.sign_out_everywhere(sub))

    def list_sessions(self, sub: str) -> list[SessionInfo]:
        """Created and last-seen times of each live session of ``sub`` (for an admin page)."""
        return self._drive(self.core.list_sessions(sub))

    def _drive(self, flow: Flow[T]) -> T:
        if self._client is None:
            self._client = new_sync_client(self.settings)
        return drive_sync(
            flow, self._client, self.settings, self._shared_gets, self._store, self._observer
        )

    def close(self) -> None:
        """Close the HTTP client the middleware owns (not one that was handed in)."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # R29: REMOTE_USER and identity headers go. Commonly every key is one already known
        # to be harmless: one C-level pass, no Python call.
        if not self._identity.harmless_keys.issuperset(environ):
            self._identity.strip_environ(environ)
        script_name = environ.get("SCRIPT_NAME", "")
        path_info = environ.get("PATH_INFO", "")
        if not (script_name.isascii() and path_info.isascii()):
            try:
                script_name, path_info = _decoded(script_name), _decoded(path_info)
            except UnicodeEncodeError:  # not PEP 3333 text: no path the app could route on
                page = self.core.error_response(
                    BadRequest("This address is not valid.", code="bad_path")
                )
                length = ("content-length", str(len(page.body)))
                start_response("400 Bad Request", [*page.headers, length])
                return [page.body]
        # The path as the browser sees it, a mount prefix (SCRIPT_NAME) included: the
        # middleware's own paths are matched on it (the callback is redirect_uri's path).
        # Public paths are matched on PATH_INFO, the path the app routes on (see _flow).
        path = script_name + path_info or "/"
        cookie = environ.get("HTTP_COOKIE", "")
        decision: Decision | None = self.core.signed_in(path, cookie, path_info or "/")
        if decision is None:
            facts = _facts(environ, path, path_info or "/", cookie)
            if facts.method == "POST" and path in self.core.body_paths:
                body = _bounded_body(environ)
                if body is None:
                    assert self.core.global_logout is not None
                    decision = self.core.global_logout.too_large()
                else:
                    decision = self.core.decide_rest(replace(facts, body=body))
            else:
                decision = self.core.decide_rest(facts)
        if type(decision) is Exchange:
            if self._client is None:
                self._client = new_sync_client(self.settings)
            decision = drive_sync(
                decision.flow,
                self._client,
                self.settings,
                self._shared_gets,
                self._store,
                self._observer,
            )
        if type(decision) is PassThrough:
            user = decision.user
            environ[USER_KEY] = user
            authenticated = user.is_authenticated
            vary = authenticated and not decision.set_cookies
            if decision.set_cookies:
                start_response = _adding_cookies(start_response, decision.set_cookies)
            if authenticated:
                environ["REMOTE_USER"] = user.remote_user
            if (self._tokens_kept and authenticated) or _guards.declared:
                # The app may fail on a token call or a guard: one wrapper for that and Vary.
                guard = _Guard(self, environ, start_response, path, path_info, vary)
                return guard.call_app()
            if vary:
                start_response = _varying_on_cookie(start_response)
            return self.app(environ, start_response)
        assert type(decision) is Respond
        status = _STATUS_LINES.get(decision.status, f"{decision.status} Error")
        start_response(status, [*decision.headers, ("content-length", str(len(decision.body)))])
        return [decision.body]


class _Guard(AppOutcome):
    """Calls the app; if it fails on an access token (the session ended, Okta is down) or
    a guard refused,
    answers in its place: when the failure escapes it, or when the framework made a 500
    page of it (Flask does, outside debug mode). Adds ``Vary: Cookie`` when ``vary``."""

    __slots__ = ("_environ", "_mw", "_path", "_route", "_start", "_vary", "ours", "started")

    def __init__(
        self,
        mw: OktaMagicLinkWSGI,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        path: str,
        route: str,
        vary: bool,
    ) -> None:
        self.failure = None
        self._mw, self._environ, self._start = mw, environ, start_response
        self._path, self._route, self._vary = path, route, vary
        self.ours: list[bytes] = []
        self.started = False

    def call_app(self) -> Iterable[bytes]:
        reset = CURRENT_OUTCOME.set(self)
        try:
            result = self._mw.app(self._environ, self.start_response)
        except MagicLinkError as exc:
            if exc is not self.failure:
                raise
            if not self.ours:
                # exc_info only to replace a response the app started (PEP 3333).
                self._answer(exc, sys.exc_info() if self.started else None)
            return self.ours
        finally:
            CURRENT_OUTCOME.reset(reset)
        if self.ours:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            return self.ours
        return result

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if self.failure is not None and status[:1] == "5" and not self.ours:
            self._answer(self.failure, exc_info)
            return _ignore_write
        self.started = True
        if self._vary:
            headers = [*headers, ("Vary", "Cookie")]
        return self._start(status, headers, exc_info)

    def _answer(self, exc: MagicLinkError, exc_info: Any) -> None:
        environ = self._environ
        facts = _facts(environ, self._path, self._route or "/", environ.get("HTTP_COOKIE", ""))
        page = self._mw.core.app_failed(facts, exc)
        status = _STATUS_LINES.get(page.status, f"{page.status} Error")
        length = ("content-length", str(len(page.body)))
        self._start(status, [*page.headers, length], exc_info)
        self.ours.append(page.body)


def access_token(environ: WSGIEnvironment, *, min_valid: float = 60) -> str:
    """The signed-in person's Okta access token, valid for at least ``min_valid`` more
    seconds, refreshed if needed: ``access_token(request.environ)`` in a Flask view. The
    same as ``environ["okta_magiclink_mw.user"].access_token()``.

    :raises SignInRequired: nobody is signed in, or the session ended; let it propagate
        and the middleware sends a page to sign in, or a 401 to an API call.
    """
    user = environ.get(USER_KEY)
    if not isinstance(user, OktaUser):
        raise SignInRequired()
    return user.access_token(min_valid=min_valid)


def _ignore_write(data: bytes) -> None:
    """The ``write`` of a response that was replaced: its bytes go nowhere."""


def _decoded(text: str) -> str:
    """PEP 3333 hands the path over as its bytes decoded as latin-1: undo that, as UTF-8.

    :raises UnicodeEncodeError: for text that is not latin-1 (a server outside PEP 3333,
        or httpx's WSGITransport, which passes the decoded text).
    """
    return text if text.isascii() else text.encode("latin-1").decode("utf-8", "replace")


def _facts(environ: WSGIEnvironment, path: str, route_path: str, cookie: str) -> RequestFacts:
    return RequestFacts(
        environ.get("REQUEST_METHOD", "GET"),
        path,
        environ.get("QUERY_STRING", ""),
        cookie,
        environ.get("HTTP_ACCEPT", ""),
        environ.get("HTTP_SEC_FETCH_SITE", ""),
        environ.get("HTTP_SEC_FETCH_MODE", ""),
        environ.get("HTTP_ORIGIN", ""),
        environ.get("HTTP_X_REQUESTED_WITH", ""),
        environ.get("HTTP_REFERER", ""),
        route_path=route_path,
        authorization=environ.get("HTTP_AUTHORIZATION", ""),
        content_type=environ.get("CONTENT_TYPE", ""),
    )


def _bounded_body(environ: WSGIEnvironment) -> bytes | None:
    """The request body, or None when it exceeds ``MAX_BODY_BYTES``: a larger
    ``CONTENT_LENGTH`` is refused before reading, and never more than the cap + 1 is read."""
    length = environ.get("CONTENT_LENGTH", "")
    stream = environ["wsgi.input"]
    if not length:
        # PEP 3333: without CONTENT_LENGTH read nothing, unless the server ends the stream.
        if not environ.get("wsgi.input_terminated"):
            return b""
        data: bytes = stream.read(MAX_BODY_BYTES + 1)
        return data if len(data) <= MAX_BODY_BYTES else None
    if not (length.isdigit() and int(length) <= MAX_BODY_BYTES):
        return None
    wanted = int(length)
    chunks: list[bytes] = []
    while wanted > 0:
        chunk: bytes = stream.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def _varying_on_cookie(start_response: StartResponse) -> StartResponse:
    """A page for one signed-in person depends on their cookie: say so to caches (R23)."""

    def start_varying(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("Vary", "Cookie")], exc_info)

    return start_varying


def _adding_cookies(start_response: StartResponse, cookies: tuple[str, ...]) -> StartResponse:
    def start_with_cookies(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        headers = [h for h in headers if h[0].lower() != "cache-control"]
        headers += [("Set-Cookie", c) for c in cookies]
        # A response that carries someone's session must not sit in a shared cache (R23).
        headers += [("Cache-Control", "no-store"), ("Vary", "Cookie")]
        return start_response(status, headers, exc_info)

    return start_with_cookies
