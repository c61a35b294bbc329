"""The ASGI adapter: Starlette, FastAPI and any other ASGI app."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _guards
from ._access_tokens import CURRENT_OUTCOME, AppOutcome
from ._effects import Flow, T
from ._flow import (
    Decision,
    Exchange,
    MagicLinkCore,
    PassThrough,
    RequestFacts,
    Respond,
)
from ._global_logout import MAX_BODY_BYTES
from ._identity_headers import IdentityHeaders
from ._observe import Observer
from ._sessions import SessionStore
from ._transport import SharedGets, drive_async, new_async_client
from .errors import IdentityProviderError, MagicLinkError, SignInError, SignInRequired
from .settings import Settings
from .stores._base import RecordStore, SessionInfo, StoreUnavailable
from .user import OktaUser

_FACT_HEADERS = {
    b"cookie": "cookie_header",
    b"accept": "accept",
    b"sec-fetch-site": "sec_fetch_site",
    b"sec-fetch-mode": "sec_fetch_mode",
    b"origin": "origin",
    b"x-requested-with": "requested_with",
    b"referer": "referer",
    b"authorization": "authorization",
    b"content-type": "content_type",
}


class OktaMagicLink:
    """Okta magic-link sign-in in front of an ASGI app.

    Requests with a valid session reach the app with ``scope["user"]`` set to an
    :class:`~okta_magiclink_mw.OktaUser` (so ``request.user`` works in Starlette and
    FastAPI, and ``scope["auth"]`` carries the ``"authenticated"`` scope and a
    ``"group:<name>"`` scope per group for ``@requires``); all others are sent to sign in
    (navigations) or get a 401. A signed-in person whom ``access_rules`` or ``allowed_*``
    refuse gets a 403 page (JSON for an API call).

    :param app: the ASGI app to protect.
    :param settings: see :class:`~okta_magiclink_mw.Settings`.
    :param http_client: an ``httpx.AsyncClient`` of your own (proxies, CA bundle);
        by default the middleware owns one pooled client and closes it at shutdown.
    :param session_store: where sign-outs are remembered; in-process by default.
    :param observer: an :class:`~okta_magiclink_mw._observe.Observer` told of sign-ins
        and of each call to Okta (metrics); None by default, at no cost.

    Give the server a graceful-shutdown timeout longer than ``Settings.http_deadline``
    (uvicorn's ``--timeout-graceful-shutdown``) so a sign-in in progress can finish; one cut
    short anyway gets a 503 page asking the person to try again.

    .. code-block:: python

        app = OktaMagicLink(app, Settings.from_env())
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        *,
        http_client: httpx.AsyncClient | None = None,
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
        self._client = http_client
        self._owns_client = http_client is None
        self._shared_gets = SharedGets()
        self._identity = IdentityHeaders(settings.identity_headers)
        self._listen_pending = self.core.record_store is not None
        self._tokens_kept = self.core.tokens is not None
        self._everyone = self.core.policy.everyone
        self.core.drive_async = self._drive

    async def sign_out_everywhere(self, sub: str) -> int:
        """End every session of the person whose Okta id is ``sub``, on every instance
        sharing the session store; returns how many there were. Needs ``session_store``."""
        return await self._drive(self.core.sign_out_everywhere(sub))

    async def list_sessions(self, sub: str) -> list[SessionInfo]:
        """Created and last-seen times of each live session of ``sub`` (for an admin page)."""
        return await self._drive(self.core.list_sessions(sub))

    async def _drive(self, flow: Flow[T]) -> T:
        if self._client is None:
            self._client = new_async_client(self.settings)
        return await drive_async(
            flow,
            self._client,
            self.settings,
            self._shared_gets,
            self.core.record_store,
            self._observer,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self.app(scope, receive, self._closing_on_shutdown(send))
        else:  # pragma: no cover - no other scope type exists today
            await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Close the HTTP client the middleware owns (not one that was handed in)."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The fast path: one pass over the headers for the cookie and spoofed identities.
        cookie = ""
        spoofed = False
        identity = self._identity
        harmless = identity.harmless_names  # one set lookup per header, as a fixed list
        for name, value in scope["headers"]:
            if name == b"cookie":
                text = value.decode("latin-1")
                # HTTP/2 may split Cookie into several header lines; they join with "; ".
                cookie = f"{cookie}; {text}" if cookie else text
            elif name not in harmless and identity.is_identity_name(name):
                spoofed = True
        if self._listen_pending:
            await self._start_listening()
        decision: Decision | None
        if self._everyone:
            decision = self.core.signed_in(scope["path"], cookie)
        else:  # the policy matches the path the app routes on (without root_path)
            path = scope["path"]
            route = _route_path(scope) if scope.get("root_path") else path
            decision = self.core.signed_in(path, cookie, route)
        if decision is None:
            facts = _facts(scope)
            if facts.method == "POST" and facts.path in self.core.body_paths:
                body = await _bounded_body(scope, receive)
                if body is None:
                    assert self.core.global_logout is not None
                    decision = self.core.global_logout.too_large()
                else:
                    decision = self.core.decide_rest(dataclasses.replace(facts, body=body))
            else:
                decision = self.core.decide_rest(facts)
        if type(decision) is Exchange:
            if self._client is None:
                self._client = new_async_client(self.settings)
            flow = decision.flow
            try:
                decision = await drive_async(
                    flow,
                    self._client,
                    self.settings,
                    self._shared_gets,
                    self.core.record_store,
                    self._observer,
                )
            except anyio.get_cancelled_exc_class():
                # The server is stopping (its graceful-shutdown timeout cut this callback
                # short): answer with a page to retry from, not the server's bare 500.
                with contextlib.suppress(Exception), anyio.move_on_after(1.0, shield=True):
                    await _respond(send, self._interrupted(flow))
                raise
        if type(decision) is PassThrough:
            user = decision.user
            scope["user"] = user
            scope["auth"] = user._auth  # built once per user, groups included
            if spoofed:
                scope["headers"] = identity.strip_headers(scope["headers"])
            authenticated = user.is_authenticated
            vary = authenticated and not decision.set_cookies
            if decision.set_cookies:
                send = _adding_cookies(send, decision.set_cookies)
            if (self._tokens_kept and authenticated) or _guards.declared:
                # The app may fail on a token call or a guard: one wrapper for that and Vary.
                guard = _Guard()
                reset = CURRENT_OUTCOME.set(guard)
                try:
                    await self.app(scope, receive, _guarded(send, guard, vary, self.core, scope))
                except MagicLinkError as exc:
                    if exc is not guard.failure or guard.started:
                        raise
                    if not guard.replaced:
                        await _respond(send, self.core.app_failed(_facts(scope), exc))
                finally:
                    CURRENT_OUTCOME.reset(reset)
            elif vary:
                await self.app(scope, receive, _varying_on_cookie(send))
            else:
                await self.app(scope, receive, send)
            return
        assert type(decision) is Respond
        await _respond(send, decision)

    async def _start_listening(self) -> None:
        """Hear of sign-outs on every instance: a task of the server's event loop."""
        self._listen_pending = False
        store = self.core.record_store
        assert store is not None
        await store.alisten(self.core.sessions.on_invalidate)  # type: ignore[attr-defined,union-attr]

    def _interrupted(self, flow: Flow[PassThrough | Respond]) -> Respond:
        """The page for a callback cut short. Ended by the conversation itself when it can,
        so its answer also spends the transaction in the browser's cookie (R1)."""
        error = IdentityProviderError(
            "The server is restarting. Please try again in a moment.",
            code="shutting_down",
            status=503,
        )
        try:
            flow.throw(error)
        except StopIteration as stop:
            if type(stop.value) is Respond:
                return stop.value
        except SignInError:
            pass  # the conversation let it through: the page below says the same
        else:
            flow.close()  # it asked for more of Okta: there is no time for that
        return self.core.error_response(error)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        facts = _facts(scope)
        spoofed = any(self._identity.is_identity_name(name) for name, _ in scope["headers"])
        if self._listen_pending:
            await self._start_listening()
        path = facts.route_path or facts.path
        try:
            user = await self._drive(
                self.core.websocket_user(path, facts.cookie_header, facts.origin)
            )
        except StoreUnavailable:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1013})  # try again later
            return
        if user is None:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        scope["user"] = user
        scope["auth"] = user._auth
        if spoofed:  # R29 holds for websockets too
            scope["headers"] = self._identity.strip_headers(scope["headers"])
        await self.app(scope, receive, send)

    def _closing_on_shutdown(self, send: Send) -> Send:
        async def send_closing(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.aclose()
            await send(message)

        return send_closing


class _Guard(AppOutcome):
    """What happened to one request whose app may fail on a token call or a guard: if it
    does (the session ended, Okta is down, a guard refused), the middleware answers in its
    place, unless the app
    already sent a response of its own that is not the 500 a framework made of the
    failure (Starlette sends that, then re-raises)."""

    __slots__ = ("replaced", "started")

    def __init__(self) -> None:
        self.failure = None
        self.started = self.replaced = False


def _guarded(send: Send, guard: _Guard, vary: bool, core: MagicLinkCore, scope: Scope) -> Send:
    """The app's ``send`` under a :class:`_Guard`; adds ``Vary: Cookie`` when ``vary``, as
    _varying_on_cookie does (one wrapper for both)."""

    async def send_guarded(message: Message) -> None:
        if guard.replaced:
            return  # the rest of the app's 500 page
        if message["type"] == "http.response.start":
            failure = guard.failure
            if failure is not None and message["status"] >= 500:
                guard.replaced = True
                await _respond(send, core.app_failed(_facts(scope), failure))
                return
            guard.started = True
            if vary:
                message["headers"] = [*message.get("headers", ()), _VARY_COOKIE]
        await send(message)

    return send_guarded


async def access_token(request: Any, *, min_valid: float = 60) -> str:
    """The signed-in person's Okta access token, valid for at least ``min_valid`` more
    seconds, refreshed if needed: ``await access_token(request)`` in a Starlette or
    FastAPI view (a ``Request``, a ``WebSocket`` or the ASGI scope itself). The same as
    ``await request.user.aaccess_token()``.

    :raises SignInRequired: nobody is signed in, or the session ended; let it propagate
        and the middleware sends a page to sign in, or a 401 to an API call.
    """
    scope = request if isinstance(request, dict) else request.scope
    user = scope.get("user")
    if not isinstance(user, OktaUser):
        raise SignInRequired()
    return await user.aaccess_token(min_valid=min_valid)


async def _respond(send: Send, decision: Respond) -> None:
    """Send a page of the middleware's own."""
    await send(
        {
            "type": "http.response.start",
            "status": decision.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in decision.headers],
        }
    )
    await send({"type": "http.response.body", "body": decision.body})


