"""How long ``wait_unlocked`` waits and how often it looks, decided without I/O.

Every store's wait follows the same rules, so a caller gets the same bound from
memory and from Redis:

* ``timeout`` is in seconds, at least 0 (0: look once, do not wait). It is capped at
  :data:`MAX_WAIT`: a waiter holds a worker thread or a request, and a lock holder
  that has not finished by then (the middleware's own Okta calls end within
  ``Settings.http_deadline``, 10 s by default) is stuck or dead; its lease frees the
  lock, and the caller is better off answering than queueing behind it.
* No sleep runs past the deadline and no look starts after it; a look that is already
  under way is one store call, so the whole wait ends within ``timeout`` plus one
  store call (for Redis at most ``socket_timeout``, and then it raises
  :class:`~._base.StoreUnavailable`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds between two looks at a lock held elsewhere (Redis, and the async memory wait).
WAIT_POLL = 0.01
#: The longest any ``wait_unlocked`` waits, whatever its ``timeout``.
MAX_WAIT = 60.0


class Deadline:
    """The end of one wait, on a monotonic clock."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not timeout >= 0:  # also refuses NaN
            raise ValueError("timeout must be a number of seconds, at least 0")
        self._clock = clock
        self._end = clock() + min(timeout, MAX_WAIT)

    def remaining(self) -> float:
        """Seconds left; 0 or less once the time is up."""
        return self._end - self._clock()

    def pause(self) -> float | None:
        """How long to sleep before looking again; None when the time is up."""
        left = self.remaining()
        return None if left <= 0 else min(WAIT_POLL, left)
