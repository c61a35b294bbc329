"""The listener's decisions, on a fake clock: when to PING, when silence means dead."""

from __future__ import annotations

import pytest

from okta_magiclink_mw.stores._listening import (
    BACKOFF_MAX,
    BACKOFF_MIN,
    DEAD_AFTER,
    PING_EVERY,
    Backoff,
    Pump,
    Stalled,
)
from tests.conftest import FakeClock


def pump(clock: FakeClock) -> tuple[Pump, list[str], list[str]]:
    told: list[str] = []
    events: list[str] = []
    return Pump(told.append, lambda: events.append("subscribed"), clock), told, events


def test_it_pings_every_quarter_second_and_a_pong_keeps_it_alive() -> None:
    clock = FakeClock(0.0)
    listener, _, _ = pump(clock)
    assert listener.feed(None) is False
    clock.advance(PING_EVERY)
    assert listener.feed(None) is True
    assert listener.feed(None) is False
    for _ in range(10):  # far past DEAD_AFTER in all, but answered every time
        clock.advance(PING_EVERY)
        assert listener.feed({"type": "pong", "data": b""}) is True


def test_no_pong_for_dead_after_is_a_stalled_connection() -> None:
    clock = FakeClock(0.0)
    listener, _, _ = pump(clock)
    clock.advance(DEAD_AFTER)
    listener.feed(None)
    clock.advance(0.01)
    with pytest.raises(Stalled):
        listener.feed(None)


def test_subscription_and_messages_are_passed_on() -> None:
    listener, told, events = pump(FakeClock(0.0))
    assert not listener.subscribed
    listener.feed({"type": "subscribe", "data": 1})
    listener.feed({"type": "message", "data": b"sid-1"})
    listener.feed({"type": "unsubscribe", "data": 0})
    assert listener.subscribed
    assert (events, told) == (["subscribed"], ["sid-1"])


def test_backoff_doubles_to_its_cap_and_restarts_after_a_working_connection() -> None:
    backoff = Backoff()
    delays = [backoff.next(False) for _ in range(8)]
    assert delays[:3] == [BACKOFF_MIN, BACKOFF_MIN * 2, BACKOFF_MIN * 4]
    assert delays[-1] == BACKOFF_MAX
    assert backoff.next(True) == BACKOFF_MIN
