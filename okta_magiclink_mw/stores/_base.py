"""What a session store does for the middleware, as plain operations.

The core never calls a store: it yields :class:`StoreCall` effects, and the adapter
performs each one with the store's sync methods (WSGI) or their ``a``-prefixed async
twins (ASGI), then sends the result back. Every id handed to a store is already
opaque (random session ids, hashed subjects and states), and every record is already
encrypted with a key the store never sees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import MagicLinkError


class StoreUnavailable(MagicLinkError):
    """The session store could not be reached or did not answer in time."""

    code = "store_unavailable"
    status = 503
    public_message = "Sign-in is unavailable right now. Please try again in a moment."


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One record as the store keeps it: the sealed blob and its plain timestamps."""

    blob: bytes
    created: float
    seen: float


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What :meth:`list_subject` tells about one session: no secret, nothing sealed."""

    session_id: str
    created: float
    seen: float


@dataclass(frozen=True, slots=True)
class StoreCall:
    """An effect: call ``operation`` of the store with ``args`` and send back the result."""

    operation: str
    args: tuple[Any, ...]


#: Called with a session id whenever any instance deletes that session.
OnInvalidate = Callable[[str], None]


@runtime_checkable
class RecordStore(Protocol):
    """Server-side session records, shared by every instance of the app.

    ``ttl`` is in seconds; a record disappears by itself when it runs out. ``subject``
    is an opaque per-person key: the store keeps, for each subject, the set of its live
    session ids (consistent with the records' TTLs) so one person's sessions can be
    listed and deleted together. Every method raises :class:`StoreUnavailable` when the
    store cannot answer; none blocks longer than the store's own timeout, except
    :meth:`wait_unlocked`, which waits as long as it is told (see there).

    Besides records, a store keeps three small things, each in a namespace of its own
    (a lock, a link set and a spent key may share a name without meeting):

    * one-time keys (:meth:`spend`);
    * lease locks (:meth:`lock`, :meth:`unlock`, :meth:`wait_unlocked`), for work that
      one instance should do while the others wait for its result (a token refresh);
    * link sets (:meth:`link`, :meth:`unlink`, :meth:`linked`): small indexes from one
      opaque name to others (an email to subjects, an Okta session to sessions), each
      member with a TTL of its own.
    """

    def create(self, session_id: str, subject: str, blob: bytes, now: float, ttl: float) -> None:
        """Store a new record (``created`` = ``seen`` = ``now``)."""

    def load(self, session_id: str) -> StoredSession | None:
        """The record, or None if it is gone (deleted or expired)."""

    def touch(self, session_id: str, subject: str, now: float, ttl: float) -> bool:
        """Move ``seen`` to ``now`` and the expiry to ``ttl`` from now; False if gone."""

    def delete(self, session_id: str, subject: str) -> None:
        """Delete the record and tell every listening instance (idempotent)."""

    def delete_subject(self, subject: str) -> int:
        """Delete every record of ``subject``, telling every instance; how many there were."""

    def list_subject(self, subject: str) -> list[SessionInfo]:
        """The live sessions of ``subject``, oldest first."""

    def update(self, session_id: str, subject: str, blob: bytes) -> bool:
        """Replace the sealed blob of a live record of ``subject``, atomically.

        ``created``, ``seen`` and the expiry stay as they are. False (and nothing
        changes) if the record is gone or belongs to another subject. Other instances
        are not told: their caches keep the blob they had until they read it again.
        """

    def spend(self, key: str, ttl: float) -> bool:
        """Mark a one-time ``key`` used for ``ttl`` seconds; False if it already was."""

    def lock(self, key: str, lease: float) -> str | None:
        """Take the lock ``key`` for ``lease`` seconds: its token, or None if it is held.

        The lease ends the lock by itself, so a holder that dies frees it; a holder
        that outlives its lease may find that someone else holds the lock by then.
        """

    def unlock(self, key: str, token: str) -> None:
        """Release the lock ``key`` if ``token`` (from :meth:`lock`) still holds it;
        otherwise (another holder, an expired lease, a wrong token) do nothing."""

    def wait_unlocked(self, key: str, timeout: float) -> bool:
        """Wait until no one holds the lock ``key``: True as soon as that is so (at
        once if it is free), False once ``timeout`` seconds have passed.

        It does not take the lock. ``timeout`` must be at least 0 (0: look once) and
        is capped at 60 s: a waiter holds a worker, and a holder not done by then is
        stuck. The wait ends within ``timeout`` plus one store call (for Redis at most
        its ``socket_timeout``).
        """

    def link(self, alias: str, member: str, ttl: float) -> None:
        """Add ``member`` to the link set ``alias``, to live ``ttl`` seconds from now
        (linking it again sets its expiry anew). The set goes with its last member."""

    def unlink(self, alias: str, member: str) -> None:
        """Remove ``member`` from the link set ``alias`` (idempotent)."""

    def linked(self, alias: str) -> list[str]:
        """The live members of the link set ``alias``, in no particular order."""

    def listen(self, on_invalidate: OnInvalidate) -> None:
        """Start delivering deletions (from every instance) to ``on_invalidate``, in a
        background thread. Idempotent."""

    @property
    def listening_since(self) -> float | None:
        """Since when deletions are being delivered (epoch seconds); None while the
        listener is down, which makes the middleware stop trusting its local cache."""

    def close(self) -> None:
        """Release connections and stop the listener."""


@runtime_checkable
class AsyncRecordStore(Protocol):
    """The async twins, for ASGI: ``acreate``, ``aload``, ... with the same meaning."""

    def acreate(
        self, session_id: str, subject: str, blob: bytes, now: float, ttl: float
    ) -> Awaitable[None]: ...

    def aload(self, session_id: str) -> Awaitable[StoredSession | None]: ...

    def atouch(self, session_id: str, subject: str, now: float, ttl: float) -> Awaitable[bool]: ...

    def adelete(self, session_id: str, subject: str) -> Awaitable[None]: ...

    def adelete_subject(self, subject: str) -> Awaitable[int]: ...

    def alist_subject(self, subject: str) -> Awaitable[list[SessionInfo]]: ...

    def aupdate(self, session_id: str, subject: str, blob: bytes) -> Awaitable[bool]: ...

    def aspend(self, key: str, ttl: float) -> Awaitable[bool]: ...

    def alock(self, key: str, lease: float) -> Awaitable[str | None]: ...

    def aunlock(self, key: str, token: str) -> Awaitable[None]: ...

    def await_unlocked(self, key: str, timeout: float) -> Awaitable[bool]:
        """Named ``a`` + ``wait_unlocked`` like every twin; it sleeps with asyncio."""

    def alink(self, alias: str, member: str, ttl: float) -> Awaitable[None]: ...

    def aunlink(self, alias: str, member: str) -> Awaitable[None]: ...

    def alinked(self, alias: str) -> Awaitable[list[str]]: ...

    def alisten(self, on_invalidate: OnInvalidate) -> Awaitable[None]:
        """Start the listener as a task of the running event loop. Idempotent."""

    def aclose(self) -> Awaitable[None]: ...
