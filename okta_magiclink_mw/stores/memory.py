"""A record store in this process's memory: for one process, tests and the demo.

Two middlewares sharing one :class:`MemoryRecordStore` behave like two instances
sharing Redis: a deletion by one is delivered, synchronously, to the listeners of
both. Nothing survives a restart, and nothing is shared between processes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ._base import OnInvalidate, SessionInfo, StoredSession
from ._waiting import Deadline

logger = logging.getLogger("okta_magiclink_mw")

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Lease:
    token: str
    expires: float


@dataclass(slots=True)
class _Record:
    subject: str
    blob: bytes
    created: float
    seen: float
    expires: float


class MemoryRecordStore:
    """A :class:`~okta_magiclink_mw.stores.RecordStore` (and its async twin) in memory.

    :param max_records: records kept at most; past it, the oldest record is evicted
        (and its deletion delivered, so no cache keeps trusting it). The same bound
        applies, each on its own, to spent one-time keys, to held locks and to link
        members (all link sets together); past it, expired ones go first, then the
        oldest.
    :param clock: seconds since the epoch; every expiry (records, keys, leases, links)
        is measured with it.

    :meth:`wait_unlocked` sleeps on a condition that :meth:`unlock` notifies, and
    wakes by itself when the lease it waits on runs out (on ``clock``: with a clock
    that a test moves by hand, a lease moved past its end is noticed at the latest
    when it would have ended in real time). :meth:`await_unlocked` looks every 10 ms.
    """

    def __init__(
        self, *, max_records: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self._max = max_records
        self._clock = clock
        # Insertion order is creation order: the front is the oldest record.
        self._records: OrderedDict[str, _Record] = OrderedDict()
        # subject -> its session ids; a dict keeps them in creation order.
        self._subjects: dict[str, dict[str, None]] = {}
        self._spent: OrderedDict[str, float] = OrderedDict()
        self._leases: OrderedDict[str, _Lease] = OrderedDict()
        # alias -> {member: expiry}; aliases in the order they were last linked to.
        self._links: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._link_count = 0
        self._listeners: list[OnInvalidate] = []
        self._since: float | None = None
        # Re-entrant: a listener may call back into the store; deliveries happen
        # outside the lock anyway, but a callback running inside one is harmless.
        self._lock = threading.RLock()
        # Notified whenever a lock is released; sync waiters sleep on it.
        self._unlocked = threading.Condition(self._lock)

    # -- records --------------------------------------------------------------------

    def create(self, session_id: str, subject: str, blob: bytes, now: float, ttl: float) -> None:
        _check(ttl)
        evicted: list[str] = []
        with self._lock:
            self._drop(session_id)
            if len(self._records) >= self._max:
                self._purge_expired()
            while len(self._records) >= self._max:
                evicted.append(self._drop(next(iter(self._records))))
            self._records[session_id] = _Record(subject, bytes(blob), now, now, self._clock() + ttl)
            self._subjects.setdefault(subject, {})[session_id] = None
        self._deliver(evicted)

    def load(self, session_id: str) -> StoredSession | None:
        with self._lock:
            record = self._live(session_id)
            if record is None:
                return None
            return StoredSession(record.blob, record.created, record.seen)

    def touch(self, session_id: str, subject: str, now: float, ttl: float) -> bool:
        with self._lock:
            record = self._live(session_id)
            # A subject that does not match is a caller's mistake: the session is
            # treated as gone rather than filed under someone else.
            if record is None or record.subject != subject:
                return False
            record.seen = now
            record.expires = self._clock() + ttl
            return True

    def update(self, session_id: str, subject: str, blob: bytes) -> bool:
        with self._lock:
            record = self._live(session_id)
            if record is None or record.subject != subject:
                return False
            record.blob = bytes(blob)
            return True

    def delete(self, session_id: str, subject: str) -> None:
        with self._lock:
            self._drop(session_id)
        # Delivered even when nothing was there: another instance may still cache it.
        self._deliver([session_id])

    def delete_subject(self, subject: str) -> int:
        with self._lock:
            ids = list(self._subjects.get(subject, ()))
            live = sum(self._live(session_id) is not None for session_id in ids)
            for session_id in ids:
                self._drop(session_id)
        self._deliver(ids)
        return live

    def list_subject(self, subject: str) -> list[SessionInfo]:
        with self._lock:
            records = [
                (session_id, record)
                for session_id in list(self._subjects.get(subject, ()))
                if (record := self._live(session_id)) is not None
            ]
        records.sort(key=lambda item: item[1].created)
        return [SessionInfo(sid, record.created, record.seen) for sid, record in records]

    def spend(self, key: str, ttl: float) -> bool:
        _check(ttl)
        now = self._clock()
        with self._lock:
            expires = self._spent.get(key)
            if expires is not None and expires > now:
                return False
            self._spent.pop(key, None)
            self._make_room(self._spent, lambda until: until <= now)
            self._spent[key] = now + ttl
            return True

    # -- locks ----------------------------------------------------------------------

    def lock(self, key: str, lease: float) -> str | None:
        _check(lease)
        now = self._clock()
        with self._lock:
            if self._held(key, now) is not None:
                return None
            # A live lease evicted to make room frees its waiters (they look again).
            if self._make_room(self._leases, lambda held: held.expires <= now):
                self._unlocked.notify_all()
            token = secrets.token_urlsafe(16)
            self._leases[key] = _Lease(token, now + lease)
            return token

    def unlock(self, key: str, token: str) -> None:
        with self._lock:
            held = self._leases.get(key)
            if held is not None and held.token == token:
                del self._leases[key]
                self._unlocked.notify_all()

    def wait_unlocked(self, key: str, timeout: float) -> bool:
        deadline = Deadline(timeout)
        with self._unlocked:
            while (held := self._held(key, self._clock())) is not None:
                left = deadline.remaining()
                if left <= 0:
                    return False
                # Until unlock() notifies, the deadline, or the end of the lease: no
                # one notifies when a lease runs out, so the waiter times it itself.
                self._unlocked.wait(max(0.0, min(left, held.expires - self._clock())))
            return True

    # -- link sets --------------------------------------------------------------------

    def link(self, alias: str, member: str, ttl: float) -> None:
        _check(ttl)
        now = self._clock()
        with self._lock:
            self._unlink(alias, member)
            if self._link_count >= self._max:
                for name in list(self._links):
                    self._live_members(name, now)
            while self._link_count >= self._max:
                oldest = next(iter(self._links))
                self._unlink(oldest, next(iter(self._links[oldest])))
            self._links.setdefault(alias, {})[member] = now + ttl
            self._links.move_to_end(alias)
            self._link_count += 1

    def unlink(self, alias: str, member: str) -> None:
        with self._lock:
            self._unlink(alias, member)

    def linked(self, alias: str) -> list[str]:
        with self._lock:
            return self._live_members(alias, self._clock())

    # -- listening ------------------------------------------------------------------

    def listen(self, on_invalidate: OnInvalidate) -> None:
        with self._lock:
            if on_invalidate not in self._listeners:
                self._listeners.append(on_invalidate)
            if self._since is None:
                self._since = self._clock()

    @property
    def listening_since(self) -> float | None:
        return self._since

    def close(self) -> None:
        with self._lock:
            self._listeners.clear()
            self._since = None

    # -- the async twins: nothing here does I/O, so they just call the sync ones -----

    async def acreate(
        self, session_id: str, subject: str, blob: bytes, now: float, ttl: float
    ) -> None:
        self.create(session_id, subject, blob, now, ttl)

    async def aload(self, session_id: str) -> StoredSession | None:
        return self.load(session_id)

    async def atouch(self, session_id: str, subject: str, now: float, ttl: float) -> bool:
        return self.touch(session_id, subject, now, ttl)

    async def adelete(self, session_id: str, subject: str) -> None:
        self.delete(session_id, subject)

    async def adelete_subject(self, subject: str) -> int:
        return self.delete_subject(subject)

    async def alist_subject(self, subject: str) -> list[SessionInfo]:
        return self.list_subject(subject)

    async def aupdate(self, session_id: str, subject: str, blob: bytes) -> bool:
        return self.update(session_id, subject, blob)

    async def aspend(self, key: str, ttl: float) -> bool:
        return self.spend(key, ttl)

    async def alock(self, key: str, lease: float) -> str | None:
        return self.lock(key, lease)

    async def aunlock(self, key: str, token: str) -> None:
        self.unlock(key, token)

    async def await_unlocked(self, key: str, timeout: float) -> bool:
        # The one twin that cannot call its sync self: that would block the loop.
        deadline = Deadline(timeout)
        while self._locked(key):
            pause = deadline.pause()
            if pause is None:
                return False
            await asyncio.sleep(pause)
        return True

    async def alink(self, alias: str, member: str, ttl: float) -> None:
        self.link(alias, member, ttl)

    async def aunlink(self, alias: str, member: str) -> None:
        self.unlink(alias, member)

    async def alinked(self, alias: str) -> list[str]:
        return self.linked(alias)

    async def alisten(self, on_invalidate: OnInvalidate) -> None:
        self.listen(on_invalidate)

    async def aclose(self) -> None:
        self.close()

    # -- internals (called with the lock held) ----------------------------------------

    def _live(self, session_id: str) -> _Record | None:
        record = self._records.get(session_id)
        if record is not None and record.expires <= self._clock():
            self._drop(session_id)
            return None
        return record

    def _drop(self, session_id: str) -> str:
        record = self._records.pop(session_id, None)
        if record is not None:
            ids = self._subjects[record.subject]
            del ids[session_id]
            if not ids:
                del self._subjects[record.subject]
        return session_id

    def _held(self, key: str, now: float) -> _Lease | None:
        held = self._leases.get(key)
        if held is not None and held.expires <= now:
            del self._leases[key]
            return None
        return held

    def _locked(self, key: str) -> bool:
        with self._lock:
            return self._held(key, self._clock()) is not None

    def _make_room(self, entries: OrderedDict[str, V], expired: Callable[[V], bool]) -> bool:
        """Make room for one more entry: expired ones first, then the oldest. True if
        a live one had to go."""
        if len(entries) >= self._max:
            for old in [key for key, value in entries.items() if expired(value)]:
                del entries[old]
        evicted = len(entries) >= self._max
        while len(entries) >= self._max:
            entries.popitem(last=False)
        return evicted

    def _live_members(self, alias: str, now: float) -> list[str]:
        members = self._links.get(alias, {})
        for member in [m for m, expires in members.items() if expires <= now]:
            self._unlink(alias, member)
        return list(members)

    def _unlink(self, alias: str, member: str) -> None:
        members = self._links.get(alias)
        if members is not None and members.pop(member, None) is not None:
            self._link_count -= 1
            if not members:
                del self._links[alias]

    def _purge_expired(self) -> None:
        now = self._clock()
        for session_id in [sid for sid, r in self._records.items() if r.expires <= now]:
            self._drop(session_id)

    def _deliver(self, session_ids: list[str]) -> None:
        listeners = list(self._listeners)
        for session_id in session_ids:
            for on_invalidate in listeners:
                try:
                    on_invalidate(session_id)
                except Exception as exc:
                    # One failing listener must not keep the others uninformed; the
                    # id is not logged (it is half of a session cookie).
                    logger.error("session invalidation callback failed: %s", type(exc).__name__)


def _check(ttl: float) -> None:
    if not ttl > 0:
        raise ValueError("ttl must be positive")
