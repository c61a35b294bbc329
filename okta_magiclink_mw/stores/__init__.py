"""Where server-side session records live: the protocol and the stores.

:class:`MemoryRecordStore` keeps them in this process; :class:`RedisSessionStore`
shares them between instances through Redis, and needs the ``redis`` extra
(``pip install 'okta-magiclink-mw[redis]'``). It is imported on first use, so this
package imports without redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import AsyncRecordStore as AsyncRecordStore
from ._base import OnInvalidate as OnInvalidate
from ._base import RecordStore as RecordStore
from ._base import SessionInfo as SessionInfo
from ._base import StoreCall as StoreCall
from ._base import StoredSession as StoredSession
from ._base import StoreUnavailable as StoreUnavailable
from .memory import MemoryRecordStore as MemoryRecordStore

if TYPE_CHECKING:
    from .redis import RedisSessionStore as RedisSessionStore

__all__ = [
    "AsyncRecordStore",
    "MemoryRecordStore",
    "OnInvalidate",
    "RecordStore",
    "RedisSessionStore",
    "SessionInfo",
    "StoreCall",
    "StoreUnavailable",
    "StoredSession",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name == "RedisSessionStore":
        try:
            from .redis import RedisSessionStore
        except ImportError as exc:
            if exc.name is None or exc.name.partition(".")[0] != "redis":
                raise
            raise ImportError(
                "RedisSessionStore needs redis-py: pip install 'okta-magiclink-mw[redis]'"
            ) from exc
        return RedisSessionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(url: str) -> RecordStore:
    """The store a ``session_store`` URL names (redis-py is imported only here)."""
    store: RecordStore = __getattr__("RedisSessionStore")(url=url)
    return store
