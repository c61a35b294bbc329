"""The two drivers of the Okta conversation: redirects, body cap, deadline (R31, #89-91)."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import anyio
import httpx
import pytest

from okta_magiclink_mw import _transport
from okta_magiclink_mw._transport import (
    DeadlineExceeded,
    ResponseTooLarge,
    default_timeout,
    drive_async,
    drive_sync,
    new_async_client,
    new_sync_client,
)
from tests.conftest import make_settings

URL = "https://org.example/x"


def conversation(n: int = 1) -> Generator[httpx.Request, httpx.Response, list[Any]]:
    """Yield n requests; return what came back (responses or thrown error names)."""
    seen: list[Any] = []
    for _ in range(n):
        try:
            response = yield httpx.Request("GET", URL)
            seen.append((response.status_code, response.content, dict(response.headers)))
        except httpx.HTTPError as exc:
            seen.append(type(exc).__name__)
    return seen


def sync_client(handler: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def async_client(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def test_clients_are_configured() -> None:
    s = make_settings(http_timeout=4.0)
    t = default_timeout(s)
    assert (t.connect, t.read) == (3.0, 4.0)
    sync = new_sync_client(s)
    assert sync.follow_redirects is False
    assert sync.timeout.read == 4.0
    sync.close()
    a = new_async_client(s)
    assert a.follow_redirects is False
    anyio.run(a.aclose)


def test_sync_response_and_decoding() -> None:
    body = gzip.compress(b'{"ok": true}')

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=body, headers={"content-encoding": "gzip", "content-type": "a/b"}
        )

    [(status, content, headers)] = drive_sync(conversation(), sync_client(handler), make_settings())
    assert (status, content) == (200, b'{"ok": true}')
    assert "content-encoding" not in headers
    assert headers["content-type"] == "a/b"


def test_sync_redirect_is_not_followed() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(302, headers={"location": "https://evil.example/"})

    client = httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True)
    [(status, _, headers)] = drive_sync(conversation(), client, make_settings())
    assert headers["location"] == "https://evil.example/"
    assert status == 302
    assert calls == [URL]


def test_sync_body_cap_and_errors_are_thrown_in() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "n" in request.headers:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, content=b"x" * 2000)

    result = drive_sync(
        conversation(), sync_client(handler), make_settings(max_response_bytes=1000)
    )
    assert result == ["ResponseTooLarge"]

    def flow() -> Generator[httpx.Request, httpx.Response, str]:
        try:
            yield httpx.Request("GET", URL, headers={"n": "1"})
        except httpx.ConnectError:
            return "connect error seen"
        return "no error"

    assert drive_sync(flow(), sync_client(handler), make_settings()) == "connect error seen"


def test_sync_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(0, 10_000, 4))
    monkeypatch.setattr(_transport.time, "monotonic", lambda: float(next(ticks)))

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())

    result = drive_sync(conversation(), sync_client(handler), make_settings(http_deadline=10))
    assert result == ["DeadlineExceeded"]


def test_async_response_cap_and_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/big":
            return httpx.Response(200, content=b"x" * 2000)
        if request.url.path == "/down":
            raise httpx.ConnectError("refused")
        return httpx.Response(201, content=b"ok")

    def flow() -> Generator[httpx.Request, httpx.Response, list[Any]]:
        out: list[Any] = []
        for path in ("/ok", "/big", "/down"):
            try:
                response = yield httpx.Request("GET", f"https://org.example{path}")
                out.append(response.status_code)
            except httpx.HTTPError as exc:
                out.append(type(exc).__name__)
        return out

    async def main() -> list[Any]:
        async with async_client(handler) as client:
            return await drive_async(flow(), client, make_settings(max_response_bytes=1000))

    assert anyio.run(main) == [201, "ResponseTooLarge", "ConnectError"]


def test_async_deadline() -> None:
    async def drip() -> AsyncIterator[bytes]:
        for _ in range(10):
            await anyio.sleep(0)
            yield b"x"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=drip())

    async def main() -> list[Any]:
        async with async_client(handler) as client:
            return await drive_async(conversation(), client, make_settings(http_deadline=1e-9))

    assert anyio.run(main) == ["DeadlineExceeded"]


def test_error_types() -> None:
    assert issubclass(DeadlineExceeded, httpx.TimeoutException)
    assert issubclass(ResponseTooLarge, httpx.HTTPError)
    assert not issubclass(ResponseTooLarge, httpx.TransportError)  # a 502, not "unreachable"
