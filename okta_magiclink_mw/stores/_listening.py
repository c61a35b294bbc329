"""What the invalidation listener decides, without I/O: when to PING, when a silent
connection counts as dead, what to do with each message, how long to wait before
reconnecting. :mod:`.redis` drives it from a thread (sync) or a task (async).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ._base import OnInvalidate

logger = logging.getLogger("okta_magiclink_mw")

#: How often the listener polls, PINGs, and how long without a PONG means dead.
POLL, PING_EVERY, DEAD_AFTER = 0.1, 0.25, 0.75
#: Reconnection backoff of the listener, in seconds.
BACKOFF_MIN, BACKOFF_MAX = 0.05, 1.0


class Stalled(Exception):
    """The connection stopped answering PINGs."""


class Pump:
    """What the listener does with each message; says when to PING next."""

    def __init__(
        self,
        on_invalidate: OnInvalidate,
        on_subscribed: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_invalidate = on_invalidate
        self._on_subscribed = on_subscribed
        self._clock = clock
        self.subscribed = False
        self._last_pong = self._last_ping = clock()

    def feed(self, message: dict[str, Any] | None) -> bool:
        """Handle one message (None: nothing came); True when it is time to PING.

        :raises Stalled: no PONG for :data:`DEAD_AFTER` seconds.
        """
        now = self._clock()
        kind = message["type"] if message is not None else None
        if kind == "subscribe":
            self.subscribed = True
            self._on_subscribed()
        elif kind == "pong":
            self._last_pong = now
        elif kind == "message":
            assert message is not None
            self._deliver(message["data"].decode("ascii", "replace"))
        if now - self._last_pong > DEAD_AFTER:
            # A connection that stopped answering (a hung server, a dropped network)
            # does not error by itself: the missing PONG is what tells.
            raise Stalled("no PONG from Redis")
        if now - self._last_ping >= PING_EVERY:
            self._last_ping = now
            return True
        return False

    def _deliver(self, session_id: str) -> None:
        try:
            self._on_invalidate(session_id)
        except Exception as exc:
            # Neither the id nor the message is logged: both may be cookie material.
            logger.error("session invalidation callback failed: %s", type(exc).__name__)


class Backoff:
    """Wait before reconnecting: short after a working connection, doubling otherwise."""

    def __init__(self) -> None:
        self._delay = BACKOFF_MIN

    def next(self, was_subscribed: bool) -> float:
        if was_subscribed:
            self._delay = BACKOFF_MIN
        delay, self._delay = self._delay, min(self._delay * 2, BACKOFF_MAX)
        return delay