async def _bounded_body(scope: Scope, receive: Receive) -> bytes | None:
    """The request body, or None as soon as it is known to exceed ``MAX_BODY_BYTES``
    (from ``Content-Length``, or while reading): nothing more is read then."""
    for name, value in scope["headers"]:
        if name == b"content-length" and not (value.isdigit() and int(value) <= MAX_BODY_BYTES):
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b""
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _facts(scope: Scope) -> RequestFacts:
    found: dict[str, Any] = {}
    for name, value in scope["headers"]:
        field = _FACT_HEADERS.get(name)
        if field is not None:
            text = value.decode("latin-1")
            # HTTP/2 may split Cookie into several header lines; they join with "; ".
            found[field] = f"{found[field]}; {text}" if field in found else text
    query = scope.get("query_string", b"")
    return RequestFacts(
        scope.get("method", "GET"),
        scope["path"],
        query.decode("latin-1") if query else "",
        route_path=_route_path(scope),
        **found,
    )


def _route_path(scope: Scope) -> str | None:
    """The path the app routes on when it is not ``scope["path"]``: without ``root_path``,
    exactly as Starlette's ``get_route_path`` cuts it (public paths are matched on it)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        rest = path[len(root_path) :]
        if not rest or rest[0] == "/":
            return rest or "/"  # path == root_path: Starlette redirects "" to "/"
    return None


_VARY_COOKIE = (b"vary", b"Cookie")


def _varying_on_cookie(send: Send) -> Send:
    """A page for one signed-in person depends on their cookie: say so to caches (R23)."""

    async def send_varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            # A new list: the app may reuse its own headers list for every response.
            message["headers"] = [*message.get("headers", ()), _VARY_COOKIE]
        await send(message)

    return send_varying


def _adding_cookies(send: Send, cookies: tuple[str, ...]) -> Send:
    """Append our Set-Cookie headers to the app's response (only when a cookie changed)."""

    async def send_with_cookies(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() != b"cache-control"]
            headers += [(b"set-cookie", c.encode("latin-1")) for c in cookies]
            # A response that carries someone's session must not sit in a shared cache (R23).
            headers += [(b"cache-control", b"no-store"), (b"vary", b"Cookie")]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_cookies
