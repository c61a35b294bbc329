"""Sessions: a signed cookie with identity claims and timestamps, verified once per value."""

from __future__ import annotations

import logging
import secrets
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ._cookies import CookieCodec, delete_cookie_header, fits, set_cookie_header
from ._effects import Flow, immediate
from ._sealing import Sealer
from ._tokens import MAX_TOKEN_BYTES
from .errors import IdentityProviderError
from .user import OktaUser

logger = logging.getLogger("okta_magiclink_mw")

#: Protocol claims of the ID token that say nothing about the person; not kept.
PROTOCOL_CLAIMS = frozenset(
    {"iss", "aud", "exp", "iat", "nbf", "jti", "nonce", "at_hash", "c_hash", "ver", "azp", "sid"}
)
#: What is kept when the claims would not fit in one cookie (R25): who the person is, and
#: the groups the access rules may need.
_ESSENTIAL_CLAIMS = ("sub", "email", "email_verified", "name", "preferred_username", "groups")
#: Verified cookie values remembered, so a request pays for HMAC and JSON once per value.
_CACHE_SIZE = 1024


@runtime_checkable
class SessionStore(Protocol):
    """Where revoked session ids are remembered (R21).

    A signed cookie is valid until it expires; logging out records its id here so
    a copy of it stops working at once. The default store lives in the process; a
    deployment with several processes plugs in a shared one (e.g. Redis).
    """

    def revoke(self, session_id: str, until: float) -> None:
        """Refuse ``session_id`` from now until the time ``until`` (epoch seconds)."""

    def is_revoked(self, session_id: str) -> bool:
        """Whether ``session_id`` was revoked. Called on every authenticated request."""


class InMemorySessionStore:
    """A :class:`SessionStore` in this process's memory, bounded in size."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._revoked: dict[str, float] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def revoke(self, session_id: str, until: float) -> None:
        with self._lock:
            if len(self._revoked) >= self._max:
                # Oldest first: their sessions are the closest to expiring anyway.
                del self._revoked[next(iter(self._revoked))]
            self._revoked[session_id] = until

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._revoked

    def __len__(self) -> int:
        return len(self._revoked)


@dataclass(frozen=True, slots=True)
class StoredTokens:
    """The OAuth tokens of a server-side session, as its sealed record keeps them.

    Never in a cookie, a log or a page; ``repr`` leaves the secrets out.
    """

    access_token: str = field(repr=False)
    #: When the access token runs out (epoch seconds).
    expires_at: float
    scope: str | None
    #: Present when ``offline_access`` was granted.
    refresh_token: str | None = field(repr=False)
    #: When Okta last vouched for the session (sign-in or refresh): re-checks count from it.
    checked_at: float


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in browser."""

    session_id: str
    issued_at: float
    last_seen: float
    claims: Mapping[str, Any]
    #: The ID token, sealed (:mod:`._sealing`): kept for logout's ``id_token_hint`` only,
    #: unreadable in the browser, and dropped if the cookie would be too big.
    sealed_id_token: str | None
    user: OktaUser
    #: The ID token itself, when the session is a server-side record (sealed at rest).
    id_token: str | None = field(default=None, repr=False)
    #: The access (and refresh) token of a server-side session.
    tokens: StoredTokens | None = None

    def without_id_token(self) -> Session:
        return Session(
            self.session_id, self.issued_at, self.last_seen, self.claims, None, self.user
        )

    def with_claims(self, claims: Mapping[str, Any]) -> Session:
        """Fewer claims, no id_token: what a cookie keeps when the whole would not fit.
        The user stays the one of the full claims (the cookie is read back as it is)."""
        return Session(self.session_id, self.issued_at, self.last_seen, claims, None, self.user)

    def seen_at(self, now: float) -> Session:
        return Session(
            self.session_id, self.issued_at, now, self.claims, self.sealed_id_token, self.user
        )

    def to_payload(self) -> dict[str, Any]:
        payload = {
            "sid": self.session_id,
            "iat": int(self.issued_at),
            "seen": int(self.last_seen),
            "u": dict(self.claims),
        }
        if self.sealed_id_token:
            payload["idt"] = self.sealed_id_token
        return payload

    @classmethod
    def from_payload(cls, payload: object) -> Session | None:
        if not isinstance(payload, dict):
            return None
        sid, iat, seen, claims = (payload.get(k) for k in ("sid", "iat", "seen", "u"))
        sealed = payload.get("idt")
        if not (isinstance(sid, str) and isinstance(claims, dict)):
            return None
        if not (isinstance(iat, int) and isinstance(seen, int)):
            return None
        if not isinstance(claims.get("sub"), str) or not isinstance(sealed, str | None):
            return None
        user = OktaUser(claims)
        return cls(sid, float(iat), float(seen), user.claims, sealed, user)


