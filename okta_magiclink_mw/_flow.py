"""THE CORE: request facts in, one decision out. No I/O, no ASGI, no WSGI.

Every choice the middleware makes is taken here; the adapters in ``asgi.py`` and
``wsgi.py`` only translate a native request into :class:`RequestFacts` and a
decision back into a native response. The one network conversation (the token
exchange) is returned as an :class:`Exchange` whose generator the adapter drives.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode, urlsplit

from . import _pages as pages
from ._access_tokens import AccessTokens, noted
from ._authorization import forbidden_json, forbidden_page, log_denial, warn_about_groups
from ._callback import Callback
from ._cookies import CookieCodec, read_cookies, remembered_cookie_values
from ._decisions import (
    ANONYMOUS,
    Decision,
    Exchange,
    Headers,
    PassThrough,
    RequestFacts,
    Respond,
    is_navigation,
)
from ._effects import Flow, resumed, run_now_or_later
from ._login_page import LoginPage
from ._observe import Observer
from ._oidc import OktaConversation
from ._policy import Denial, Policy
from ._query import parse_query
from ._redirects import safe_return_target
from ._sealing import Sealer
from ._server_sessions import ServerSessions, SessionHandle
from ._sessions import InMemorySessionStore, Session, SessionManager, SessionStore
from ._sign_out import SignOut
from ._transactions import SpentStates, Transaction, TransactionJar
from .errors import (
    AccessDenied,
    ConfigurationError,
    MagicLinkError,
    SignInError,
    SignInRequired,
)
from .settings import Settings
from .stores import open_store
from .stores._base import RecordStore, SessionInfo, StoreUnavailable
from .user import AnonymousUser, OktaUser

if TYPE_CHECKING:
    from ._global_logout import GlobalLogout

logger = logging.getLogger("okta_magiclink_mw")

# The decision types are defined in _decisions and re-exported here, the core's one
# entry point for the adapters.
__all__ = [
    "ANONYMOUS",
    "Decision",
    "Exchange",
    "Headers",
    "MagicLinkCore",
    "PassThrough",
    "RequestFacts",
    "Respond",
    "public_path",
]


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
        #: form-action of the pages with a sign-out button (the logout and 403 pages).
        self._sign_out_action = pages.sign_out_form_action(s.issuer, s.post_logout_redirect_uri)
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
        if s.post_logout_redirect_uri is None:
            logger.warning(
                "post_logout_redirect_uri is not set: after signing out, Okta leaves people on "
                "its own sign-in page. Set it (OKTA_POST_LOGOUT_REDIRECT_URI) to a page of this "
                "app, e.g. %s/, and register that URL in the Okta admin console: Applications "
                "> your app > General > Sign-out redirect URIs",
                s.app_origin,
                extra={"event": "startup.no_post_logout_redirect"},
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
            from ._global_logout import GlobalLogout  # only when configured

            self.global_logout = GlobalLogout(
                s, self.okta, self.sessions, deployment=deployment, clock=clock
            )
            self._own_paths |= self.global_logout.paths
        #: Paths whose POST body the adapters read (at most ``MAX_BODY_BYTES``).
        self.body_paths = self.global_logout.paths if self.global_logout else frozenset()
        self._public_exact = frozenset(p for p in s.public_paths if not p.endswith("/"))
        self._public_prefixes = tuple(p for p in s.public_paths if p.endswith("/"))
        # The middleware's own paths, each answered by a small part that uses this core.
        self._login_page = LoginPage(self)
        self._callback = Callback(self)
        self._sign_out = SignOut(self)

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
            if is_navigation(request) or request.path in self._own_paths:
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
        if is_navigation(request):
            headers, body = forbidden_page(user, denial, s.logout_path, self._sign_out_action)
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
        if is_navigation(request):
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
        if not is_navigation(request):
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
                return (yield from self._sign_out.logout(request))
            if request.method not in ("GET", "HEAD"):
                return self._plain(405, "Method not allowed", [("allow", "GET, HEAD")])
            query = parse_query(request.query_string)
            cookies = read_cookies(request.cookie_header, self._cookie_names)
            if request.path == s.login_path:
                return (yield from self._login_page.login(query, cookies))
            return (yield from self._callback.callback(query, cookies))
        except SignInError as exc:
            return self.error_response(exc)

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
