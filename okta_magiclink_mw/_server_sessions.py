"""Sessions as server-side records in a shared store (Redis, Valkey), for every instance.

The cookie carries only a reference: the session id and a per-session secret, signed
with ``secret_keys`` (bound to this deployment like every cookie). The record in the
store holds the claims and the ID token, sealed (AES-256-GCM) under a key derived
from that secret, so a dump of the store alone reveals no token and forges nothing
(oauth2-proxy's ticket design). The store keeps created and last-seen times in plain
form for expiry and for :meth:`list_subject`.

The hot path stays local: verified sessions are cached in this process, and dropped
when any instance deletes them (the store's invalidation messages). While those
messages cannot arrive (the store is down), the cache is trusted for ``grace``
seconds at most; after a reconnection, everything cached before it is checked again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ._cookies import CookieCodec, delete_cookie_header, set_cookie_header
from ._effects import Flow
from ._sealing import Sealer
from ._sessions import PROTOCOL_CLAIMS, Session, StoredTokens
from .stores._base import RecordStore, SessionInfo, StoreCall, StoredSession
from .user import OktaUser

_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class _Cached:
    session: Session
    epoch: int


class TokenHub(Protocol):
    """What hands out a session's access token (the core, driven by an adapter)."""

    def access_token(self, handle: SessionHandle, min_valid: float) -> str: ...

    def aaccess_token(self, handle: SessionHandle, min_valid: float) -> Awaitable[str]: ...


class SessionHandle:
    """How an :class:`~okta_magiclink_mw.OktaUser` finds its session again: the id, and
    the key its record is sealed with (the same the browser's cookie carries)."""

    __slots__ = ("_hub", "secret", "session_id")

    def __init__(self, session_id: str, secret: bytes, hub: TokenHub) -> None:
        self.session_id = session_id
        self.secret = secret
        self._hub = hub

    def access_token(self, min_valid: float) -> str:
        return self._hub.access_token(self, min_valid)

    def aaccess_token(self, min_valid: float) -> Awaitable[str]:
        return self._hub.aaccess_token(self, min_valid)

    def __repr__(self) -> str:
        return "SessionHandle(...)"


