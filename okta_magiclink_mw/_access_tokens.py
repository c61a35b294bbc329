"""Access tokens for the app, refreshed once per session across every instance.

The tokens live in the session's sealed record in the shared store (never in a cookie).
A token that is about to run out is refreshed under a lock in the store, with a lease,
and the record is read again once the lock is held: of 50 requests on 4 workers that
all find the token expired, one POSTs the refresh token and the others wait for the lock
to go and read what it stored (peers lose that race: oauth2-proxy #1006, #490, #1992).
A rotated refresh token is written in the same single write as its access token.

The same refresh is the re-check of ``revalidate_every``: Okta refuses the refresh token
of a person who was deactivated or signed out in Okta (``invalid_grant``), and the
session ends. When Okta's answer carries a new ID token, its claims (checked: signature,
issuer, audience, times, the same ``sub``) replace the session's, so a change of groups
takes effect at the next refresh; a token that fails the checks leaves the claims as
they were.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from ._effects import Flow
from ._oidc import OktaConversation
from ._server_sessions import ServerSessions, SessionHandle
from ._sessions import Session, StoredTokens
from ._tokens import TokenSet
from .errors import (
    IdentityProviderError,
    MagicLinkError,
    SignInError,
    SignInRequired,
    TokenExchangeError,
)
from .stores._base import StoreCall, StoreUnavailable

logger = logging.getLogger("okta_magiclink_mw")

#: When Okta leaves ``expires_in`` out, assume a short life rather than a long one.
_UNKNOWN_LIFETIME = 300.0
#: Turns at the lock before giving up (each ends when the holder's lease does at most).
_ATTEMPTS = 3
#: After Okta failed a re-check, the next try waits this long (not one per request).
_RECHECK_BACKOFF = 30.0


class AppOutcome:
    """What went wrong while the app asked for a token during one request: the adapter
    answers in the app's place when the request then fails (an exception, or the 500
    page a framework made of it)."""

    __slots__ = ("failure",)

    failure: MagicLinkError | None

    def __init__(self) -> None:
        self.failure = None


#: The request the app is serving, set by the adapter around the app's call.
CURRENT_OUTCOME: ContextVar[AppOutcome | None] = ContextVar("omw_outcome", default=None)


def noted(exc: MagicLinkError) -> MagicLinkError:
    """Remember ``exc`` as the current request's failure (see :class:`AppOutcome`)."""
    outcome = CURRENT_OUTCOME.get()
    if outcome is not None:
        outcome.failure = exc
    return exc


def stored_tokens(tokens: TokenSet, now: float, keep_refresh: str | None = None) -> StoredTokens:
    """What a session keeps of a token response. Okta sends a refresh token again only
    when it rotates them; otherwise the one in hand stays good (``keep_refresh``)."""
    lifetime = tokens.expires_in if tokens.expires_in is not None else _UNKNOWN_LIFETIME
    return StoredTokens(
        access_token=tokens.access_token,
        expires_at=now + lifetime,
        scope=tokens.scope,
        refresh_token=tokens.refresh_token or keep_refresh,
        checked_at=now,
    )