class SessionManager:
    """Mints, reads and refreshes session cookies.

    Timeouts come from timestamps inside the signed payload and are checked on every
    request (R20); the browser's ``Max-Age`` is only a courtesy. A cookie is re-sent
    only when it changes: after an old signing key, or when ``last_seen`` needs moving
    forward for the idle timeout.
    """

    def __init__(
        self,
        codec: CookieCodec,
        *,
        sealer: Sealer,
        max_age: float,
        idle_timeout: float,
        leeway: float,
        secure: bool,
        store: SessionStore,
        keep_groups: bool = False,
    ) -> None:
        self._codec = codec
        #: The access rules need the ``groups`` claim: never drop it to make a cookie fit.
        self._keep_groups = keep_groups
        self._sealer = sealer
        self._max_age = max_age
        self._idle = idle_timeout
        self._leeway = leeway
        self._secure = secure
        self.store = store
        # Moving last_seen forward costs a Set-Cookie; doing it every twelfth of the idle
        # window (at most every 5 minutes) keeps the idle timeout within ~8% of its setting.
        self._refresh_after = min(idle_timeout / 12, 300.0)
        self._cache: dict[str, tuple[Session, bool]] = {}
        # Reads are lock-free (one dict lookup); inserting and evicting take the lock, so
        # threaded WSGI servers never evict the same entry twice (KeyError) or iterate a
        # dict another thread is resizing (RuntimeError).
        self._cache_lock = threading.Lock()
        self.clear_header = delete_cookie_header(codec.name, secure=secure)

    @property
    def cookie_name(self) -> str:
        return self._codec.name

    def mint(
        self, claims: Mapping[str, Any], id_token: str | None, now: float
    ) -> tuple[Session, str]:
        """A brand-new session (fresh id, R19) and its ``Set-Cookie`` value."""
        user = OktaUser({k: v for k, v in claims.items() if k not in PROTOCOL_CLAIMS})
        session_id = secrets.token_urlsafe(16)
        sealed = None
        if id_token:
            # Compressed first: a sealed value is random bytes, which the cookie's own
            # compression cannot shrink, and a JWT's JSON halves.
            plain = zlib.compress(id_token.encode("ascii"))
            sealed = self._sealer.seal(plain, session_id.encode("ascii"))
        session = Session(session_id, now, now, user.claims, sealed, user)
        return session, self._fitting_header(session)

    def id_token(self, session: Session) -> str | None:
        """The raw ID token of a session read with ``with_id_token=True`` (for logout)."""
        if session.sealed_id_token is None:
            return None
        opened = self._sealer.open(session.sealed_id_token, session.session_id.encode("ascii"))
        if opened is None:
            return None
        # Sealed by us, so well-formed; bounded all the same, as anything decompressed is.
        inflater = zlib.decompressobj()
        token = inflater.decompress(opened, MAX_TOKEN_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            return None
        return token.decode("ascii")

    def read(
        self, values: Sequence[str], now: float, *, with_id_token: bool = False
    ) -> tuple[Session | None, str | None]:
        """The live session among the cookie values, and a ``Set-Cookie`` to send if it
        needs re-issuing. ``(None, None)`` when none is valid.

        Duplicates (the same cookie name more than once): the first value that holds a
        live session counts, unless another value holds a different live session, in
        which case neither does. Our cookie is host-only with ``Path=/``, so a second one
        was planted (cookie tossing, only possible without ``__Host-``); refusing both
        means a planted session never outranks, or replaces, the person's own.

        Verified values are cached (keyed by the whole value, without the id_token, which
        only logout needs: ``with_id_token=True``), so a request pays for HMAC and JSON
        once per cookie value. Expiry and revocation are still checked on every call.
        """
        found: tuple[Session, bool] | None = None
        found_value = ""
        for value in values:
            entry = self._live(value, now)
            if entry is None:
                continue
            if found is None:
                found, found_value = entry, value
            elif entry[0].session_id != found[0].session_id:
                return None, None
        if found is None:
            return None, None
        session, old_key = found
        refresh = old_key or now - session.last_seen >= self._refresh_after
        if refresh or with_id_token:
            # Rare: re-read the full payload, which the cache does not keep. It verified
            # a moment ago, and the cache holds exactly the value that verified.
            verified = self._verify(found_value)
            assert verified is not None
            session = verified[0]
        if refresh:
            fresh = session.seen_at(now)
            return fresh, self._fitting_header(fresh)
        return session, None

    def _live(self, value: str, now: float) -> tuple[Session, bool] | None:
        """The session of one cookie value, and whether an old key signed it, if the
        value is ours and the session still live. The hot path: one dict lookup."""
        entry = self._cache.get(value)
        if entry is None:
            entry = self._verify(value)
            if entry is None:
                return None
            entry = (entry[0].without_id_token(), entry[1])
            with self._cache_lock:
                while len(self._cache) >= _CACHE_SIZE:
                    self._cache.pop(next(iter(self._cache)), None)
                self._cache[value] = entry
        session = entry[0]
        issued_at = session.issued_at
        if (
            issued_at > now + self._leeway  # minted in the future: not by us (#57)
            or now - issued_at > self._max_age
            or now - session.last_seen > self._idle
            or self.store.is_revoked(session.session_id)
        ):
            return None
        return entry

    def revoke(self, session: Session) -> None:
        self.store.revoke(session.session_id, session.issued_at + self._max_age + self._leeway)

    # The same operations as flows, as the core drives them for either kind of session
    # (server-side records need the store; these need nothing and finish at once).

    def cached(self, values: Sequence[str], now: float) -> tuple[Session | None, str | None]:
        """The hot path: :meth:`read`."""
        return self.read(values, now)

    def read_flow(
        self, values: Sequence[str], now: float, *, with_id_token: bool = False
    ) -> Flow[tuple[Session | None, str | None]]:
        return immediate(self.read(values, now, with_id_token=with_id_token))

    def mint_flow(
        self,
        claims: Mapping[str, Any],
        id_token: str | None,
        now: float,
        tokens: StoredTokens | None = None,
    ) -> Flow[tuple[Session, str]]:
        """:meth:`mint` as a flow; a cookie keeps no token, so ``tokens`` is dropped."""
        return immediate(self.mint(claims, id_token, now))

    def revoke_flow(self, session: Session) -> Flow[None]:
        self.revoke(session)
        return immediate(None)

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    def _verify(self, value: str) -> tuple[Session, bool] | None:
        loaded = self._codec.loads(value, max_age=int(self._max_age + self._leeway))
        if loaded is None:
            return None
        session = Session.from_payload(loaded[0])
        return None if session is None else (session, loaded[1])

    def _fitting_header(self, session: Session) -> str:
        # Shrink until it fits (R25): first drop the id_token (logout then goes without
        # id_token_hint), then keep only the essential claims, and last (unless access
        # rules need them) the groups too.
        essential = {k: session.claims[k] for k in _ESSENTIAL_CLAIMS if k in session.claims}
        candidates = [session, session.without_id_token(), session.with_claims(essential)]
        if "groups" in essential and not self._keep_groups:
            del essential["groups"]
            candidates.append(session.with_claims(essential))
        header = ""
        for candidate in candidates:
            value = self._codec.dumps(candidate.to_payload())
            header = set_cookie_header(
                self._codec.name, value, max_age=int(self._max_age), secure=self._secure
            )
            if fits(header):
                if "groups" in session.claims and "groups" not in candidate.claims:
                    logger.warning(
                        "the groups claim is too large for a session cookie and was dropped: "
                        "filter it in Okta, or set session_store",
                        extra={"event": "session.groups_dropped"},
                    )
                return header
        if "groups" in essential:
            logger.warning(
                "the groups claim is too large for a session cookie, and the access rules "
                "need it: filter it in Okta (a regex of the groups the rules name), or set "
                "session_store",
                extra={"event": "session.groups_too_large"},
            )
        # Okta's answer is unusable here; a page with a way back, not a 500 (R34).
        raise IdentityProviderError(
            "Your Okta profile is too large for this app to keep you signed in.",
            code="session_too_large",
            status=502,
        )
