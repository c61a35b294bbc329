"""One store face for every kind: memory, Redis through its sync methods, and Redis
through its async twins (run in an event loop thread, as an ASGI app would)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio.from_thread
import pytest
from anyio.from_thread import BlockingPortal

from okta_magiclink_mw.stores import MemoryRecordStore
from tests._redis_server import _shared_redis, redis_server, redis_url
from tests.conftest import FakeClock

__all__ = ["Handle", "Stores", "_shared_redis", "redis_server", "redis_url", "wait_for"]

KINDS = ["memory-sync", "memory-async", "redis-sync", "redis-async"]


class Handle:
    """A store driven the way the adapters drive it: ``getattr(store, op)(*args)`` for
    WSGI, ``await getattr(store, "a" + op)(*args)`` for ASGI."""

    def __init__(self, store: Any, portal: BlockingPortal | None) -> None:
        self.store = store
        self.portal = portal

    def __call__(self, op: str, *args: Any) -> Any:
        if self.portal is None:
            return getattr(self.store, op)(*args)
        return self.portal.call(getattr(self.store, "a" + op), *args)

    @property
    def since(self) -> float | None:
        return self.store.listening_since  # type: ignore[no-any-return]

    def wait_listening(self, timeout: float = 5.0) -> float:
        return wait_for(lambda: self.since, timeout, "the listener to subscribe")


class Stores:
    """Makes stores of one kind; every one made is another "instance" of the app."""

    def __init__(self, kind: str, url: str | None, portal: BlockingPortal | None) -> None:
        self.kind = kind
        self.url = url
        self.portal = portal
        self.clock = FakeClock()
        self._memory = MemoryRecordStore(clock=self.clock)
        self._made: list[Handle] = []

    def new(self, **options: Any) -> Handle:
        if self.kind.startswith("memory"):
            # Instances of one process share the one in-memory store.
            handle = Handle(self._memory, self.portal)
        else:
            from okta_magiclink_mw.stores import RedisSessionStore

            handle = Handle(RedisSessionStore(self.url, **options), self.portal)
        self._made.append(handle)
        return handle

    def now(self) -> float:
        """The store's idea of the time: the fake clock, or the real one."""
        return self.clock() if self.kind.startswith("memory") else time.time()

    def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` pass for the store: the fake clock, or Redis's own."""
        if self.kind.startswith("memory"):
            self.clock.advance(seconds)
        else:
            time.sleep(seconds)

    def close(self) -> None:
        for handle in reversed(self._made):
            handle("close")


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)
    return value


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with anyio.from_thread.start_blocking_portal() as portal:
        yield portal


@pytest.fixture(params=KINDS)
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    kind: str = request.param
    url = request.getfixturevalue("redis_url") if kind.startswith("redis") else None
    portal = request.getfixturevalue("portal") if kind.endswith("async") else None
    made = Stores(kind, url, portal)
    yield made
    made.close()


@pytest.fixture
def store(stores: Stores) -> Handle:
    return stores.new()