class AccessTokens:
    """Hands out valid access tokens and runs the re-checks, as flows."""

    def __init__(
        self,
        sessions: ServerSessions,
        okta: OktaConversation,
        *,
        deployment: str,
        lease: float,
        revalidate_every: float | None,
        clock: Callable[[], float],
    ) -> None:
        self._sessions = sessions
        self._okta = okta
        self._deployment = deployment
        self._lease = lease
        self._every = revalidate_every
        self._clock = clock
        self._backoff: dict[str, float] = {}  # session id -> no re-check before then

    # -- the app's access token ------------------------------------------------------------

    def token_flow(self, handle: SessionHandle, min_valid: float) -> Flow[str]:
        """An access token valid for at least ``min_valid`` more seconds."""
        now = self._clock()
        session = self._sessions.current(handle, now)
        if session is None:
            session = yield from self._sessions.reload(handle, now)
            if session is None:
                raise SignInRequired()
        if self._fresh_enough(session, min_valid):
            assert session.tokens is not None
            return session.tokens.access_token
        session = yield from self._refreshed(handle, lambda s: self._fresh_enough(s, min_valid))
        assert session.tokens is not None
        return session.tokens.access_token

    def _fresh_enough(self, session: Session, min_valid: float) -> bool:
        tokens = session.tokens
        return tokens is not None and tokens.expires_at - self._clock() >= min_valid

    # -- re-checks with Okta -----------------------------------------------------------------

    def recheck_due(self, session: Session, now: float) -> bool:
        """Whether this session is due its periodic re-check with Okta."""
        if self._every is None:
            return False
        tokens = session.tokens
        if tokens is not None and now - tokens.checked_at < self._every:
            return False
        return self._backoff.get(session.session_id, 0.0) <= now

    def recheck_flow(self, session: Session) -> Flow[Session | None]:
        """Re-check ``session`` with Okta (a refresh): the session, or None if it ended.

        When Okta cannot answer, the session goes on (a WARNING is logged) and the next
        re-check waits a while: an outage of Okta does not sign everyone out, nor does it
        make every request wait for Okta.
        """
        handle = self._sessions.handle_of(session)
        assert handle is not None
        every = self._every
        assert every is not None
        try:
            return (
                yield from self._refreshed(
                    handle,
                    lambda s: s.tokens is not None and self._clock() - s.tokens.checked_at < every,
                )
            )
        except SignInRequired:
            return None
        except IdentityProviderError:
            self._note_backoff(session.session_id)
            logger.warning(
                "session re-check postponed: Okta unavailable",
                extra={"event": "recheck.postponed"},
            )
            return session

    def _note_backoff(self, session_id: str) -> None:
        if len(self._backoff) > 10_000:
            self._backoff.clear()  # bounded; forgetting only makes a retry come sooner
        self._backoff[session_id] = self._clock() + _RECHECK_BACKOFF

    # -- the refresh, single-flight across instances -------------------------------------------

    def _refreshed(self, handle: SessionHandle, good: Callable[[Session], bool]) -> Flow[Session]:
        """The session once ``good`` holds for it: read again after another instance's
        refresh, or refreshed here while holding the session's lock in the store."""
        key = hashlib.sha256(f"{self._deployment}\0refresh\0{handle.session_id}".encode())
        lock = key.hexdigest()[:32]
        for _ in range(_ATTEMPTS):
            holder = yield StoreCall("lock", (lock, self._lease))
            if holder is None:
                # Someone is refreshing this session: wait for them, then use their result.
                yield StoreCall("wait_unlocked", (lock, self._lease))
                session = yield from self._reloaded(handle)
                if good(session):
                    return session
                continue
            try:
                session = yield from self._refresh_holding_lock(handle, good)
            except GeneratorExit:
                raise  # abandoned: the lease frees the lock
            except BaseException:
                yield from self._unlock(lock, holder)
                raise
            yield from self._unlock(lock, holder)
            return session
        raise IdentityProviderError(
            "Okta is slow to renew your session. Please try again.", code="refresh_busy", status=503
        )

    def _refresh_holding_lock(
        self, handle: SessionHandle, good: Callable[[Session], bool]
    ) -> Flow[Session]:
        session = yield from self._reloaded(handle)
        if good(session):
            return session  # another instance refreshed while we waited for the lock
        refresh_token = session.tokens.refresh_token if session.tokens else None
        if refresh_token is None:
            logger.info(
                "session needs a new token but has no refresh token",
                extra={"event": "refresh.unavailable"},
            )
            raise SignInRequired()
        try:
            tokens = yield from self._okta.refresh(refresh_token)
        except TokenExchangeError as exc:
            if exc.status >= 500:
                raise IdentityProviderError(code=exc.code) from exc
            # invalid_grant: revoked, expired, or the person deactivated in Okta.
            logger.info("okta ended the session", extra={"event": "refresh.refused"})
            yield from self._sessions.revoke_flow(session)
            raise SignInRequired() from exc
        claims = None
        if tokens.id_token is not None:
            claims = yield from self._refreshed_claims(tokens.id_token, session)
        kept = stored_tokens(tokens, self._clock(), keep_refresh=refresh_token)
        updated = yield from self._sessions.store_tokens(
            session, handle, kept, claims=claims, id_token=tokens.id_token
        )
        if updated is None:
            raise SignInRequired()
        self._backoff.pop(session.session_id, None)
        logger.info("tokens refreshed", extra={"event": "refresh.success"})
        return updated

    def _refreshed_claims(self, id_token: str, session: Session) -> Flow[dict[str, Any] | None]:
        """The claims of a refresh's ID token, or None to keep the session's (the reason
        is logged at WARNING by the conversation)."""
        try:
            claims: dict[str, Any] = yield from self._okta.refreshed_claims(
                id_token, session.user.identity
            )
        except SignInError:
            logger.info(
                "refreshed ID token not used: the session keeps its claims",
                extra={"event": "refresh.claims_kept"},
            )
            return None
        return claims

    def _reloaded(self, handle: SessionHandle) -> Flow[Session]:
        session = yield from self._sessions.reload(handle, self._clock())
        if session is None:
            raise SignInRequired()
        return session

    def _unlock(self, lock: str, holder: str) -> Flow[None]:
        with contextlib.suppress(StoreUnavailable):  # else the lease ends it
            yield StoreCall("unlock", (lock, holder))
