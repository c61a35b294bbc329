"""The RecordStore contract, for every store: memory, Redis sync, Redis async.

The Redis variants run against a real redis-server; time passes there for real, in
steps a few times longer than the TTLs involved (Redis checks expiry on every access,
so a key past its TTL is never returned: no race to win).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time

import pytest

from okta_magiclink_mw.stores import SessionInfo, StoredSession

from .conftest import Handle, Stores

NOW = 1_800_000_000.0
LONG = 60.0
#: Short enough to wait out with a real Redis.
SHORT = 0.3
#: Every byte value, a NUL and invalid UTF-8: the store keeps what it is given.
BLOB = bytes(range(256)) + b"\x00\xff\xfe" + b"sealed" * 1000


def test_create_then_load_round_trips_the_blob_byte_exact(store: Handle) -> None:
    store("create", "sid-1", "subj", BLOB, NOW, LONG)
    loaded = store("load", "sid-1")
    assert loaded == StoredSession(BLOB, NOW, NOW)
    assert type(loaded.blob) is bytes


def test_load_of_unknown_session_is_none(store: Handle) -> None:
    assert store("load", "nobody") is None


def test_create_replaces_a_record_with_the_same_id(store: Handle) -> None:
    store("create", "sid-1", "subj", b"first", NOW, LONG)
    store("create", "sid-1", "subj", b"second", NOW + 5, LONG)
    assert store("load", "sid-1") == StoredSession(b"second", NOW + 5, NOW + 5)
    assert [i.session_id for i in store("list_subject", "subj")] == ["sid-1"]


def test_touch_moves_seen_and_keeps_created(store: Handle) -> None:
    store("create", "sid-1", "subj", b"x", NOW, LONG)
    assert store("touch", "sid-1", "subj", NOW + 30, LONG) is True
    assert store("load", "sid-1") == StoredSession(b"x", NOW, NOW + 30)
    assert store("list_subject", "subj") == [SessionInfo("sid-1", NOW, NOW + 30)]


def test_touch_of_unknown_session_is_false_and_creates_nothing(store: Handle) -> None:
    assert store("touch", "ghost", "subj", NOW, LONG) is False
    assert store("load", "ghost") is None
    assert store("list_subject", "subj") == []


def test_touch_after_delete_is_false_and_does_not_resurrect(store: Handle) -> None:
    store("create", "sid-1", "subj", b"x", NOW, LONG)
    store("delete", "sid-1", "subj")
    assert store("touch", "sid-1", "subj", NOW + 1, LONG) is False
    assert store("load", "sid-1") is None
    assert store("list_subject", "subj") == []


def test_touch_under_another_subject_is_false_and_changes_nothing(store: Handle) -> None:
    store("create", "sid-1", "alice", b"x", NOW, LONG)
    assert store("touch", "sid-1", "mallory", NOW + 1, LONG) is False
    assert store("load", "sid-1") == StoredSession(b"x", NOW, NOW)
    assert store("list_subject", "mallory") == []


def test_delete_is_idempotent_and_leaves_other_sessions(store: Handle) -> None:
    store("create", "sid-1", "subj", b"1", NOW, LONG)
    store("create", "sid-2", "subj", b"2", NOW + 1, LONG)
    store("delete", "sid-1", "subj")
    store("delete", "sid-1", "subj")
    assert store("load", "sid-1") is None
    assert store("load", "sid-2") == StoredSession(b"2", NOW + 1, NOW + 1)
    assert [i.session_id for i in store("list_subject", "subj")] == ["sid-2"]


def test_delete_subject_deletes_all_of_one_subject_only(store: Handle) -> None:
    for n in range(3):
        store("create", f"a-{n}", "alice", b"a", NOW + n, LONG)
    store("create", "b-0", "bob", b"b", NOW, LONG)
    assert store("delete_subject", "alice") == 3
    assert [store("load", f"a-{n}") for n in range(3)] == [None, None, None]
    assert store("list_subject", "alice") == []
    assert store("delete_subject", "alice") == 0
    assert store("load", "b-0") is not None
    assert [i.session_id for i in store("list_subject", "bob")] == ["b-0"]


def test_list_subject_is_oldest_first_and_tells_no_blob(store: Handle) -> None:
    store("create", "newer", "subj", b"secret-1", NOW + 10, LONG)
    store("create", "older", "subj", b"secret-2", NOW, LONG)
    assert store("list_subject", "subj") == [
        SessionInfo("older", NOW, NOW),
        SessionInfo("newer", NOW + 10, NOW + 10),
    ]


def test_spend_is_true_once_per_key_until_its_ttl(stores: Stores, store: Handle) -> None:
    assert store("spend", "state-1", SHORT) is True
    assert store("spend", "state-1", SHORT) is False
    assert store("spend", "state-2", LONG) is True
    stores.pass_time(SHORT * 2)
    assert store("spend", "state-1", SHORT) is True
    assert store("spend", "state-2", LONG) is False


def test_a_record_expires_with_its_ttl(stores: Stores, store: Handle) -> None:
    store("create", "short", "subj", b"x", NOW, SHORT)
    store("create", "long", "subj", b"y", NOW, LONG)
    stores.pass_time(SHORT * 2)
    assert store("load", "short") is None
    assert store("touch", "short", "subj", NOW, LONG) is False
    assert store("load", "short") is None
    # The index follows the records' TTLs.
    assert [i.session_id for i in store("list_subject", "subj")] == ["long"]


def test_touch_sets_the_expiry_to_ttl_from_now(stores: Stores, store: Handle) -> None:
    store("create", "sid-1", "subj", b"x", NOW, LONG)
    assert store("touch", "sid-1", "subj", NOW, SHORT) is True
    stores.pass_time(SHORT * 2)
    assert store("load", "sid-1") is None
    assert store("list_subject", "subj") == []


def test_the_whole_index_of_a_subject_expires(stores: Stores, store: Handle) -> None:
    store("create", "sid-1", "subj", b"x", NOW, SHORT)
    store("create", "sid-2", "subj", b"x", NOW, SHORT)
    stores.pass_time(SHORT * 2)
    assert store("list_subject", "subj") == []
    assert store("delete_subject", "subj") == 0


@pytest.mark.parametrize("ttl", [0, -1.0])
def test_a_ttl_that_is_not_positive_is_refused(store: Handle, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store("create", "sid-1", "subj", b"x", NOW, ttl)
    with pytest.raises(ValueError, match="ttl"):
        store("spend", "k", ttl)
    assert store("load", "sid-1") is None


# -- invalidation ------------------------------------------------------------------------


class Inbox:
    """Collects invalidations; a test waits on an id instead of sleeping."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.arrived: dict[str, float] = {}
        self._changed = threading.Condition()

    def __call__(self, session_id: str) -> None:
        with self._changed:
            self.ids.append(session_id)
            self.arrived.setdefault(session_id, time.perf_counter())
            self._changed.notify_all()

    def wait(self, session_id: str, timeout: float = 5.0) -> float:
        with self._changed:
            assert self._changed.wait_for(lambda: session_id in self.arrived, timeout), (
                f"{session_id} never arrived"
            )
            return self.arrived[session_id]


