"""FakeOkta over a real socket for the doctor: uvicorn in a thread, without its own
``Date`` header (FakeOkta writes Okta's, from its clock: what the clock check reads)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from tests.fakeokta._servers import bind_free_port


@contextlib.contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Run ``app`` on a free loopback port; yield its base URL."""
    sock = bind_free_port()
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, date_header=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
