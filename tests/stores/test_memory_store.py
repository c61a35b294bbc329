"""MemoryRecordStore beyond the contract: its bounds and its clock."""

from __future__ import annotations

import pytest

from okta_magiclink_mw.stores import AsyncRecordStore, MemoryRecordStore, RecordStore
from tests.conftest import FakeClock

NOW = 1_800_000_000.0


def test_it_is_both_kinds_of_record_store() -> None:
    store = MemoryRecordStore()
    assert isinstance(store, RecordStore)
    assert isinstance(store, AsyncRecordStore)


def test_past_max_records_the_oldest_is_evicted_and_told() -> None:
    store = MemoryRecordStore(max_records=2, clock=FakeClock(NOW))
    told: list[str] = []
    store.listen(told.append)
    store.create("first", "alice", b"1", NOW, 60)
    store.create("second", "bob", b"2", NOW, 60)
    store.create("third", "alice", b"3", NOW, 60)
    assert told == ["first"]
    assert store.load("first") is None
    assert [i.session_id for i in store.list_subject("alice")] == ["third"]
    assert store.load("second") is not None


def test_expired_records_go_before_any_live_one_is_evicted() -> None:
    clock = FakeClock(NOW)
    store = MemoryRecordStore(max_records=2, clock=clock)
    told: list[str] = []
    store.listen(told.append)
    store.create("old-live", "alice", b"1", NOW, 60)
    store.create("expiring", "bob", b"2", NOW, 1)
    clock.advance(2)
    store.create("new", "alice", b"3", NOW, 60)
    assert told == []
    assert store.load("old-live") is not None
    assert store.list_subject("bob") == []


def test_spent_keys_are_bounded_expired_ones_first() -> None:
    clock = FakeClock(NOW)
    store = MemoryRecordStore(max_records=2, clock=clock)
    assert store.spend("a", 60)
    assert store.spend("b", 1)
    clock.advance(2)
    assert store.spend("c", 60)  # "b" had expired: it made room
    assert not store.spend("a", 60)
    assert store.spend("d", 60)  # full of live keys: the oldest ("a") goes
    assert store.spend("a", 60)


def test_listening_since_is_the_time_of_the_first_listen() -> None:
    clock = FakeClock(NOW)
    store = MemoryRecordStore(clock=clock)
    assert store.listening_since is None
    store.listen(print)
    clock.advance(5)
    store.listen(repr)
    assert store.listening_since == NOW
    store.close()
    assert store.listening_since is None


def test_close_forgets_the_listeners() -> None:
    store = MemoryRecordStore()
    told: list[str] = []
    store.listen(told.append)
    store.close()
    store.delete("sid-1", "alice")
    assert told == []


def test_max_records_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_records"):
        MemoryRecordStore(max_records=0)
