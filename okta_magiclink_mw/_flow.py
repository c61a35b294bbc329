"""THE CORE: request facts in, one decision out. No I/O, no ASGI, no WSGI.

Every choice the middleware makes is taken here; the adapters in ``asgi.py`` and
``wsgi.py`` only translate a native request into :class:`RequestFacts` and a
decision back into a native response. The one network conversation (the token
exchange) is returned as an :class:`Exchange` whose generator the adapter drives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode, urlsplit

from . import _pages as pages
from ._access_tokens import AccessTokens, noted, stored_tokens
from ._authorization import forbidden_json, forbidden_page, log_denial, warn_about_groups
from ._cookies import CookieCodec, read_cookies, remembered_cookie_values
from ._effects import Flow, resumed, run_now_or_later
from ._observe import Observer
from ._oidc import OktaConversation
from ._policy import Denial, Policy
from ._query import ERROR_CODE, INTERACTION_CODE, OTP, STATE, parse_query, valid
from ._redirects import safe_return_target
from ._sealing import Sealer
from ._server_sessions import ServerSessions, SessionHandle
from ._sessions import InMemorySessionStore, Session, SessionManager, SessionStore
from ._transactions import SpentStates, Transaction, TransactionJar
from .errors import (
    AccessDenied,
    BadRequest,
    ConfigurationError,
    MagicLinkError,
    SignInError,
    SignInRequired,
    StateMismatch,
)
from .settings import Settings, WidgetPage
from .stores import open_store
from .stores._base import RecordStore, SessionInfo, StoreCall, StoreUnavailable
from .user import AnonymousUser, OktaUser

if TYPE_CHECKING:
    from ._global_logout import GlobalLogout

logger = logging.getLogger("okta_magiclink_mw")

Headers = list[tuple[str, str]]

# OAuth error codes Okta may put on the callback (protocol.md §9.1), with what to tell
# the person. Anything else is shown as a generic failure (R8).
_KNOWN_ERRORS: dict[str, tuple[int, str]] = {
    "access_denied": (403, "Okta did not allow this sign-in."),
    "user_canceled_request": (400, "The sign-in was cancelled."),
    "login_required": (400, "Okta needs you to sign in again."),
    "interaction_required": (400, "Okta needs you to sign in again."),
    "invalid_request": (400, "Okta rejected the sign-in request."),
    "invalid_scope": (400, "Okta rejected the requested permissions."),
    "invalid_client": (502, "This app is not set up correctly in Okta."),
    "unauthorized_client": (502, "This app is not set up correctly in Okta."),
    "unsupported_response_type": (502, "This app is not set up correctly in Okta."),
    "unsupported_response_mode": (502, "This app is not set up correctly in Okta."),
    "server_error": (502, "Okta had a problem. Please try again in a moment."),
    "temporarily_unavailable": (503, "Okta is busy. Please try again in a moment."),
}


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
    #: ``path`` without ``root_path``. Public paths are matched on it (see :meth:`is_public`).
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


class MagicLinkCore:
    """The decisions of the middleware, shared by both adapters.

    :param settings: validated :class:`~okta_magiclink_mw.Settings`.
    :param session_store: where logouts are remembered; an in-process store by default.
    :param clock: seconds since the epoch; tests pass a fake one.
    :param observer: hears of sign-ins started, completed and failed (metrics).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        session_store: SessionStore | RecordStore | None = None,
        clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        #: Told of sign-ins started, completed and failed; None (nobody) costs nothing.
        self.observer = observer
        s = settings
        #: Who may enter which path (``access_rules``, ``allowed_*``), compiled once.
        self.policy = Policy.from_settings(s)
        self._everyone = self.policy.everyone
        warn_about_groups(self.policy)
        if session_store is None and isinstance(s.session_store, str):
            session_store = open_store(s.session_store)
        elif session_store is None and s.session_store is not None:
            session_store = cast(RecordStore, s.session_store)
        # The issuer and the client id are bound into every signature and seal: a session
        # or sign-in of another deployment that shares secret_keys (another app, another
        # Okta org, a dev org where anyone can be anyone) is never one of ours (R5, #30).
        deployment = f"{s.issuer} {s.client_id}"
        #: The shared store of server-side sessions, or None for sessions in the cookie.
        self.record_store = session_store if isinstance(session_store, RecordStore) else None
        self.sessions: SessionManager | ServerSessions
        if self.record_store is not None:
            self.sessions = ServerSessions(
                CookieCodec(
                    s.secret_keys, name=s.session_cookie_name, purpose=f"session-ref:{deployment}"
                ),
                self.record_store,
                deployment=deployment,
                max_age=s.session_max_age,
                idle_timeout=s.session_idle_timeout,
                leeway=s.leeway,
                secure=s.secure_cookies,
                grace=s.store_grace,
                recheck_every=s.revalidate_every,
                indexed=bool(s.universal_logout_path or s.backchannel_logout_path),
                index_sealer=Sealer(s.secret_keys, purpose=f"refresh-index:{deployment}"),
            )
        else:
            logger.info(
                "sessions are kept in the cookie: a sign-out holds in this process only "
                "(set session_store to share sessions between processes)",
                extra={"event": "startup.cookie_sessions"},
            )
            revoked = session_store if session_store is not None else InMemorySessionStore()
            assert isinstance(revoked, SessionStore)
            self.sessions = SessionManager(
                CookieCodec(
                    s.secret_keys, name=s.session_cookie_name, purpose=f"session:{deployment}"
                ),
                sealer=Sealer(s.secret_keys, purpose=f"id_token:{deployment}"),
                max_age=s.session_max_age,
                idle_timeout=s.session_idle_timeout,
                leeway=s.leeway,
                secure=s.secure_cookies,
                store=revoked,
                keep_groups=self.policy.uses_groups,
            )
        self._deployment = deployment
        self.transactions = TransactionJar(
            CookieCodec(
                s.secret_keys,
                name=s.transaction_cookie_name,
                purpose=f"transaction:{deployment}",
            ),
            ttl=s.transaction_ttl,
            max_count=s.max_transactions,
            secure=s.secure_cookies,
        )
        #: Sign-ins already redeemed here: a replayed transaction cookie makes no Okta call.
        self.spent = SpentStates(ttl=s.transaction_ttl + 120)
        self.okta = OktaConversation(s, clock)
        #: The adapter's way to run a flow from the app's thread or task (access tokens).
        self.drive_sync: Callable[[Flow[Any]], Any] | None = None
        self.drive_async: Callable[[Flow[Any]], Awaitable[Any]] | None = None
        self.tokens: AccessTokens | None = None
        if isinstance(self.sessions, ServerSessions):
            self.tokens = AccessTokens(
                self.sessions,
                self.okta,
                deployment=deployment,
                # Long enough for one refresh POST; a crashed holder frees it by then.
                lease=s.http_deadline + 5,
                revalidate_every=s.revalidate_every,
                clock=clock,
            )
            self.sessions.hub = self
        self._cookie_names = frozenset({s.session_cookie_name, s.transaction_cookie_name})
        self._session_cookie = s.session_cookie_name
        self._own_paths = frozenset({s.login_path, s.callback_path, s.logout_path})
        #: Okta's sign-outs (Universal Logout, Back-Channel Logout), when configured.
        self.global_logout: GlobalLogout | None = None
        if s.universal_logout_path or s.backchannel_logout_path:
            if not isinstance(self.sessions, ServerSessions):
                raise ConfigurationError(
                    "universal_logout_path and backchannel_logout_path need a session_store: "
                    "without one a sign-out cannot reach the other processes"
                )
            from ._global_logout import GlobalLogout  # imports this module

            self.global_logout = GlobalLogout(
                s, self.okta, self.sessions, deployment=deployment, clock=clock
            )
            self._own_paths |= self.global_logout.paths
        #: Paths whose POST body the adapters read (at most ``MAX_BODY_BYTES``).
        self.body_paths = self.global_logout.paths if self.global_logout else frozenset()
        self._public_exact = frozenset(p for p in s.public_paths if not p.endswith("/"))
        self._public_prefixes = tuple(p for p in s.public_paths if p.endswith("/"))
        self._widget_js = s.widget_js_url or f"{s.widget_base_url}/js/okta-sign-in.min.js"
        self._widget_css = s.widget_css_url or f"{s.widget_base_url}/css/okta-sign-in.min.css"

    # -- the entry points -------------------------------------------------------------

    def decide(self, request: RequestFacts) -> Decision:
        """Decide what to do with one HTTP request: :meth:`signed_in`, else :meth:`decide_rest`."""
        return self.signed_in(request.path, request.cookie_header) or self.decide_rest(request)

    def signed_in(
        self, path: str, cookie_header: str, route_path: str | None = None
    ) -> PassThrough | None:
        """The fast path: a request with a live session to a path that is not ours, by a
        person the policy lets have it (``route_path``, the path the app routes on, when it
        differs from ``path``; needed only when :attr:`policy` has rules).

        Adapters call this first with just the path and the Cookie header, and build
        :class:`RequestFacts` for :meth:`decide_rest` only when it returns None (which
        then answers a refused person with :meth:`forbidden`).
        """
        if not cookie_header or path in self._own_paths:
            return None
        values = remembered_cookie_values(cookie_header, self._session_cookie)
        if not values:
            return None
        session, refreshed = self.sessions.cached(values, self.clock())
        if session is None:
            return None
        if not self._everyone:
            route = path if route_path is None else route_path
            if self.policy.denial(session.user, route) is not None and not self.is_public(route):
                return None  # decide_rest answers with the 403 (and logs it)
        return PassThrough(session.user, (refreshed,) if refreshed else ())

    def decide_rest(self, request: RequestFacts) -> Decision:
        """Every request :meth:`signed_in` did not answer: our own paths, public paths,
        and requests without a live session (or whose session is not cached here)."""
        started = run_now_or_later(self._rest(request))
        if isinstance(started, tuple):
            return Exchange(resumed(*started))
        return started

    def _rest(self, request: RequestFacts) -> Flow[PassThrough | Respond]:
        try:
            return (yield from self._route(request))
        except StoreUnavailable as exc:
            logger.warning(
                "session store unavailable", extra={"event": "store.unavailable"}, exc_info=False
            )
            if _is_navigation(request) or request.path in self._own_paths:
                return self.error_response(exc)
            return self._json(503, {"error": "unavailable", "login_url": self.settings.login_path})

    def _route(self, request: RequestFacts) -> Flow[PassThrough | Respond]:
        path = request.path
        if path in self.body_paths:
            assert self.global_logout is not None
            return (yield from self.global_logout.handle(request))
        if path in self._own_paths:
            return (yield from self._own_path(request))
        # Our own paths above are the full path, as the browser sees it: the callback is the
        # path of the absolute redirect_uri. A prefix the app does not route on (a mount, or
        # ProxyFix's X-Forwarded-Prefix in SCRIPT_NAME) can only make a request ours or not
        # ours; ours are answered here and never reach the app, so that is safe. Whether the
        # app's view is public is judged on the path the app routes on (R27).
        route = path if request.route_path is None else request.route_path
        public = self.is_public(route)
        cookies = read_cookies(request.cookie_header, self._cookie_names)
        if (
            self.record_store is None
            and not (public or self._everyone)
            and self.sessions.cookie_name in cookies
        ):
            # A session in the cookie that signed_in() passed over: maybe a refused person.
            session, refreshed = yield from self.sessions.read_flow(
                cookies[self.sessions.cookie_name], self.clock()
            )
            if session is not None:
                return self._authorized(request, route, session, refreshed)
        if self.record_store is not None and self.sessions.cookie_name in cookies:
            # Not cached here (another instance signed them in, or the cache lost trust).
            try:
                session, refreshed = yield from self.sessions.read_flow(
                    cookies[self.sessions.cookie_name], self.clock()
                )
            except StoreUnavailable:
                if not public:
                    raise
                session, refreshed = None, None  # a public page needs nobody: still served
            tokens = self.tokens
            if session is not None and tokens and tokens.recheck_due(session, self.clock()):
                session = yield from tokens.recheck_flow(session)
            if session is not None:
                if public or self._everyone:
                    return PassThrough(session.user, (refreshed,) if refreshed else ())
                return self._authorized(request, route, session, refreshed)
        if public:
            return PassThrough(ANONYMOUS)
        return self._turn_away(request, cookies)

    def _authorized(
        self, request: RequestFacts, route: str, session: Session, refreshed: str | None
    ) -> PassThrough | Respond:
        """A signed-in person on a path that is not public: through, or the 403."""
        denial = self.authorize(session.user, route)
        if denial is None:
            return PassThrough(session.user, (refreshed,) if refreshed else ())
        answer = self.forbidden(request, session.user, denial)
        if refreshed:  # the session stays: keep its idle timeout moving
            answer.headers.extend([("set-cookie", refreshed), ("vary", "Cookie")])
        return answer

    # -- authorization ----------------------------------------------------------------

    def authorize(self, user: OktaUser, path: str) -> Denial | None:
        """None when ``user`` may have ``path`` under ``access_rules`` and ``allowed_*``;
        else why not, logged (``access.denied``). ``path`` is the path the app routes on,
        percent-decoded, without the query. Public paths are not exempted here: callers
        ask only for paths that are not (see :meth:`is_public`)."""
        if self._everyone:
            return None
        denial = self.policy.denial(user, path)
        if denial is not None:
            log_denial(user, denial)
        return denial

    def forbidden(self, request: RequestFacts, user: OktaUser, denial: Denial) -> Respond:
        """The answer to a refused person: the 403 page ("You are signed in as ..., which
        does not have access to this page", with sign-out and "use another account") for a
        navigation, 403 JSON ``{"error": "forbidden", ...}`` for an API call."""
        s = self.settings
        if _is_navigation(request):
            headers, body = forbidden_page(user, denial, s.logout_path)
        else:
            headers, body = forbidden_json(s.login_path, s.logout_path)
        return Respond(403, headers, body)

    def authenticate(self, cookie_header: str) -> Flow[Session | None]:
        """The live session of a ``Cookie`` header, as a flow (it may need the store)."""
        cookies = read_cookies(cookie_header, self._cookie_names)
        return (yield from self._session_of(cookies, self.clock()))

    def sign_out_everywhere(self, sub: str) -> Flow[int]:
        """End every session of ``sub`` in the shared store (every instance hears of it)."""
        if not isinstance(self.sessions, ServerSessions):
            raise ConfigurationError("sign_out_everywhere needs a session_store")
        count = yield from self.sessions.revoke_subject(sub)
        logger.info("signed out everywhere", extra={"event": "logout.everywhere"})
        return count

    def list_sessions(self, sub: str) -> Flow[list[SessionInfo]]:
        """The live sessions of ``sub`` in the shared store."""
        if not isinstance(self.sessions, ServerSessions):
            raise ConfigurationError("list_sessions needs a session_store")
        return (yield from self.sessions.list_subject(sub))

    def access_token(self, handle: SessionHandle, min_valid: float) -> str:
        """A valid access token for a session (the WSGI adapter drives the flow)."""
        if self.drive_sync is None:
            raise ConfigurationError("under ASGI, use: await request.user.aaccess_token()")
        assert self.tokens is not None
        try:
            token: str = self.drive_sync(self.tokens.token_flow(handle, min_valid))
        except MagicLinkError as exc:
            raise noted(exc) from None
        return token

    async def aaccess_token(self, handle: SessionHandle, min_valid: float) -> str:
        """A valid access token for a session (the ASGI adapter drives the flow)."""
        if self.drive_async is None:
            raise ConfigurationError("under WSGI, use: user.access_token()")
        assert self.tokens is not None
        try:
            token: str = await self.drive_async(self.tokens.token_flow(handle, min_valid))
        except MagicLinkError as exc:
            raise noted(exc) from None
        return token

    def app_failed(self, request: RequestFacts, exc: MagicLinkError) -> Respond:
        """The answer in the app's place when its request failed on an access token.

        A session that ended (:class:`SignInRequired`) gets what any signed-out request
        gets: a redirect to sign in for a page, a 401 for an API call. Okta or the store
        being unavailable gets a 5xx page, or JSON for an API call.
        """
        if isinstance(exc, SignInRequired):
            cookies = read_cookies(request.cookie_header, self._cookie_names)
            return self._turn_away(request, cookies)
        if isinstance(exc, AccessDenied) and isinstance(exc.user, OktaUser):
            denial = exc.denial
            if denial is not None:
                log_denial(exc.user, denial)
                return self.forbidden(request, exc.user, denial)
        if _is_navigation(request):
            return self.error_response(exc)
        return self._json(exc.status, {"error": "unavailable", "code": exc.code})

    def websocket_user(
        self, path: str, cookie_header: str, origin: str
    ) -> Flow[OktaUser | AnonymousUser | None]:
        """Who a websocket handshake is from; None means refuse it (close with 1008).

        Browsers send cookies with a websocket handshake from any site and never check
        the answer's CORS headers, so a page on another origin (a sibling subdomain, say)
        could otherwise open a socket as the signed-in person. The session counts only
        when ``Origin`` is the app's own or one of ``websocket_origins``; clients that are
        not browsers send no ``Origin`` and cannot be forged into sending a cookie.
        """
        if not origin or origin in self.settings.allowed_websocket_origins:
            cookies = read_cookies(cookie_header, self._cookie_names)
            session = yield from self._session_of(cookies, self.clock())
            if session is not None:
                if self.is_public(path) or self.authorize(session.user, path) is None:
                    return session.user
                return None  # refused like anyone without a session (1008)
        elif cookie_header:
            logger.warning(
                "websocket from another origin refused its session",
                extra={"event": "websocket.cross_origin"},
            )
        return ANONYMOUS if self.is_public(path) else None

    def is_public(self, path: str) -> bool:
        """Public paths match the decoded path exactly, and only a clean one (R27, #92/#93).

        ``path`` is the path the app routes on, relative to its mount (WSGI ``PATH_INFO``,
        ASGI ``path`` without ``root_path``): a public path means the same view wherever the
        app is mounted, and no prefix can make another view public.
        """
        return public_path(path, self._public_exact, self._public_prefixes)

    # -- unauthenticated requests -----------------------------------------------------

    def turn_away(self, request: RequestFacts, *, return_to: str | None = None) -> Respond:
        """What a request without a session gets: for a navigation, a redirect to sign in
        with a new transaction that returns to ``return_to`` (validated again; by default
        the request's own path), else a 401 JSON body. The forward-auth server answers
        for the proxied request with it."""
        cookies = read_cookies(request.cookie_header, self._cookie_names)
        return self._turn_away(request, cookies, return_to)

    def _turn_away(
        self,
        request: RequestFacts,
        cookies: dict[str, list[str]],
        return_to: str | None = None,
    ) -> Respond:
        if not _is_navigation(request):
            body = json.dumps({"error": "unauthenticated", "login_url": self.settings.login_path})
            headers = pages.security_headers(pages.strict_csp(pages.new_nonce()))
            headers.append(("content-type", "application/json"))
            return Respond(401, headers, body.encode())
        now = self.clock()
        if return_to is not None:
            target = return_to
        elif request.method in ("GET", "HEAD"):
            # Re-encode the decoded path so "/my%20file" and "/a%3Fb" come back as asked.
            target = quote(request.path, safe="/!$&'()*+,;=:@-._~")
            if request.query_string:
                target = f"{target}?{request.query_string}"
        else:
            # A form sent after the session ended: what was typed cannot be replayed, but
            # the person lands back on the page the form was on, not on raw JSON.
            target = self._same_origin_referer_target(request.referer)
        txn = Transaction.start(safe_return_target(target, forbidden_paths=self._own_paths), now)
        if self.observer is not None:
            self.observer.signin_started()
        held = self._held(cookies, now)
        held[txn.state] = txn
        headers = self._redirect_headers(self._login_url(state=txn.state))
        headers.append(("set-cookie", self.transactions.dump(held, now)))
        if self.sessions.cookie_name in cookies:  # a stale or forged one: clear it (R19)
            headers.append(("set-cookie", self.sessions.clear_header))
        # 303 turns a POST into a GET of the login page; a GET keeps the classic 302.
        return Respond(302 if request.method in ("GET", "HEAD") else 303, headers)

    def _same_origin_referer_target(self, referer: str) -> str:
        """The path and query of a ``Referer`` on the app's own origin, else ``/``."""
        if not referer:
            return "/"
        try:
            parts = urlsplit(referer)
        except ValueError:
            return "/"
        if f"{parts.scheme}://{parts.netloc}" != self.settings.app_origin:
            return "/"
        return f"{parts.path}?{parts.query}" if parts.query else parts.path

    # -- the middleware's own paths ---------------------------------------------------

    def _own_path(self, request: RequestFacts) -> Flow[Respond]:
        s = self.settings
        try:
            if request.path == s.logout_path:
                return (yield from self._logout(request))
            if request.method not in ("GET", "HEAD"):
                return self._plain(405, "Method not allowed", [("allow", "GET, HEAD")])
            query = parse_query(request.query_string)
            cookies = read_cookies(request.cookie_header, self._cookie_names)
            if request.path == s.login_path:
                return (yield from self._login(query, cookies))
            return (yield from self._callback(query, cookies))
        except SignInError as exc:
            return self.error_response(exc)

    def _login(self, query: dict[str, str], cookies: dict[str, list[str]]) -> Flow[Respond]:
        state, otp = query.get("state"), query.get("otp")
        if (state is not None and not valid(STATE, state)) or (
            otp is not None and not (valid(OTP, otp) and state is not None)
        ):
            raise BadRequest("This sign-in link is malformed.")
        now = self.clock()
        held = self._held(cookies, now)
        txn = self.transactions.find(held, state, now) if state is not None else None
        if txn is None:
            session = yield from self._session_of(cookies, now)
            if session is not None:
                return Respond(302, self._redirect_headers("/"))
            if otp is not None:  # another browser's sign-in: never finish it here (R15)
                return self._enter_code(otp)
            # Start afresh and put the new state in the address bar, so a reload reuses it.
            txn = Transaction.start("/", now)
            if self.observer is not None:
                self.observer.signin_started()
            held[txn.state] = txn
            headers = self._redirect_headers(self._login_url(state=txn.state))
            headers.append(("set-cookie", self.transactions.dump(held, now)))
            if self.sessions.cookie_name in cookies:  # stale, forged or revoked: clear it (R19)
                headers.append(("set-cookie", self.sessions.clear_header))
            return Respond(302, headers)
        return self._widget_page(txn, otp)

    def _widget_page(self, txn: Transaction, otp: str | None) -> Respond:
        s = self.settings
        config: dict[str, Any] = {
            "issuer": s.issuer,
            "clientId": s.client_id,
            "redirectUri": s.redirect_uri,
            "state": txn.state,
            "nonce": txn.nonce,
            "scopes": list(s.scopes),
            "codeChallenge": txn.code_challenge,
            "codeChallengeMethod": "S256",
            "useInteractionCodeFlow": True,
        }
        if otp is not None:
            config["otp"] = otp
        nonce = pages.new_nonce()
        page = WidgetPage(
            config, pages.script_json(config), self._widget_js, self._widget_css, nonce
        )
        csp = pages.widget_csp(
            nonce, issuer=s.issuer, asset_urls=(self._widget_js, self._widget_css)
        )
        headers = pages.security_headers(csp)
        headers.append(("content-type", "text/html; charset=utf-8"))
        return Respond(200, headers, pages.login_page(page, s.login_page))

    def _callback(self, query: dict[str, str], cookies: dict[str, list[str]]) -> Flow[Respond]:
        s = self.settings
        state = query.get("state")
        if state is not None and not valid(STATE, state):
            raise BadRequest()
        if "iss" in query and query["iss"] != s.issuer:  # RFC 9207 (R5, #29)
            raise StateMismatch(
                "This sign-in answer came from an unexpected issuer.", code="issuer_mismatch"
            )
        if "error" in query:
            return self._callback_error(query, state, cookies)
        otp, code = query.get("otp"), query.get("interaction_code")
        if otp is not None and code is not None:
            raise BadRequest(code="ambiguous_callback")
        if otp is not None:
            return (yield from self._magic_link(state, otp, cookies))
        if code is not None:
            return (yield from self._interaction_code(state, code, cookies))
        raise BadRequest(code="unknown_callback")

    def _magic_link(
        self, state: str | None, otp: str, cookies: dict[str, list[str]]
    ) -> Flow[Respond]:
        if state is None or not valid(OTP, otp):
            raise BadRequest()
        now = self.clock()
        if self.transactions.find(self._held(cookies, now), state, now) is not None:
            # Same browser: let the widget finish with the code (protocol.md §7, R15).
            return Respond(302, self._redirect_headers(self._login_url(state=state, otp=otp)))
        if (yield from self._session_of(cookies, now)) is not None:
            return Respond(302, self._redirect_headers("/"))  # already signed in (#15)
        logger.info(
            "magic link opened in another browser", extra={"event": "magic_link.other_browser"}
        )
        return self._enter_code(otp)

    def _callback_error(
        self, query: dict[str, str], state: str | None, cookies: dict[str, list[str]]
    ) -> Respond:
        error = query["error"]
        now = self.clock()
        held = self._held(cookies, now)
        txn = self.transactions.find(held, state, now) if state is not None else None
        if error == "interaction_required" and txn is not None:
            return Respond(302, self._redirect_headers(self._login_url(state=txn.state)))
        status, message = _KNOWN_ERRORS.get(error, (400, "Okta could not complete the sign-in."))
        code = error if valid(ERROR_CODE, error) and error in _KNOWN_ERRORS else "unknown_error"
        logger.info("okta returned an error", extra={"event": "callback.error", "error": code})
        extra: Headers = []
        if txn is not None:  # only the sign-in this error belongs to is dropped (R8, #34)
            del held[txn.state]
            extra.append(("set-cookie", self.transactions.dump(held, now)))
            # Okta's own words help ("User is not assigned to this app"), but anyone can
            # write a link with any text: show them only for this browser's sign-in, and
            # only for known codes (a forged link cannot know the state). Escaped, short.
            description = _printable(query.get("error_description", ""))
            if description and error in _KNOWN_ERRORS:
                message = f"{message} Okta said: {description}"
        return self.error_response(SignInError(message, code=code, status=status), extra)

    def _interaction_code(
        self, state: str | None, code: str, cookies: dict[str, list[str]]
    ) -> Flow[Respond]:
        if state is None or not valid(INTERACTION_CODE, code):
            raise BadRequest()
        now = self.clock()
        held = self._held(cookies, now)
        txn = self.transactions.find(held, state, now)
        if txn is None:
            if (yield from self._session_of(cookies, now)) is not None:
                return Respond(302, self._redirect_headers("/"))  # a reload after success (#27)
            expired = state in held
            logger.info("callback state not held", extra={"event": "callback.state_mismatch"})
            raise StateMismatch(
                "This sign-in took too long. Please start again." if expired else None,
                code="transaction_expired" if expired else "state_mismatch",
            )
        # The transaction is spent whatever happens next (R1): a code is single-use. The
        # browser is told to drop it, and the spent state is remembered (in the shared
        # store when there is one), so a copy of the cookie sent again is refused here,
        # on any instance, without a call to Okta.
        del held[txn.state]
        txn_cookie = self.transactions.dump(held, now)
        if not (yield from self._spend(txn.state, now)):
            logger.info("callback state already used", extra={"event": "callback.replayed"})
            if (yield from self._session_of(cookies, now)) is not None:
                return Respond(302, self._redirect_headers("/"))
            replayed = StateMismatch(
                "This sign-in was already used. Please start again.", code="state_replayed"
            )
            return self.error_response(replayed, [("set-cookie", txn_cookie)])
        previous = yield from self._session_of(cookies, now)
        return (yield from self._finish(txn, code, txn_cookie, previous))

    def _finish(
        self, txn: Transaction, code: str, txn_cookie: str, previous: Session | None
    ) -> Flow[Respond]:
        try:
            claims, tokens = yield from self.okta.redeem(txn, code)
            if self.settings.require_verified_email and claims.get("email_verified") is not True:
                logger.info("email not verified", extra={"event": "signin.email_unverified"})
                raise SignInError(
                    "Your email address is not verified in Okta, so this app cannot sign "
                    "you in. Verify it in Okta, then start again.",
                    code="email_unverified",
                    status=403,
                )
            now = self.clock()
            kept = None
            if self.tokens is not None:
                kept = stored_tokens(tokens, now)
                if kept.refresh_token is None and "offline_access" in self.settings.scopes:
                    logger.warning(
                        "okta issued no refresh token: allow the Refresh Token grant for "
                        "this app in Okta (Applications > General > Grant type)",
                        extra={"event": "signin.no_refresh_token"},
                    )
            _, session_cookie = yield from self.sessions.mint_flow(
                claims, tokens.id_token, now, kept
            )
            if previous is not None:  # the new session replaces it for good (R19)
                yield from self.sessions.revoke_flow(previous)
        except (SignInError, StoreUnavailable) as exc:
            return self.error_response(exc, [("set-cookie", txn_cookie)])
        target = safe_return_target(txn.return_to, forbidden_paths=self._own_paths)
        logger.info("sign-in completed", extra={"event": "signin.success"})
        if self.observer is not None:
            self.observer.signin_completed()
        headers = self._redirect_headers(target)
        headers += [("set-cookie", session_cookie), ("set-cookie", txn_cookie)]
        return Respond(302, headers)

    def _logout(self, request: RequestFacts) -> Flow[Respond]:
        s = self.settings
        cookies = read_cookies(request.cookie_header, self._cookie_names)
        try:
            session, _ = yield from self.sessions.read_flow(
                cookies.get(self.sessions.cookie_name, []), self.clock(), with_id_token=True
            )
            return (yield from self._logout_with(request, session))
        except StoreUnavailable as exc:
            # Never dropped silently: the person is told, and keeps the button to retry.
            logger.warning("sign-out failed: store unavailable", extra={"event": "logout.failed"})
            failed = SignInError(
                "You could not be signed out because the session service is unavailable. "
                "Please try again in a moment.",
                code=exc.code,
                status=503,
            )
            return self.error_response(failed, link=("Try signing out again", s.logout_path))

    def _logout_with(self, request: RequestFacts, session: Session | None) -> Flow[Respond]:
        s = self.settings
        if request.method in ("GET", "HEAD"):
            # A GET changes nothing (#100): it offers a button that POSTs.
            nonce = pages.new_nonce()
            headers = pages.security_headers(pages.strict_csp(nonce))
            headers.append(("content-type", "text/html; charset=utf-8"))
            who = session.user.display_name if session is not None else None
            return Respond(200, headers, pages.logout_page(s.logout_path, nonce, who))
        if request.method != "POST":
            return self._plain(405, "Method not allowed", [("allow", "GET, HEAD, POST")])
        if not self._same_origin(request):
            logger.warning("cross-site logout refused", extra={"event": "logout.cross_site"})
            return self.error_response(
                SignInError("Sign-out must come from this site.", code="cross_site", status=403),
                [("vary", "Sec-Fetch-Site, Origin")],
            )
        # "Use another account" (the 403 page): without a hop through Okta's sign-out, go
        # straight to sign in; with one, Okta sends them to post_logout_redirect_uri.
        switching = request.query_string == pages.SWITCH_ACCOUNT_QUERY
        location = s.login_path if switching else s.post_logout_redirect_uri or "/"
        if session is not None:
            yield from self.sessions.revoke_flow(session)
            yield from self._revoke_at_okta(session)
            id_token = self.sessions.id_token(session)
            if id_token:
                endpoint = self.okta.discovery.end_session_endpoint if self.okta.discovery else None
                params = {"id_token_hint": id_token}
                if s.post_logout_redirect_uri:
                    params["post_logout_redirect_uri"] = s.post_logout_redirect_uri
                location = f"{endpoint or s.logout_endpoint}?{urlencode(params)}"
            logger.info("signed out", extra={"event": "logout"})
        headers = self._redirect_headers(location)
        headers += [
            ("set-cookie", self.sessions.clear_header),
            ("set-cookie", self.transactions.dump({}, 0)),
            ("clear-site-data", '"cookies"'),
            ("vary", "Sec-Fetch-Site, Origin"),
        ]
        return Respond(303, headers)

    def _revoke_at_okta(self, session: Session) -> Flow[None]:
        """Revoke the session's tokens at Okta (best effort: a failure is logged at
        WARNING by the conversation, and the local sign-out stands)."""
        tokens = session.tokens
        if tokens is None:
            return
        if tokens.refresh_token is not None:
            yield from self.okta.revoke(tokens.refresh_token, "refresh_token")
        yield from self.okta.revoke(tokens.access_token, "access_token")

    # -- helpers ----------------------------------------------------------------------

    def error_response(
        self,
        exc: MagicLinkError,
        extra: Headers | None = None,
        *,
        link: tuple[str, str] | None = None,
    ) -> Respond:
        """A page a person understands, with a way to start again (R34): ``link`` is the
        button's text and target, "Sign in again" by default."""
        reference = secrets.token_hex(4)
        logger.info(
            "sign-in failed: %s",
            exc.code,
            extra={"event": "signin.failed", "code": exc.code, "reference": reference},
        )
        if self.observer is not None:
            self.observer.signin_failed(exc.code)
        nonce = pages.new_nonce()
        headers = pages.security_headers(pages.strict_csp(nonce))
        headers.append(("content-type", "text/html; charset=utf-8"))
        headers += extra or []
        title = "Sign-in could not be completed" if exc.status < 500 else "Sign-in is unavailable"
        text, target = link or ("Sign in again", self.settings.login_path)
        body = pages.error_page(title, exc.public_message, target, reference, nonce, text)
        return Respond(exc.status, headers, body)

    def _enter_code(self, otp: str) -> Respond:
        nonce = pages.new_nonce()
        headers = pages.security_headers(pages.strict_csp(nonce))
        headers.append(("content-type", "text/html; charset=utf-8"))
        return Respond(200, headers, pages.enter_code_page(otp, self.settings.login_path, nonce))

    def _plain(self, status: int, text: str, extra: Headers) -> Respond:
        headers = pages.security_headers(pages.strict_csp(pages.new_nonce()))
        headers += [("content-type", "text/plain; charset=utf-8"), *extra]
        return Respond(status, headers, text.encode())

    def _json(self, status: int, body: dict[str, str]) -> Respond:
        headers = pages.security_headers(pages.strict_csp(pages.new_nonce()))
        headers.append(("content-type", "application/json"))
        return Respond(status, headers, json.dumps(body).encode())

    def _session_of(self, cookies: dict[str, list[str]], now: float) -> Flow[Session | None]:
        """The live session among the request's cookies."""
        values = cookies.get(self.sessions.cookie_name)
        if not values:
            return None
        session, _ = yield from self.sessions.read_flow(values, now)
        return session

    def _spend(self, state: str, now: float) -> Flow[bool]:
        """Mark a sign-in's state used; False when it already was (a replay)."""
        if self.record_store is None:
            return self.spent.spend(state, now)
        key = hashlib.sha256(f"{self._deployment}\0{state}".encode()).hexdigest()
        fresh: bool = yield StoreCall("spend", (key, self.settings.transaction_ttl + 120))
        return fresh

    def _held(self, cookies: dict[str, list[str]], now: float) -> dict[str, Transaction]:
        return self.transactions.load(cookies.get(self.transactions.cookie_name, []), now)

    def _login_url(self, **params: str) -> str:
        return f"{self.settings.login_path}?{urlencode(params)}"

    def _redirect_headers(self, location: str) -> Headers:
        headers = pages.security_headers(pages.strict_csp(pages.new_nonce()))
        # A Content-Type even without a body: PEP 3333 servers and wsgiref.validate expect one.
        headers += [
            ("location", location),
            ("vary", "Cookie"),
            ("content-type", "text/plain; charset=utf-8"),
        ]
        return headers

    def _same_origin(self, request: RequestFacts) -> bool:
        """R22: Fetch Metadata first, then Origin, then Referer.

        A request with none of the three did not come from a browser page, so it
        cannot be a cross-site forgery.
        """
        if request.sec_fetch_site:
            return request.sec_fetch_site in ("same-origin", "none")
        if request.origin:
            return request.origin == self.settings.app_origin
        if request.referer:
            parts = urlsplit(request.referer)
            return f"{parts.scheme}://{parts.netloc}" == self.settings.app_origin
        return True


def public_path(path: str, exact: frozenset[str], prefixes: tuple[str, ...]) -> bool:
    """True if ``path`` is one of ``exact``, or a clean path under one of ``prefixes``
    (no empty, dot or backslash segment, no NUL): :meth:`MagicLinkCore.is_public`."""
    if path in exact:
        return True
    if not path.startswith(prefixes):
        return False
    return not (
        "//" in path
        or "\\" in path
        or "/./" in path
        or "/../" in path
        or path.endswith(("/.", "/.."))
        or "\x00" in path
    )


def _printable(text: str, limit: int = 200) -> str:
    """Text shown as-is (then HTML-escaped): printable characters only, bounded."""
    kept = "".join(ch for ch in text[: limit * 2] if ch.isprintable())
    return kept if len(kept) <= limit else f"{kept[: limit - 1]}…"


def _is_navigation(request: RequestFacts) -> bool:
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
