"""FakeOkta on a loopback port, for the pytest plugin: one uvicorn server for the whole
test session, serving whichever FakeOkta the current test has (a fresh org per test).

On a real port, the middleware's own HTTP client reaches it as it would reach Okta: no
``http_client=`` to inject into the app under test.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

    from ._app import FakeOkta

MISSING_UVICORN = (
    "the fake_okta fixture serves FakeOkta with uvicorn, which is not installed: "
    "pip install 'okta-magiclink-mw[testing]'"
)

_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


def _closing(send: Send) -> Send:
    """``Connection: close`` on every answer: no connection outlives a request. The app
    under test may run each request in a new event loop (Starlette's ``TestClient``
    outside a ``with`` block does); a pooled connection of a closed loop would fail the
    next request to Okta with "Event loop is closed"."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"connection", b"close")]
            message = {**message, "headers": headers}
        await send(message)

    return send_closing


class FakeOktaServer:
    """A uvicorn server on ``127.0.0.1`` in a daemon thread; :meth:`serving` puts a
    FakeOkta behind it for a while. Without one it answers 503."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.current: FakeOkta | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fake = self.current
        if fake is None:
            if scope["type"] == "http":
                body = b"No test is running: this FakeOkta serves only during a test."
                start = {"type": "http.response.start", "status": 503, "headers": _TEXT}
                await send(start)
                await send({"type": "http.response.body", "body": body})
            return
        await fake(scope, receive, _closing(send))

    @contextmanager
    def serving(self, fake: FakeOkta) -> Iterator[FakeOkta]:
        self.current = fake
        try:
            yield fake
        finally:
            self.current = None

    def start(self) -> None:
        try:
            import uvicorn
        except ImportError:
            raise RuntimeError(MISSING_UVICORN) from None
        # FakeOkta writes its own Date header, from its clock; lifespan: nothing to start.
        config = uvicorn.Config(
            self, log_level="warning", access_log=False, date_header=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="fake-okta",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"FakeOkta's server did not start on {self.url}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()
