"""A Redis that dies or hangs, and comes back, under a store that keeps running.

The bounds asserted are the contract with the middleware (an outage becomes a 503
within about a second, and the cache stops being trusted within 1.5 s), not speed
goals: a dead server is noticed at once, a hung one after the 0.5 s socket timeout
(operations) or 0.75 s without a PONG (the listener).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from anyio.from_thread import BlockingPortal
from redis.exceptions import RedisError

from okta_magiclink_mw.stores import RedisSessionStore, StoreUnavailable
from okta_magiclink_mw.stores._listening import DEAD_AFTER, PING_EVERY
from tests._redis_server import RedisServer

from .conftest import Handle, wait_for
from .test_contract import LONG, NOW, Inbox

OPERATIONS = [
    ("create", "sid-2", "alice", b"x", NOW, LONG),
    ("load", "sid-1"),
    ("touch", "sid-1", "alice", NOW, LONG),
    ("delete", "sid-1", "alice"),
    ("delete_subject", "alice"),
    ("list_subject", "alice"),
    ("spend", "state-1", LONG),
]
OPERATION_BOUND = 1.0
LISTENER_BOUND = 1.5

MakeStore = Callable[[], Handle]


@pytest.fixture(params=["sync", "async"])
def make_store(
    request: pytest.FixtureRequest, redis_server: RedisServer, portal: BlockingPortal
) -> Iterator[MakeStore]:
    made: list[Handle] = []

    def make() -> Handle:
        handle = Handle(
            RedisSessionStore(redis_server.url), portal if request.param == "async" else None
        )
        made.append(handle)
        return handle

    yield make
    for handle in made:
        handle("close")


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


@pytest.mark.parametrize("outage", ["killed", "hung"])
def test_an_outage_fails_fast_and_the_store_recovers_by_itself(
    redis_server: RedisServer, make_store: MakeStore, outage: str
) -> None:
    store, other = make_store(), make_store()
    inbox = Inbox()
    store("listen", inbox)
    store.wait_listening()
    store("create", "sid-1", "alice", b"x", NOW, LONG)

    redis_server.stop() if outage == "killed" else redis_server.pause()
    detected = timed(lambda: wait_for(lambda: store.since is None, 5.0, "the listener to drop"))
    slowest = 0.0
    for operation in OPERATIONS:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            store(*operation)
        slowest = max(slowest, time.monotonic() - started)
        assert isinstance(info.value.__cause__, RedisError)
    print(f"{outage}: listener down after {detected:.3f} s, slowest operation {slowest:.3f} s")
    assert detected < LISTENER_BOUND
    assert slowest < OPERATION_BOUND

    back = time.time()
    redis_server.start() if outage == "killed" else redis_server.resume()
    since = store.wait_listening()
    assert since >= back
    # The same store objects work again, and deletions flow again.
    store("create", "sid-3", "alice", b"y", NOW, LONG)
    assert store("load", "sid-3") is not None
    other("delete", "sid-3", "alice")
    inbox.wait("sid-3")


def test_a_store_made_while_redis_is_down_starts_working_when_it_is_up(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    redis_server.stop()
    store = make_store()
    store("listen", Inbox())
    with pytest.raises(StoreUnavailable):
        store("load", "sid-1")
    assert store.since is None
    back = time.time()
    redis_server.start()
    assert store.wait_listening() >= back
    assert store("load", "sid-1") is None


def test_close_stops_the_listener(redis_server: RedisServer, make_store: MakeStore) -> None:
    store = make_store()
    store("listen", Inbox())
    store.wait_listening()
    client = redis_server.client()
    assert client.pubsub_numsub("omw:invalidate") == [(b"omw:invalidate", 1)]  # type: ignore[attr-defined]
    store("close")
    assert store.since is None
    wait_for(
        lambda: client.pubsub_numsub("omw:invalidate") == [(b"omw:invalidate", 0)],  # type: ignore[attr-defined]
        5.0,
        "the subscription to end",
    )


def test_a_quiet_healthy_connection_is_kept(make_store: MakeStore) -> None:
    """No deletion for several PONG deadlines: the PINGs keep the listener subscribed
    (a listener that mistook quiet for dead would resubscribe, moving the time)."""
    store, other = make_store(), make_store()
    inbox = Inbox()
    store("listen", inbox)
    since = store.wait_listening()
    time.sleep(2 * DEAD_AFTER)
    assert store.since == since
    other("delete", "sid-1", "alice")
    inbox.wait("sid-1")


def test_aclose_ends_the_listener_task_whenever_it_comes(
    redis_server: RedisServer, portal: BlockingPortal
) -> None:
    """Closing in the middle of a read must not be mistaken for a lost connection
    (redis-py may turn the cancellation of a read into a ConnectionError, and the
    listener would then reconnect instead of ending)."""
    for n in range(4):
        store = RedisSessionStore(redis_server.url)
        portal.call(store.alisten, Inbox())
        wait_for(lambda s=store: s.listening_since, 5.0, "the listener")
        # Past a few PINGs, then somewhere in the poll / ping cycle.
        time.sleep(3 * PING_EVERY + n * 0.017)
        portal.start_task_soon(store.aclose).result(timeout=5)
        assert store.listening_since is None
