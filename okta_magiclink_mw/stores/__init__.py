"""Where sessions live when several processes or hosts serve one app.

``Settings(session_store="redis://...")`` is all most deployments need; an app that
builds its own client passes ``session_store=RedisSessionStore(client=...)`` to the
middleware. :class:`MemoryRecordStore` keeps records in this process (for tests, and
for several middlewares in one process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import (
    AsyncRecordStore as AsyncRecordStore,
)
from ._base import (
    RecordStore as RecordStore,
)
from ._base import (
    SessionInfo as SessionInfo,
)
from ._base import (
    StoreCall as StoreCall,
)
from ._base import (
    StoredSession as StoredSession,
)
from ._base import (
    StoreUnavailable as StoreUnavailable,
)

if TYPE_CHECKING:
    from .redis import RedisSessionStore as RedisSessionStore


def open_store(url: str) -> RecordStore:
    """The store a ``session_store`` URL names (redis-py is imported only here)."""
    from .redis import RedisSessionStore

    return RedisSessionStore(url=url)


def __getattr__(name: str) -> Any:
    if name == "RedisSessionStore":
        from .redis import RedisSessionStore

        return RedisSessionStore
    raise AttributeError(name)