class ServerSessions:
    """Mints, reads and revokes sessions kept in a :class:`RecordStore`.

    The same timeouts as cookie sessions hold, checked on every request: the absolute
    ``max_age`` from creation, and ``idle_timeout`` from the last time any instance saw
    the session (moved forward in the store at most every twelfth of the idle window).
    """

    def __init__(
        self,
        codec: CookieCodec,
        store: RecordStore,
        *,
        deployment: str,
        max_age: float,
        idle_timeout: float,
        leeway: float,
        secure: bool,
        grace: float,
        recheck_every: float | None = None,
        indexed: bool = False,
        index_sealer: Sealer | None = None,
    ) -> None:
        self._codec = codec
        #: Keep the email and Okta-session indexes Okta's sign-outs need (global logout).
        self._indexed = indexed
        # Seals the refresh tokens kept for Universal Logout under the deployment's own
        # keys: the server must read them back without any cookie (a store dump alone
        # still reveals none).
        self._index_sealer = index_sealer if indexed else None
        self._recheck = recheck_every
        self.store = store
        self._deployment = deployment
        self._max_age = max_age
        self._idle = idle_timeout
        self._leeway = leeway
        self._secure = secure
        self._grace = grace
        self._refresh_after = min(idle_timeout / 12, 300.0)
        self._cache: dict[str, _Cached] = {}
        self._value_of: dict[str, str] = {}  # session id -> cookie value, for invalidation
        self._lock = threading.Lock()
        # Trust in the cache: an epoch that moves on each reconnection of the listener.
        self._epoch = 0
        self._listening_since: float | None = None
        self._down_since: float | None = None
        self.clear_header = delete_cookie_header(codec.name, secure=secure)
        #: Set by the core: what the users' ``access_token()`` calls go to.
        self.hub: TokenHub | None = None

    @property
    def cookie_name(self) -> str:
        return self._codec.name

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    # -- the hot path -------------------------------------------------------------------

    def cached(self, values: Sequence[str], now: float) -> tuple[Session | None, None]:
        """The live session of a lone cookie value, if this process already verified it
        and may still trust that. ``(None, None)`` sends the request the slow way."""
        if len(values) != 1:
            return None, None  # duplicates follow the rule in read_flow()
        entry = self._cache.get(values[0])
        if entry is None or entry.epoch != self._trusted_epoch(now):
            return None, None
        session = entry.session
        if not self._alive(session, now) or now - session.last_seen >= self._refresh_after:
            return None, None
        if self._recheck is not None and (
            session.tokens is None or now - session.tokens.checked_at >= self._recheck
        ):
            return None, None  # due its re-check with Okta: the slow path runs it
        return session, None

    # -- flows (they yield StoreCall effects) ----------------------------------------------

    def read_flow(
        self, values: Sequence[str], now: float, *, with_id_token: bool = False
    ) -> Flow[tuple[Session | None, str | None]]:
        """The live session among the cookie values, with the rule for duplicates of
        :meth:`SessionManager.read <okta_magiclink_mw._sessions.SessionManager.read>`,
        and a ``Set-Cookie`` when the reference needs re-signing with the newest key.
        ``with_id_token`` asks the store again, whatever the cache says (for sign-out)."""
        found: tuple[Session, str, str | None] | None = None
        for value in values:
            loaded = yield from self._load(value, now, fresh=with_id_token)
            if loaded is None:
                continue
            if found is None:
                found = (loaded[0], value, loaded[1])
            elif loaded[0].session_id != found[0].session_id:
                return None, None
        if found is None:
            return None, None
        session, value, reissued = found
        if now - session.last_seen >= self._refresh_after:
            ttl = self._ttl(session, now)
            args = (session.session_id, self._subject(session.user.identity), now, ttl)
            if not (yield StoreCall("touch", args)):
                self._forget(session.session_id)
                return None, None
            session = replace(session, last_seen=now)
            self._remember(value, session)
        return session, reissued

    def mint_flow(
        self,
        claims: Mapping[str, Any],
        id_token: str | None,
        now: float,
        tokens: StoredTokens | None = None,
    ) -> Flow[tuple[Session, str]]:
        """A new record in the store and the ``Set-Cookie`` of its reference."""
        kept = {k: v for k, v in claims.items() if k not in PROTOCOL_CLAIMS}
        session_id = secrets.token_urlsafe(16)
        secret = secrets.token_bytes(32)
        user = self._user(kept, session_id, secret)
        blob = self._seal(session_id, secret, kept, id_token, tokens)
        ttl = min(self._idle, self._max_age)
        subject = self._subject(user.identity)
        yield StoreCall("create", (session_id, subject, blob, now, ttl))
        if self._indexed:
            # For revoke_email and revoke_okta_session. An index entry may outlive its
            # session (then it finds nothing), never the other way round.
            email, okta_sid = claims.get("email"), claims.get("sid")
            if isinstance(email, str) and email:
                yield StoreCall("link", (self._alias("email", email), subject, self._max_age))
            if isinstance(okta_sid, str) and okta_sid:
                member = f"{session_id} {subject}"
                yield StoreCall("link", (self._alias("sid", okta_sid), member, self._max_age))
            yield from self._index_refresh_token(subject, None, tokens)
        session = Session(session_id, now, now, user.claims, None, user, id_token, tokens)
        value = self._codec.dumps({"sid": session_id, "k": _b64(secret), "iat": int(now)})
        self._remember(value, session)
        return session, self._header(value)

    @staticmethod
    def handle_of(session: Session) -> SessionHandle | None:
        """The handle a session's user carries (None before the core set a hub)."""
        handle = session.user._tokens
        return handle if isinstance(handle, SessionHandle) else None

    def current(self, handle: SessionHandle, now: float) -> Session | None:
        """The session of ``handle`` from this process's cache, if it may be trusted."""
        value = self._value_of.get(handle.session_id)
        entry = self._cache.get(value) if value is not None else None
        if entry is None or entry.epoch != self._trusted_epoch(now):
            return None
        return entry.session if self._alive(entry.session, now) else None

    def reload(self, handle: SessionHandle, now: float) -> Flow[Session | None]:
        """The session of ``handle`` as the store has it now (after another instance may
        have refreshed its tokens); None when it is gone or no longer alive."""
        stored = yield StoreCall("load", (handle.session_id,))
        if stored is None:
            self._forget(handle.session_id)
            return None
        session = self._opened(handle.session_id, handle.secret, stored)
        if session is None or not self._alive(session, now):
            return None
        value = self._value_of.get(handle.session_id)
        if value is not None:
            self._remember(value, session)
        return session

    def store_tokens(
        self,
        session: Session,
        handle: SessionHandle,
        tokens: StoredTokens,
        *,
        claims: Mapping[str, Any] | None = None,
        id_token: str | None = None,
    ) -> Flow[Session | None]:
        """Replace the record's tokens in one write (a rotated refresh token is never
        half-stored), and with ``claims`` (a refreshed, validated ID token's) its claims
        and ID token too; None when the record is gone meanwhile."""
        if claims is None:
            kept, raw = dict(session.claims), session.id_token
        else:
            kept = {k: v for k, v in claims.items() if k not in PROTOCOL_CLAIMS}
            raw = id_token
        blob = self._seal(session.session_id, handle.secret, kept, raw, tokens)
        subject = self._subject(session.user.identity)
        if not (yield StoreCall("update", (session.session_id, subject, blob))):
            self._forget(session.session_id)
            return None
        yield from self._index_refresh_token(subject, session.tokens, tokens)
        if claims is None:
            updated = replace(session, tokens=tokens)
        else:
            email = kept.get("email")
            if self._indexed and isinstance(email, str) and email != session.claims.get("email"):
                yield StoreCall("link", (self._alias("email", email), subject, self._max_age))
            user = self._user(kept, session.session_id, handle.secret)
            updated = replace(session, tokens=tokens, claims=user.claims, user=user, id_token=raw)
        value = self._value_of.get(session.session_id)
        if value is not None:
            self._remember(value, updated)
        return updated

    def revoke_flow(self, session: Session) -> Flow[None]:
        """Delete the record; every instance drops it from its cache."""
        self._forget(session.session_id)
        yield StoreCall("delete", (session.session_id, self._subject(session.user.identity)))

    def revoke_subject(self, sub: str) -> Flow[int]:
        """Delete every session of one person (``sub``), on every instance."""
        count: int = yield StoreCall("delete_subject", (self._subject(sub),))
        return count

    def revoke_email(self, email: str) -> Flow[int]:
        """Delete every session of whoever signed in with ``email`` (any case), on every
        instance (Universal Logout by email; needs ``indexed``)."""
        subjects: list[str] = yield StoreCall("linked", (self._alias("email", email),))
        count = 0
        for subject in subjects:
            ended: int = yield StoreCall("delete_subject", (subject,))
            count += ended
        return count

    def revoke_okta_session(self, okta_sid: str) -> Flow[int]:
        """Delete the sessions signed in through one Okta session (the ID token's ``sid``),
        on every instance (Back-Channel Logout; needs ``indexed``)."""
        members: list[str] = yield StoreCall("linked", (self._alias("sid", okta_sid),))
        for member in members:
            session_id, _, subject = member.partition(" ")
            self._forget(session_id)
            yield StoreCall("delete", (session_id, subject))
        return len(members)

    def refresh_tokens_of(
        self, *, sub: str | None = None, email: str | None = None, limit: int = 100
    ) -> Flow[list[str]]:
        """The refresh tokens kept for one person (by Okta id or email), for revoking at
        Okta on Universal Logout; at most ``limit``. Empty unless ``indexed``."""
        if self._index_sealer is None:
            return []
        if sub is not None:
            subjects = [self._subject(sub)]
        else:
            subjects = yield StoreCall("linked", (self._alias("email", email or ""),))
        found: list[str] = []
        for subject in subjects:
            members: list[str] = yield StoreCall("linked", (self._alias("rt", subject),))
            for member in members:
                opened = self._index_sealer.open(member, subject.encode("ascii"))
                if opened is not None and len(found) < limit:
                    found.append(opened.decode("utf-8", "replace"))
        return found

    def _index_refresh_token(
        self, subject: str, old: StoredTokens | None, new: StoredTokens | None
    ) -> Flow[None]:
        """Keep a new refresh token findable by its person (Universal Logout). A rotated
        one stays listed until it expires: revoking a dead token again is harmless."""
        token = new.refresh_token if new is not None else None
        if self._index_sealer is None or token is None:
            return
        if old is not None and old.refresh_token == token:
            return
        member = self._index_sealer.seal(token.encode("utf-8"), subject.encode("ascii"))
        yield StoreCall("link", (self._alias("rt", subject), member, self._max_age))

    def list_subject(self, sub: str) -> Flow[list[SessionInfo]]:
        """Created and last-seen times of every live session of one person."""
        found: list[SessionInfo] = yield StoreCall("list_subject", (self._subject(sub),))
        return found

    def id_token(self, session: Session) -> str | None:
        """The raw ID token of a session read with ``with_id_token=True``."""
        return session.id_token

    def on_invalidate(self, session_id: str) -> None:
        """A deletion on any instance: forget the session here too."""
        self._forget(session_id)

    # -- helpers --------------------------------------------------------------------------

    def _load(
        self, value: str, now: float, *, fresh: bool
    ) -> Flow[tuple[Session, str | None] | None]:
        """The live session of one cookie value, and its ``Set-Cookie`` if the reference
        was signed with an old key; from the cache when it may be trusted."""
        entry = self._cache.get(value)
        if entry is not None and not fresh and entry.epoch == self._trusted_epoch(now):
            return (entry.session, None) if self._alive(entry.session, now) else None
        loaded = self._codec.loads(value, max_age=int(self._max_age + self._leeway))
        reference = _reference(loaded[0]) if loaded is not None else None
        if loaded is None or reference is None:
            return None
        session_id, secret = reference
        stored = yield StoreCall("load", (session_id,))
        if stored is None:
            self._forget(session_id)
            return None
        session = self._opened(session_id, secret, stored)
        if session is None:
            return None
        self._remember(value, session)
        if not self._alive(session, now):
            return None
        return session, self._header(self._codec.dumps(loaded[0])) if loaded[1] else None

    def _opened(self, session_id: str, secret: bytes, stored: StoredSession) -> Session | None:
        opened = self._sealer(secret).open(
            stored.blob.decode("ascii", "replace"), session_id.encode("ascii")
        )
        record = _record(opened)
        if record is None:
            return None
        claims, id_token, tokens = record
        user = self._user(claims, session_id, secret)
        return Session(
            session_id, stored.created, stored.seen, user.claims, None, user, id_token, tokens
        )

    def _user(self, claims: Mapping[str, Any], session_id: str, secret: bytes) -> OktaUser:
        hub = self.hub
        return OktaUser(claims, tokens=SessionHandle(session_id, secret, hub) if hub else None)

    def _seal(
        self,
        session_id: str,
        secret: bytes,
        claims: Mapping[str, Any],
        id_token: str | None,
        tokens: StoredTokens | None,
    ) -> bytes:
        record: dict[str, Any] = {"u": claims, "idt": id_token}
        if tokens is not None:
            record["t"] = [
                tokens.access_token,
                tokens.expires_at,
                tokens.scope,
                tokens.refresh_token,
                tokens.checked_at,
            ]
        plain = json.dumps(record, separators=(",", ":")).encode()
        return self._sealer(secret).seal(plain, session_id.encode("ascii")).encode("ascii")

    def _alive(self, session: Session, now: float) -> bool:
        return not (
            session.issued_at > now + self._leeway
            or now - session.issued_at > self._max_age
            or now - session.last_seen > self._idle
        )

    def _trusted_epoch(self, now: float) -> int | None:
        """The epoch cached entries must carry to be trusted now; None trusts none."""
        since = self.store.listening_since
        if since is None:
            if self._down_since is None:
                self._down_since = now
            return self._epoch if now - self._down_since <= self._grace else None
        if since != self._listening_since:
            # (Re)connected: a deletion may have been missed before, so check again.
            self._listening_since, self._down_since = since, None
            self._epoch += 1
        return self._epoch

    def _remember(self, value: str, session: Session) -> None:
        entry = _Cached(session, self._epoch)
        with self._lock:
            while len(self._cache) >= _CACHE_SIZE:
                old_value = next(iter(self._cache))
                old = self._cache.pop(old_value)
                self._value_of.pop(old.session.session_id, None)
            self._cache[value] = entry
            self._value_of[session.session_id] = value

    def _forget(self, session_id: str) -> None:
        with self._lock:
            value = self._value_of.pop(session_id, None)
            if value is not None:
                self._cache.pop(value, None)

    def _ttl(self, session: Session, now: float) -> float:
        return max(min(self._idle, self._max_age - (now - session.issued_at)), 1.0)

    def _subject(self, sub: str) -> str:
        digest = hashlib.sha256(f"{self._deployment}\0{sub}".encode()).hexdigest()
        return digest[:32]

    def _alias(self, kind: str, value: str) -> str:
        """The opaque name of an index set: no email or Okta id is readable in the store."""
        folded = value.casefold() if kind == "email" else value
        digest = hashlib.sha256(f"{self._deployment}\0{kind}\0{folded}".encode()).hexdigest()
        return f"{kind}:{digest[:32]}"

    def _sealer(self, secret: bytes) -> Sealer:
        return Sealer([secret], purpose=f"record:{self._deployment}")

    def _header(self, value: str) -> str:
        return set_cookie_header(
            self._codec.name, value, max_age=int(self._max_age), secure=self._secure
        )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _reference(payload: object) -> tuple[str, bytes] | None:
    if not isinstance(payload, dict):
        return None
    session_id, secret = payload.get("sid"), payload.get("k")
    if not (isinstance(session_id, str) and session_id.isascii() and isinstance(secret, str)):
        return None
    try:
        raw = _unb64(secret)
    except (binascii.Error, ValueError):
        return None
    return (session_id, raw) if len(raw) == 32 else None


def _record(
    opened: bytes | None,
) -> tuple[dict[str, Any], str | None, StoredTokens | None] | None:
    if opened is None:
        return None
    record = json.loads(opened)  # sealed by us: well-formed JSON
    claims, id_token = record.get("u"), record.get("idt")
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        return None
    kept = record.get("t")  # a record written before tokens were kept has none
    tokens = StoredTokens(*kept) if isinstance(kept, list) and len(kept) == 5 else None
    return claims, id_token if isinstance(id_token, str) else None, tokens
