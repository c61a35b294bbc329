"""In-process httpx transports onto an ASGI app."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from starlette.types import ASGIApp

from ._faults import ConnectionDropped

T = TypeVar("T")


def _dropped(request: httpx.Request) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(
        "Server disconnected without sending a response.", request=request
    )


class FakeAsyncTransport(httpx.AsyncBaseTransport):
    """:class:`httpx.ASGITransport` that maps a dropped connection to a transport error."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ConnectionDropped:
            raise _dropped(request) from None


class _LoopThread:
    """A private event loop running in a daemon thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="fakeokta-sync-transport", daemon=True
                ).start()
                self._loop = loop
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()


class FakeSyncTransport(httpx.BaseTransport):
    """Sync transport for :class:`httpx.Client` running the ASGI app in a private loop.

    Safe to use from code that itself runs inside an event loop (the app runs
    in a separate thread).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._inner = FakeAsyncTransport(app)
        self._runner = _LoopThread()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        replay = httpx.Request(
            request.method, request.url, headers=request.headers, content=content
        )

        async def call() -> tuple[int, httpx.Headers, bytes]:
            response = await self._inner.handle_async_request(replay)
            body = await response.aread()
            return response.status_code, response.headers, body

        try:
            status, headers, body = self._runner.run(call())
        except httpx.TransportError as exc:
            raise type(exc)(str(exc), request=request) from None
        return httpx.Response(status, headers=headers, content=body, request=request)
