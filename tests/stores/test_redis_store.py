"""RedisSessionStore beyond the contract: the keys it leaves, the clients it takes, the
urls it reads. Against a real redis-server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import redis
import redis.asyncio

from okta_magiclink_mw.errors import ConfigurationError
from okta_magiclink_mw.stores import RedisSessionStore, StoreUnavailable
from tests._redis_server import RedisServer, running_sentinel

from .conftest import wait_for
from .test_contract import LONG, NOW, SHORT, Inbox


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisSessionStore]:
    store = RedisSessionStore(redis_url)
    yield store
    store.close()


def ttls(raw: redis.Redis) -> dict[str, int]:
    return {key.decode(): raw.pttl(key) for key in raw.scan_iter()}


# -- the data model ----------------------------------------------------------------------


def test_a_record_is_a_hash_with_a_ttl_and_an_index_entry(
    store: RedisSessionStore, raw: redis.Redis
) -> None:
    before_ms = time.time() * 1000
    store.create("sid-1", "alice", b"\x00sealed", NOW, LONG)
    assert raw.hgetall("omw:s:sid-1") == {
        b"b": b"\x00sealed",
        b"c": repr(NOW).encode(),
        b"t": repr(NOW).encode(),
        b"u": b"alice",
    }
    assert 0 < raw.pttl("omw:s:sid-1") <= LONG * 1000
    [(member, score)] = raw.zrange("omw:u:alice", 0, -1, withscores=True)
    assert member == b"sid-1"
    assert before_ms + LONG * 1000 - 50 <= score <= time.time() * 1000 + LONG * 1000 + 50
    assert 0 < raw.pttl("omw:u:alice") <= LONG * 1000


def test_the_index_expires_with_its_latest_record(
    store: RedisSessionStore, raw: redis.Redis
) -> None:
    store.create("long", "alice", b"x", NOW, LONG)
    store.create("short", "alice", b"x", NOW, SHORT)
    assert raw.pttl("omw:u:alice") > SHORT * 1000
    store.delete("long", "alice")
    # Only the short one is left: the index now goes when it goes.
    assert 0 < raw.pttl("omw:u:alice") <= SHORT * 1000
    time.sleep(SHORT * 2)
    assert raw.exists("omw:u:alice", "omw:s:short") == 0


def test_touch_renews_the_index_entry_and_expiry(
    store: RedisSessionStore, raw: redis.Redis
) -> None:
    store.create("sid-1", "alice", b"x", NOW, SHORT)
    assert store.touch("sid-1", "alice", NOW + 1, LONG)
    assert raw.pttl("omw:s:sid-1") > SHORT * 1000
    assert raw.pttl("omw:u:alice") > SHORT * 1000
    assert raw.zscore("omw:u:alice", "sid-1") > (time.time() + LONG - 1) * 1000


def test_touch_after_delete_leaves_no_key(store: RedisSessionStore, raw: redis.Redis) -> None:
    store.create("sid-1", "alice", b"x", NOW, LONG)
    store.delete("sid-1", "alice")
    assert store.touch("sid-1", "alice", NOW, LONG) is False
    assert list(raw.scan_iter()) == []


def test_no_key_is_ever_left_without_a_ttl(store: RedisSessionStore, raw: redis.Redis) -> None:
    for n in range(5):
        store.create(f"a-{n}", "alice", b"x", NOW, LONG)
        store.create(f"b-{n}", "bob", b"x", NOW, SHORT)
    store.touch("a-1", "alice", NOW, LONG * 2)
    store.delete("a-2", "alice")
    store.delete_subject("bob")
    store.list_subject("alice")
    store.spend("state-1", LONG)
    keys = ttls(raw)
    assert set(keys) == {"omw:s:a-0", "omw:s:a-1", "omw:s:a-3", "omw:s:a-4"} | {
        "omw:u:alice",
        "omw:k:state-1",
    }
    assert all(ttl > 0 for ttl in keys.values()), keys


def test_a_subject_keeps_at_most_max_records_the_oldest_evicted_and_told(
    redis_url: str, raw: redis.Redis
) -> None:
    store = RedisSessionStore(redis_url, max_records_per_subject=2)
    inbox = Inbox()
    try:
        store.listen(inbox)
        wait_for(lambda: store.listening_since, 5.0, "the listener")
        store.create("first", "alice", b"x", NOW, LONG)
        store.create("second", "alice", b"x", NOW + 1, LONG * 2)
        store.create("third", "alice", b"x", NOW + 2, LONG * 3)
        inbox.wait("first")
        assert store.load("first") is None
        assert [i.session_id for i in store.list_subject("alice")] == ["second", "third"]
        assert raw.zcard("omw:u:alice") == 2
    finally:
        store.close()


def test_two_prefixes_never_see_each_other(redis_url: str, raw: redis.Redis) -> None:
    one = RedisSessionStore(redis_url, prefix="one")
    two = RedisSessionStore(redis_url, prefix="two")
    inbox = Inbox()
    try:
        two.listen(inbox)
        wait_for(lambda: two.listening_since, 5.0, "the listener")
        one.create("sid-1", "alice", b"one's", NOW, LONG)
        two.create("sid-1", "alice", b"two's", NOW, LONG)
        one.spend("state", LONG)
        assert two.spend("state", LONG) is True
        assert one.delete_subject("alice") == 1
        assert two.load("sid-1") is not None
        assert [i.session_id for i in two.list_subject("alice")] == ["sid-1"]
        two.delete("sid-2", "alice")
        # Redis sends one's PUBLISH before two's on the same connection; only two's came.
        inbox.wait("sid-2")
        assert inbox.ids == ["sid-2"]
        assert all(key.startswith(("one:", "two:")) for key in ttls(raw))
    finally:
        one.close()
        two.close()


def test_a_record_of_the_wrong_type_is_unavailable_not_a_traceback(
    store: RedisSessionStore, raw: redis.Redis
) -> None:
    raw.set("omw:s:sid-1", "not a hash")
    with pytest.raises(StoreUnavailable) as info:
        store.load("sid-1")
    assert isinstance(info.value.__cause__, redis.ResponseError)


def test_a_flushed_script_cache_is_reloaded(store: RedisSessionStore, raw: redis.Redis) -> None:
    store.create("sid-1", "alice", b"x", NOW, LONG)
    raw.script_flush()
    assert store.load("sid-1") is not None


# -- clients ----------------------------------------------------------------------------


def test_a_sync_client_from_the_app_serves_wsgi_only(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    store = RedisSessionStore(client=client)
    store.create("sid-1", "alice", b"x", NOW, LONG)
    assert store.load("sid-1") is not None
    with pytest.raises(ConfigurationError, match=r"redis\.asyncio"):
        anyio.run(store.aload, "sid-1")
    store.close()
    assert client.ping()  # the app's client is the app's to close
    client.close()


def test_an_async_client_from_the_app_serves_asgi_only(redis_url: str) -> None:
    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        store = RedisSessionStore(client=client)
        await store.acreate("sid-1", "alice", b"x", NOW, LONG)
        assert await store.aload("sid-1") is not None
        inbox = Inbox()
        await store.alisten(inbox)
        while store.listening_since is None:
            await asyncio.sleep(0.01)
        await store.adelete("sid-1", "alice")
        while "sid-1" not in inbox.ids:
            await asyncio.sleep(0.01)
        with pytest.raises(ConfigurationError, match=r"redis\.Redis"):
            store.load("sid-1")
        with pytest.raises(ConfigurationError, match=r"redis\.Redis"):
            store.listen(inbox)
        await store.aclose()
        assert await client.ping()
        await client.aclose()

    anyio.run(main)


@pytest.mark.parametrize("kind", [redis.Redis, redis.asyncio.Redis])
def test_a_client_that_decodes_responses_is_refused(kind: Any) -> None:
    with pytest.raises(ConfigurationError, match="decode"):
        RedisSessionStore(client=kind(decode_responses=True))


def test_each_event_loop_gets_its_own_async_client(store: RedisSessionStore) -> None:
    async def use() -> object:
        await store.acreate("sid-1", "alice", b"x", NOW, LONG)
        return store._async_triple()[1]

    first, second = anyio.run(use), anyio.run(use)
    assert first is not second
    assert store.load("sid-1") is not None
    anyio.run(store.aclose)


def test_the_listener_thread_is_a_daemon_and_close_ends_it(store: RedisSessionStore) -> None:
    store.listen(Inbox())
    thread = store._thread
    assert thread is not None
    assert thread.daemon
    store.close()
    assert not thread.is_alive()


# -- urls ---------------------------------------------------------------------------------


def connection_of(store: RedisSessionStore) -> tuple[type, dict[str, Any]]:
    pool = store._sync_pair()[0].connection_pool
    return pool.connection_class, pool.connection_kwargs


def test_a_redis_url_with_the_fail_fast_timeouts() -> None:
    kind, options = connection_of(
        RedisSessionStore("redis://user:pw@cache.internal:6390/3", socket_timeout=0.25)
    )
    assert kind is redis.Connection
    assert (options["host"], options["port"], options["db"]) == ("cache.internal", 6390, 3)
    assert (options["username"], options["password"]) == ("user", "pw")
    assert (options["socket_timeout"], options["socket_connect_timeout"]) == (0.25, 0.5)
    assert options["retry"].get_retries() == 1


def test_a_rediss_url_is_tls() -> None:
    kind, options = connection_of(RedisSessionStore("rediss://cache.internal:6380/0"))
    assert kind is redis.SSLConnection
    assert options["host"] == "cache.internal"


def test_a_unix_url_works_against_the_server(redis_server: RedisServer) -> None:
    store = RedisSessionStore(f"unix://{redis_server.unix_socket}?db=1")
    kind, _ = connection_of(store)
    assert kind is redis.UnixDomainSocketConnection
    store.create("sid-1", "alice", b"x", NOW, LONG)
    assert store.load("sid-1") is not None
    assert RedisSessionStore(redis_server.url.replace("/0", "/1")).load("sid-1") is not None
    store.close()


@pytest.mark.parametrize(
    "url", ["http://cache:6379", "cache:6379", "", "redis+cluster://a:1", "memcached://x"]
)
def test_another_scheme_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="must start with"):
        RedisSessionStore(url)


def test_a_malformed_url_is_an_error_that_does_not_repeat_the_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        RedisSessionStore("redis://user:hunter2@cache:notaport/0")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "exactly one"),
        ({"url": "redis://a", "client": redis.Redis()}, "exactly one"),
        ({"url": "redis://a", "prefix": "a:b"}, "prefix"),
        ({"url": "redis://a", "prefix": ""}, "prefix"),
        ({"url": "redis://a", "prefix": "p" * 65}, "prefix"),
        ({"url": "redis://a", "socket_timeout": 0}, "timeout"),
        ({"url": "redis://a", "connect_timeout": -1}, "timeout"),
        ({"url": "redis://a", "max_records_per_subject": 0}, "max_records"),
    ],
)
def test_bad_options_are_refused_at_construction(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        RedisSessionStore(**options)


def test_the_stores_package_imports_without_redis() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import okta_magiclink_mw, okta_magiclink_mw.stores as s\n"
        "s.MemoryRecordStore()\n"
        "try:\n"
        "    s.RedisSessionStore\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'okta-magiclink-mw[redis]'" in out


def test_an_unknown_name_of_the_stores_package_is_an_attribute_error() -> None:
    import okta_magiclink_mw.stores as stores

    with pytest.raises(AttributeError, match="Nope"):
        stores.Nope  # noqa: B018


# -- Sentinel -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_sentinel_url_finds_the_master(redis_server: RedisServer, mode: str) -> None:
    with running_sentinel(redis_server) as sentinel:
        store = RedisSessionStore(sentinel.url)
        if mode == "sync":
            store.create("sid-1", "alice", b"via sentinel", NOW, LONG)
        else:
            anyio.run(store.acreate, "sid-1", "alice", b"via sentinel", NOW, LONG)
        store.close()
    assert redis.Redis.from_url(redis_server.url).hget("omw:s:sid-1", "b") == b"via sentinel"


def test_a_sentinel_url_takes_several_sentinels_a_db_and_credentials() -> None:
    store = RedisSessionStore("redis+sentinel://:s3cret@10.0.0.1:26379,[::1]:26380/sessions/2")
    client = store._sync_pair()[0]
    pool = client.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert pool.service_name == "sessions"
    assert [
        (c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
        for c in pool.sentinel_manager.sentinels
    ] == [("10.0.0.1", 26379), ("::1", 26380)]
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (2, "s3cret")
    assert pool.connection_kwargs["socket_timeout"] == 0.5


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://10.0.0.1:26379",
        "redis+sentinel://10.0.0.1:26379/",
        "redis+sentinel://10.0.0.1:26379/a/0/extra",
        "redis+sentinel://10.0.0.1/sessions",
        "redis+sentinel://10.0.0.1:port/sessions",
        "redis+sentinel://:26379/sessions",
        "redis+sentinel://10.0.0.1:26379/sessions/db",
    ],
)
def test_a_malformed_sentinel_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="service_name"):
        RedisSessionStore(url)


def test_without_redis_py_the_lazy_import_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import okta_magiclink_mw.stores as stores

    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delitem(sys.modules, "okta_magiclink_mw.stores.redis")
    with pytest.raises(ImportError, match=r"pip install 'okta-magiclink-mw\[redis\]'"):
        stores.RedisSessionStore  # noqa: B018


def test_another_import_error_is_not_disguised(monkeypatch: pytest.MonkeyPatch) -> None:
    import okta_magiclink_mw.stores as stores

    monkeypatch.setitem(sys.modules, "okta_magiclink_mw.stores.redis", None)
    with pytest.raises(ImportError) as info:
        stores.RedisSessionStore  # noqa: B018
    assert "pip install" not in str(info.value)


def test_an_id_created_again_for_another_subject_leaves_the_old_index(
    store: RedisSessionStore, raw: redis.Redis
) -> None:
    store.create("sid-1", "alice", b"x", NOW, LONG)
    store.create("sid-0", "alice", b"x", NOW, SHORT)
    store.create("sid-1", "bob", b"y", NOW, LONG)
    assert raw.zrange("omw:u:alice", 0, -1) == [b"sid-0"]
    assert 0 < raw.pttl("omw:u:alice") <= SHORT * 1000
