"""Session records in Redis (or Valkey), shared by every instance of the app.

Data model, all under ``prefix`` (default ``omw``), every key with a TTL:

``{prefix}:s:{session_id}``
    HASH: ``b`` the sealed blob (bytes, stored as given), ``c`` created and ``t`` seen
    (epoch seconds), ``u`` the subject. PEXPIRE = the session's ttl, renewed by touch.
``{prefix}:u:{subject}``
    ZSET of the subject's session ids, scored by each record's expiry (epoch ms, Redis
    server time). Every write trims expired members and sets the key's own expiry to
    its latest member's, so the index never outlives its records. A subject keeps at
    most ``max_records_per_subject`` sessions; the ones closest to expiring go first.
``{prefix}:k:{key}``
    a spent one-time key: ``SET NX PX``.
``{prefix}:l:{key}``
    a lease lock: ``SET NX PX`` of a random token; released by compare-and-delete.
``{prefix}:a:{alias}``
    ZSET of a link set's members scored by each one's expiry (epoch ms, server time),
    trimmed and expiring with its latest member like a subject's index.
``{prefix}:invalidate``
    the PUBLISH channel: every deleted session id, from every instance.

Every operation is one Lua script call (EVALSHA, atomic); ``wait_unlocked`` makes
one such call every 10 ms until the lock is free or its time is up. Scripts build
record keys from the prefix, so this store needs a single Redis (standalone or behind
Sentinel), not Redis Cluster.

The listener's contract: while it is subscribed, every deletion reaches
``on_invalidate`` (within milliseconds). When the connection is lost (noticed within
about a second: the listener PINGs every quarter second) :attr:`listening_since`
becomes None, and deletions published meanwhile are lost for good; once it is
subscribed again, :attr:`listening_since` is the time that happened. So a cache
may trust an entry only while :attr:`listening_since` is set and only if the entry
was verified after it.

Every Redis failure (refused, timed out, loading, ...) raises :class:`StoreUnavailable`,
with the original as ``__cause__``. Only a broken connection is retried, once and at
once, so a down Redis fails within ``socket_timeout`` / ``connect_timeout``. As with
any timeout, a call that timed out against a hung Redis may still take effect when
that Redis wakes up.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript, Script
from redis.exceptions import RedisError
from redis.retry import Retry

from ..errors import ConfigurationError
from ._base import OnInvalidate, SessionInfo, StoredSession, StoreUnavailable
from ._listening import DEAD_AFTER, POLL, Backoff, Pump, Stalled
from ._redis_ops import LUA, Op, Plans
from ._waiting import Deadline

T = TypeVar("T")

_SCHEMES = ("redis", "rediss", "unix")
_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _check_client(client: redis.Redis | AsyncRedis) -> None:
    if client.get_connection_kwargs().get("decode_responses"):
        raise ConfigurationError("the Redis client must not decode responses (blobs are bytes)")


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreUnavailable() from exc


class RedisSessionStore:
    """A :class:`~okta_magiclink_mw.stores.RecordStore` (and its async twin) in Redis.

    Give either a ``url`` (``redis://``, ``rediss://`` for TLS, ``unix:///path.sock``,
    or ``redis+sentinel://host:port[,host:port]/service_name[/db]``) or a ``client``
    built by the app: a ``redis.Redis`` serves the sync methods (WSGI), a
    ``redis.asyncio.Redis`` the async ones (ASGI). With a ``client``, its timeouts
    and retries are the app's; it must not decode responses.

    :param prefix: the first segment of every key and of the channel; letters, digits,
        ``_.-`` only, so two prefixes can never share a key.
    :param socket_timeout: seconds a command may take before the store is unavailable.
    :param connect_timeout: seconds a connection may take.
    :param max_records_per_subject: sessions one subject keeps at most.

    With a ``url``, the async client is made inside the running event loop on first
    use, and made again if a later call comes from another loop. :meth:`close` stops
    the listener thread; :meth:`aclose` (from the loop) also stops the listener task.

    .. code-block:: python

        store = RedisSessionStore(url="rediss://sessions.internal:6380/0")
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | redis.asyncio.Redis | None = None,
        prefix: str = "omw",
        socket_timeout: float = 0.5,
        connect_timeout: float = 0.5,
        max_records_per_subject: int = 100,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError("RedisSessionStore needs exactly one of url= or client=")
        if not _PREFIX.fullmatch(prefix):
            raise ConfigurationError("prefix must be 1-64 letters, digits, '_', '.' or '-'")
        if not (socket_timeout > 0 and connect_timeout > 0):
            raise ConfigurationError("socket_timeout and connect_timeout must be positive")
        if max_records_per_subject < 1:
            raise ConfigurationError("max_records_per_subject must be at least 1")
        self._plan = Plans(prefix, max_records_per_subject)
        self._channel = f"{prefix}:invalidate"
        self._timeouts = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
        }
        self._url = url
        self._sync: tuple[redis.Redis, Script] | None = None
        # The async client is bound to the loop it was made in (None: the app's own).
        self._async: tuple[asyncio.AbstractEventLoop | None, AsyncRedis, AsyncScript] | None
        self._async = None
        if isinstance(client, AsyncRedis):
            _check_client(client)
            self._async = (None, client, client.register_script(LUA))
        elif client is not None:
            _check_client(client)
            self._sync = (client, client.register_script(LUA))
        else:
            assert url is not None
            # Built now (no I/O) so a bad url fails at construction, not per request.
            sync = self._from_url(url, asynchronous=False)
            self._sync = (sync, sync.register_script(LUA))
        self._since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    # -- sync (WSGI) -------------------------------------------------------------------

    def create(self, session_id: str, subject: str, blob: bytes, now: float, ttl: float) -> None:
        self._run(self._plan.create(session_id, subject, blob, now, ttl))

    def load(self, session_id: str) -> StoredSession | None:
        return self._run(self._plan.load(session_id))

    def touch(self, session_id: str, subject: str, now: float, ttl: float) -> bool:
        return self._run(self._plan.touch(session_id, subject, now, ttl))

    def delete(self, session_id: str, subject: str) -> None:
        self._run(self._plan.delete(session_id, subject))

    def delete_subject(self, subject: str) -> int:
        return self._run(self._plan.delete_subject(subject))

    def list_subject(self, subject: str) -> list[SessionInfo]:
        return self._run(self._plan.list_subject(subject))

    def update(self, session_id: str, subject: str, blob: bytes) -> bool:
        return self._run(self._plan.update(session_id, subject, blob))

    def spend(self, key: str, ttl: float) -> bool:
        return self._run(self._plan.spend(key, ttl))

    def lock(self, key: str, lease: float) -> str | None:
        return self._run(self._plan.lock(key, lease))

    def unlock(self, key: str, token: str) -> None:
        self._run(self._plan.unlock(key, token))

    def wait_unlocked(self, key: str, timeout: float) -> bool:
        deadline, look = Deadline(timeout), self._plan.locked(key)
        while self._run(look):
            pause = deadline.pause()
            if pause is None:
                return False
            time.sleep(pause)
        return True

    def link(self, alias: str, member: str, ttl: float) -> None:
        self._run(self._plan.link(alias, member, ttl))

    def unlink(self, alias: str, member: str) -> None:
        self._run(self._plan.unlink(alias, member))

    def linked(self, alias: str) -> list[str]:
        return self._run(self._plan.linked(alias))

    def _run(self, op: Op[T]) -> T:
        script = self._sync_pair()[1]
        with _unavailable():
            return op.result(script(op.keys, op.args))

    # -- async (ASGI) ------------------------------------------------------------------

    async def acreate(
        self, session_id: str, subject: str, blob: bytes, now: float, ttl: float
    ) -> None:
        await self._arun(self._plan.create(session_id, subject, blob, now, ttl))

    async def aload(self, session_id: str) -> StoredSession | None:
        return await self._arun(self._plan.load(session_id))

    async def atouch(self, session_id: str, subject: str, now: float, ttl: float) -> bool:
        return await self._arun(self._plan.touch(session_id, subject, now, ttl))

    async def adelete(self, session_id: str, subject: str) -> None:
        await self._arun(self._plan.delete(session_id, subject))

    async def adelete_subject(self, subject: str) -> int:
        return await self._arun(self._plan.delete_subject(subject))

    async def alist_subject(self, subject: str) -> list[SessionInfo]:
        return await self._arun(self._plan.list_subject(subject))

    async def aupdate(self, session_id: str, subject: str, blob: bytes) -> bool:
        return await self._arun(self._plan.update(session_id, subject, blob))

    async def aspend(self, key: str, ttl: float) -> bool:
        return await self._arun(self._plan.spend(key, ttl))

    async def alock(self, key: str, lease: float) -> str | None:
        return await self._arun(self._plan.lock(key, lease))

    async def aunlock(self, key: str, token: str) -> None:
        await self._arun(self._plan.unlock(key, token))

    async def await_unlocked(self, key: str, timeout: float) -> bool:
        deadline, look = Deadline(timeout), self._plan.locked(key)
        while await self._arun(look):
            pause = deadline.pause()
            if pause is None:
                return False
            await asyncio.sleep(pause)
        return True

    async def alink(self, alias: str, member: str, ttl: float) -> None:
        await self._arun(self._plan.link(alias, member, ttl))

    async def aunlink(self, alias: str, member: str) -> None:
        await self._arun(self._plan.unlink(alias, member))

    async def alinked(self, alias: str) -> list[str]:
        return await self._arun(self._plan.linked(alias))

    async def _arun(self, op: Op[T]) -> T:
        script = self._async_triple()[2]
        with _unavailable():
            return op.result(await script(op.keys, op.args))

    # -- clients -----------------------------------------------------------------------

    def _sync_pair(self) -> tuple[redis.Redis, Script]:
        if self._sync is None:
            raise ConfigurationError(
                "this store was given a redis.asyncio client: use it from ASGI, "
                "or give it a redis.Redis (or a url) for WSGI"
            )
        return self._sync

    def _async_triple(self) -> tuple[asyncio.AbstractEventLoop | None, AsyncRedis, AsyncScript]:
        if self._url is None:
            if self._async is None:
                raise ConfigurationError(
                    "this store was given a sync redis.Redis client: use it from WSGI, "
                    "or give it a redis.asyncio.Redis (or a url) for ASGI"
                )
            return self._async
        # Made inside the running loop (no I/O: connections open on first use); a
        # new loop gets a new client, since connections belong to their loop.
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            client = self._from_url(self._url, asynchronous=True)
            self._async = (loop, client, client.register_script(LUA))
        return self._async

    def _from_url(self, url: str, *, asynchronous: bool) -> Any:
        scheme = url.partition("://")[0].lower()
        # One immediate retry on a broken connection only: a pooled connection may be
        # stale after Redis restarted, and a refused connection fails again at once.
        # Timeouts are not retried, so a hung Redis costs one socket_timeout.
        retry = (AsyncRetry if asynchronous else Retry)(
            NoBackoff(), 1, supported_errors=(redis.ConnectionError,)
        )
        options: dict[str, Any] = {**self._timeouts, "retry": retry}
        if scheme == "redis+sentinel":
            return _sentinel_master(url, options, asynchronous=asynchronous)
        if scheme not in _SCHEMES:
            raise ConfigurationError(
                "the Redis url must start with redis://, rediss://, unix:// or redis+sentinel://"
            )
        try:
            if asynchronous:
                return AsyncRedis.from_url(url, **options)
            return redis.Redis.from_url(url, **options)
        except ValueError as exc:
            # redis-py's message may repeat the url, password included: not reflected.
            raise ConfigurationError("the Redis url is malformed") from exc

    # -- the listener ------------------------------------------------------------------

    def listen(self, on_invalidate: OnInvalidate) -> None:
        """Deliver deletions to ``on_invalidate`` from a daemon thread. Idempotent."""
        if self._thread is not None and self._thread.is_alive():
            return
        client = self._sync_pair()[0]
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._listen_forever,
            args=(client, on_invalidate),
            name="okta-magiclink-mw-invalidations",
            daemon=True,
        )
        self._thread.start()

    async def alisten(self, on_invalidate: OnInvalidate) -> None:
        """Deliver deletions to ``on_invalidate`` from a task of the running loop."""
        if self._task is not None and not self._task.done():
            return
        client = self._async_triple()[1]
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(
            self._alisten_forever(client, on_invalidate), name="okta-magiclink-mw-invalidations"
        )

    @property
    def listening_since(self) -> float | None:
        """When the listener last (re)subscribed, in epoch seconds; None while it is down."""
        return self._since

    def _subscribed(self) -> None:
        self._since = time.time()

    def _listen_forever(self, client: redis.Redis, on_invalidate: OnInvalidate) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            pubsub = client.pubsub()  # type: ignore[no-untyped-call]
            pump = Pump(on_invalidate, self._subscribed)
            try:
                pubsub.subscribe(self._channel)
                while not self._stop.is_set():
                    if pump.feed(pubsub.get_message(timeout=POLL)):
                        pubsub.ping()
            except (RedisError, OSError, Stalled):
                pass
            finally:
                self._since = None
                with contextlib.suppress(RedisError, OSError):
                    pubsub.close()
            self._stop.wait(backoff.next(pump.subscribed))

    async def _alisten_forever(self, client: AsyncRedis, on_invalidate: OnInvalidate) -> None:
        # Stopped by a flag, not by cancelling: redis-py may turn a cancellation in
        # the middle of a read into a connection error, which would be retried here.
        wake = self._wake = asyncio.Event()
        backoff = Backoff()
        while not self._stop.is_set():
            pubsub = client.pubsub()
            pump = Pump(on_invalidate, self._subscribed)
            try:
                await pubsub.subscribe(self._channel)
                while not self._stop.is_set():
                    message = await pubsub.get_message(timeout=POLL)
                    if pump.feed(message):
                        await pubsub.ping()
            except (RedisError, OSError, Stalled):
                pass
            finally:
                self._since = None
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), backoff.next(pump.subscribed))

    # -- closing -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the listener thread and, if the store made it, close the sync client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * DEAD_AFTER)
            self._thread = None
        if self._url is not None and self._sync is not None:
            self._sync[0].close()

    async def aclose(self) -> None:
        """Stop the listener task and close the clients the store made."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None and self._wake is not None:
            # It notices within POLL, or one timeout if it is waiting on Redis.
            self._wake.set()
            await task
        if self._url is not None and self._async is not None:
            loop, client, _ = self._async
            self._async = None
            # A client of another (finished) loop cannot be closed from this one.
            if loop is asyncio.get_running_loop():
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
        self.close()


def _sentinel_master(url: str, options: dict[str, Any], *, asynchronous: bool) -> Any:
    """``redis+sentinel://[[user]:password@]host:port[,host:port]/service_name[/db]``.

    The credentials are the master's; the sentinels are asked without any.
    """
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    path = [unquote(p) for p in parts.path.split("/") if p]
    try:
        nodes = []
        for node in hosts.split(","):
            host, _, port = node.rpartition(":")
            nodes.append((host.strip("[]"), int(port)))
        if not (1 <= len(path) <= 2) or not all(host for host, _ in nodes):
            raise ValueError(url)
        db = int(path[1]) if len(path) == 2 else 0
    except ValueError as exc:
        raise ConfigurationError(
            "a Sentinel url reads redis+sentinel://host:port[,host:port]/service_name[/db]"
        ) from exc
    master = {
        **options,
        "db": db,
        "username": unquote(username) or None,
        "password": unquote(password) or None,
    }
    sentinel_options = {k: v for k, v in options.items() if k != "retry"}
    # redis-py's Sentinel classes carry no annotations.
    if asynchronous:
        sentinels = redis.asyncio.sentinel.Sentinel(nodes, **sentinel_options)  # type: ignore[no-untyped-call]
        return sentinels.master_for(path[0], redis_class=AsyncRedis, **master)
    sync = redis.sentinel.Sentinel(nodes, **sentinel_options)  # type: ignore[no-untyped-call]
    return sync.master_for(path[0], **master)  # type: ignore[no-untyped-call]
