"""The server as an ASGI app: lifespan, websockets, and a readiness check cut short."""

from __future__ import annotations

from typing import Any

import anyio

from okta_magiclink_mw.server import create_app
from okta_magiclink_mw.server._ready import Readiness
from okta_magiclink_mw.stores import MemoryRecordStore
from tests.conftest import FakeClock, FakeOkta, make_settings

from .conftest import ENV


class ClosingStore(MemoryRecordStore):
    closed = False

    async def aclose(self) -> None:
        self.closed = True


def test_lifespan_closes_the_store_and_websockets_are_closed(
    okta: FakeOkta, clock: FakeClock
) -> None:
    store = ClosingStore(clock=clock)
    app = create_app(dict(ENV), clock=clock, session_store=store)

    async def call(scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent

    async def run() -> None:
        lifespan = {"type": "lifespan", "asgi": {"version": "3.0"}}
        messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        socket = {
            "type": "websocket",
            "path": "/ws",
            "raw_path": b"/ws",
            "query_string": b"",
            "headers": [],
            "scheme": "wss",
        }
        closed = await call(socket, [{"type": "websocket.connect"}])
        # Not signed in: the middleware refuses it (1008); signed in, the app closes it.
        assert closed == [{"type": "websocket.close", "code": 1008}]
        minted = app.core.sessions.mint_flow({"sub": "00u-ada"}, None, clock())
        _, header = await app._drive(minted)
        cookie = header.split(";", 1)[0].encode()
        signed_in = {**socket, "headers": [(b"cookie", cookie)]}
        closed = await call(signed_in, [{"type": "websocket.connect"}])
        assert closed == [{"type": "websocket.close", "code": 1000}]
        sent = await call(lifespan, messages)
        assert [m["type"] for m in sent] == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]

    anyio.run(run)
    assert store.closed


def test_a_probe_that_takes_too_long_is_a_503() -> None:
    async def hang(flow: Any) -> Any:
        await anyio.sleep(5)

    async def run() -> tuple[int, bytes]:
        readiness = Readiness(make_settings(), hang, has_store=False, cache_for=0, timeout=0.05)
        return await readiness.answer()

    status, body = anyio.run(run)
    assert status == 503
    assert b"okta_timeout: no answer within 0.05 s" in body
