"""The two drivers of the Okta conversation: redirects, body cap, deadline (R31, #89-91)."""

from __future__ import annotations

import gzip
import ssl
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any

import anyio
import httpcore
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


# -- the body cap counts decompressed bytes (#91): a gzip bomb is refused in bounded memory


BOMB = gzip.compress(b"\0" * 50_000_000, compresslevel=9)  # about 50 KB on the wire


def bomb(request: httpx.Request) -> httpx.Response:
    # stream=, not content=: a Response built with content= is read (and decoded) at once.
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    return httpx.Response(200, stream=httpx.ByteStream(BOMB), headers=headers)


def peak_memory(run: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sync_gzip_bomb_is_refused_in_bounded_memory() -> None:
    assert len(BOMB) < 100_000
    result, peak = peak_memory(
        lambda: drive_sync(conversation(), sync_client(bomb), make_settings())
    )
    assert result == ["ResponseTooLarge"]
    assert peak < 8_000_000, peak


def test_async_gzip_bomb_is_refused_in_bounded_memory() -> None:
    async def main() -> list[Any]:
        async with async_client(bomb) as client:
            return await drive_async(conversation(), client, make_settings())

    result, peak = peak_memory(lambda: anyio.run(main))
    assert result == ["ResponseTooLarge"]
    assert peak < 8_000_000, peak


def encoded(body: bytes, encoding: str, status: int = 200, read: bool = False) -> Any:
    """A handler answering ``body`` as it would come off the wire (or, with ``read``, as
    a mock's pre-read response: decoded by httpx before the driver sees it)."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-encoding": encoding}
        if read:
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, stream=httpx.ByteStream(body), headers=headers)

    return handler


def both_drivers(handler: Any, **settings: Any) -> list[Any]:
    """The same one-request conversation through each driver; both must agree."""
    s = make_settings(**settings)
    sync = drive_sync(conversation(), sync_client(handler), s)

    async def main() -> list[Any]:
        async with async_client(handler) as client:
            return await drive_async(conversation(), client, s)

    assert anyio.run(main) == sync
    return sync


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (gzip.compress(b'{"a": 1}'), "gzip"),
        (gzip.compress(b'{"a": 1}'), "GZIP"),
        (zlib.compress(b'{"a": 1}'), "deflate"),
        (b'{"a": 1}', "identity"),
        (gzip.compress(b'{"a": 1}'), "identity, gzip"),
    ],
)
@pytest.mark.parametrize("read", [False, True])
def test_compressed_answers_are_decoded(body: bytes, encoding: str, read: bool) -> None:
    [(status, content, headers)] = both_drivers(encoded(body, encoding, read=read))
    assert (status, content) == (200, b'{"a": 1}')
    assert "content-encoding" not in headers


def test_x_gzip_is_gzip() -> None:
    [(_, content, _)] = both_drivers(encoded(gzip.compress(b"{}"), "x-gzip"))
    assert content == b"{}"


def test_an_empty_compressed_body_is_empty() -> None:
    [(status, content, _)] = both_drivers(encoded(b"", "gzip", status=204))
    assert (status, content) == (204, b"")


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b"\x1b\x00", "br"),
        (b"(\xb5/\xfd", "zstd"),
        (gzip.compress(gzip.compress(b"{}")), "gzip, gzip"),
        (b"{}", "compress"),
        (b"not gzip at all", "gzip"),
        (gzip.compress(b'{"a": 1}')[:-6], "gzip"),  # truncated
        (gzip.compress(b'{"a": 1}') + b"tail", "gzip"),  # something after the end
    ],
)
def test_unknown_or_broken_encodings_are_refused(body: bytes, encoding: str) -> None:
    assert both_drivers(encoded(body, encoding)) == ["DecodingError"]


def test_the_cap_counts_bytes_on_the_wire_too() -> None:
    # Stored (level 0) gzip is larger than what it decodes to: the wire bytes count too.
    plain = bytes(range(256)) * 8
    stored = gzip.compress(plain, compresslevel=0)
    assert len(stored) > len(plain)
    handler = encoded(stored, "gzip")
    assert both_drivers(handler, max_response_bytes=len(stored) - 1) == ["ResponseTooLarge"]
    [(_, content, _)] = both_drivers(handler, max_response_bytes=len(stored))
    assert content == plain


@pytest.mark.parametrize("read", [False, True])
def test_a_body_exactly_at_the_cap_is_accepted(read: bool) -> None:
    handler = encoded(gzip.compress(b"x" * 1000), "gzip", read=read)
    [(_, content, _)] = both_drivers(handler, max_response_bytes=1000)
    assert content == b"x" * 1000
    assert both_drivers(handler, max_response_bytes=999) == ["ResponseTooLarge"]


def test_every_request_asks_for_no_compression() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept-encoding", ""))
        return httpx.Response(200)

    client = httpx.Client(transport=httpx.MockTransport(handler), headers={"accept-encoding": "br"})
    drive_sync(conversation(2), client, make_settings())

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await drive_async(conversation(), client, make_settings())

    anyio.run(main)
    assert seen == ["identity"] * 3


# -- the deadline of a blocking call (#89): every socket wait capped at the time left ----------


def test_a_custom_sync_client_gets_its_phase_timeouts_capped_at_the_deadline() -> None:
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200)

    for timeout in (httpx.Timeout(None), httpx.Timeout(30.0, connect=0.5)):
        client = httpx.Client(transport=httpx.MockTransport(handler), timeout=timeout)
        drive_sync(conversation(), client, make_settings(http_deadline=2.0))
    assert seen == [
        {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0},
        {"connect": 0.5, "read": 2.0, "write": 2.0, "pool": 2.0},
    ]


class FakeStream(httpcore.NetworkStream):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.calls.append(("read", timeout))
        return b"x"

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.calls.append(("write", timeout))

    def close(self) -> None:
        self.calls.append(("close", None))

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        self.calls.append(("start_tls", timeout))
        return self

    def get_extra_info(self, info: str) -> Any:
        return f"info:{info}"


class FakeBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.stream = FakeStream()
        self.calls: list[tuple[str, Any]] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, *_: Any) -> Any:
        self.calls.append(("connect_tcp", timeout))
        return self.stream

    def connect_unix_socket(self, path: str, timeout: float | None = None, *_: Any) -> Any:
        self.calls.append(("connect_unix_socket", timeout))
        return self.stream

    def sleep(self, seconds: float) -> None:
        self.calls.append(("sleep", seconds))


def test_the_backend_caps_every_wait_at_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(_transport.time, "monotonic", lambda: now[0])
    inner = FakeBackend()
    backend = _transport._DeadlineBackend(inner)

    # No call in progress: the timeouts pass through as given.
    stream = backend.connect_tcp("h", 1, timeout=3.0)
    stream.read(10, timeout=None)
    backend.sleep(5.0)
    assert inner.calls == [("connect_tcp", 3.0), ("sleep", 5.0)]
    assert inner.stream.calls == [("read", None)]
    inner.calls.clear()
    inner.stream.calls.clear()

    token = _transport._call_deadline.set(102.0)
    try:
        stream = backend.connect_tcp("h", 1, timeout=3.0)
        tls = stream.start_tls(ssl.create_default_context(), "h", timeout=1.0)
        now[0] = 101.0
        tls.write(b"GET", timeout=5.0)
        assert tls.read(10, timeout=None) == b"x"
        assert tls.get_extra_info("ssl_object") == "info:ssl_object"
        backend.sleep(0.5)
        backend.sleep(5.0)
        backend.connect_unix_socket("/s", timeout=None)
        tls.close()
        now[0] = 102.0  # the deadline: every wait now fails at once, as a timeout
        with pytest.raises(httpcore.ReadTimeout):
            tls.read(10, timeout=5.0)
        with pytest.raises(httpcore.WriteTimeout):
            tls.write(b"x", timeout=5.0)
        with pytest.raises(httpcore.ConnectTimeout):
            backend.connect_tcp("h", 1, timeout=3.0)
        with pytest.raises(httpcore.ConnectTimeout):
            stream.start_tls(ssl.create_default_context(), "h", timeout=3.0)
        backend.sleep(5.0)
    finally:
        _transport._call_deadline.reset(token)
    assert inner.calls == [
        ("connect_tcp", 2.0),
        ("sleep", 0.5),
        ("sleep", 1.0),
        ("connect_unix_socket", 1.0),
        ("sleep", 0.0),
    ]
    assert inner.stream.calls == [
        ("start_tls", 1.0),
        ("write", 1.0),
        ("read", 1.0),
        ("close", None),
    ]


def test_the_default_sync_client_uses_the_deadline_backend() -> None:
    client = new_sync_client(make_settings())
    try:
        transport = client._transport
        assert isinstance(transport, _transport._DeadlineTransport)
        assert isinstance(transport._pool._network_backend, _transport._DeadlineBackend)
    finally:
        client.close()