def test_a_deletion_reaches_the_listener_of_another_instance(stores: Stores) -> None:
    one, other = stores.new(), stores.new()
    inbox = Inbox()
    before = stores.now()
    other("listen", inbox)
    since = other.wait_listening()
    assert before <= since <= stores.now()
    one("create", "sid-1", "alice", b"x", NOW, LONG)
    one("create", "sid-2", "alice", b"x", NOW, LONG)
    one("delete", "sid-1", "alice")
    inbox.wait("sid-1")
    assert one("delete_subject", "alice") == 1
    inbox.wait("sid-2")
    one("delete", "never-existed", "alice")
    inbox.wait("never-existed")
    assert inbox.ids == ["sid-1", "sid-2", "never-existed"]


def test_listen_is_idempotent(stores: Stores) -> None:
    one, other = stores.new(), stores.new()
    inbox = Inbox()
    other("listen", inbox)
    since = other.wait_listening()
    other("listen", inbox)
    assert other.since == since
    one("delete", "sid-1", "alice")
    one("delete", "sid-2", "alice")
    inbox.wait("sid-2")
    assert inbox.ids == ["sid-1", "sid-2"]


def test_a_failing_callback_does_not_stop_the_deliveries(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    one, other = stores.new(), stores.new()
    inbox = Inbox()

    def fussy(session_id: str) -> None:
        inbox(session_id)
        if session_id == "sid-secret-1":
            raise RuntimeError(f"cannot drop {session_id}")

    other("listen", fussy)
    other.wait_listening()
    with caplog.at_level(logging.ERROR, logger="okta_magiclink_mw"):
        one("delete", "sid-secret-1", "alice")
        one("delete", "sid-2", "alice")
        inbox.wait("sid-2")
    assert inbox.ids == ["sid-secret-1", "sid-2"]
    assert "RuntimeError" in caplog.text
    assert "sid-secret" not in caplog.text


def test_invalidation_latency_p99_is_under_100_ms(stores: Stores) -> None:
    """A correctness bound, not a speed goal: the middleware trusts its cache for a
    revoked session at most this long. Loopback Redis delivers in ~0.1-1 ms, so the
    bound has a margin of two orders of magnitude."""
    one, other = stores.new(), stores.new()
    inbox = Inbox()
    other("listen", inbox)
    other.wait_listening()
    latencies = []
    for n in range(200):
        started = time.perf_counter()
        one("delete", f"sid-{n}", "alice")
        latencies.append(inbox.wait(f"sid-{n}") - started)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"{stores.kind}: invalidation p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms")
    assert p99 < 0.100


def test_an_id_created_again_for_another_subject_is_the_new_subjects(store: Handle) -> None:
    store("create", "sid-1", "alice", b"alice's", NOW, LONG)
    store("create", "sid-1", "bob", b"bob's", NOW + 1, LONG)
    assert store("list_subject", "alice") == []
    assert store("delete_subject", "alice") == 0
    assert store("load", "sid-1") == StoredSession(b"bob's", NOW + 1, NOW + 1)
    assert [i.session_id for i in store("list_subject", "bob")] == ["sid-1"]
