"""Driving the Okta conversation with a real httpx client, sync or async.

The two drivers are the only code that does network I/O. Each sends what the
conversation yields, with redirects never followed (#90), a cap on the decoded body
(#91) and an overall deadline that a drip-feeding server cannot stretch (#89,
R31), and sends back the response or throws the failure into the conversation.

The deadline covers the whole call, from connect to the last body byte. The async
driver gets it from a cancel scope. The blocking driver cannot be cancelled, and
httpx's timeouts are per read: a server sending one byte every second never trips
them. So the client of :func:`new_sync_client` waits on its sockets through
:class:`_DeadlineBackend`, which caps every connect, read and write at the time left
before the deadline of the call in progress.
"""

from __future__ import annotations

import contextvars
import ssl
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import httpcore
import httpx

from ._observe import Observer
from .settings import Settings
from .stores._base import StoreCall, StoreUnavailable

T = TypeVar("T")
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# zlib's wbits for each Content-Encoding we decode: a gzip wrapper, or a zlib one (RFC 9110
# "deflate"). Anything else (br, zstd, chains of codings) is refused, not guessed at.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

# When the blocking call in progress on this thread must end (time.monotonic()), if any.
_call_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "okta_magiclink_mw_call_deadline", default=None
)


class DeadlineExceeded(httpx.TimeoutException):
    """The whole call took longer than ``Settings.http_deadline``."""


class ResponseTooLarge(httpx.DecodingError):
    """The body grew past ``Settings.max_response_bytes`` (counted after decompression)."""


@dataclass
class _Flight:
    done: Any  # anyio.Event or threading.Event
    response: httpx.Response | None = None
    error: httpx.HTTPError | None = None
    #: How many callers have waited on this flight (what tests synchronise on).
    waiters: int = 0

    def result(self) -> httpx.Response | None:
        """The leader's answer; ``None`` if it stopped without one (it was cancelled)."""
        if self.error is not None:
            raise self.error
        return self.response


@dataclass
class SharedGets:
    """One GET per URL in flight at a time, its answer shared by every caller waiting on it.

    Sign-ins that arrive together on a cold start then fetch discovery and the signing
    keys once, not once each (R32: single-flight). POSTs are never shared. If the caller
    making the request is cancelled before it has an answer, the callers waiting on it
    ask again themselves (one of them leading the new request).
    """

    flights: dict[str, _Flight] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def default_timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(settings.http_timeout, connect=min(settings.http_timeout, 3.0))


def new_async_client(settings: Settings) -> httpx.AsyncClient:
    # retries= retries connection failures only, which is safe even for the one-shot
    # token POST: nothing reached Okta yet (R31).
    return httpx.AsyncClient(
        timeout=default_timeout(settings),
        transport=httpx.AsyncHTTPTransport(retries=2),
        follow_redirects=False,
    )


def new_sync_client(settings: Settings) -> httpx.Client:
    """A pooled client whose every socket wait ends by the deadline of the call (#89)."""
    return httpx.Client(
        timeout=default_timeout(settings),
        transport=_DeadlineTransport(retries=2),
        follow_redirects=False,
    )


# -- the deadline of a blocking call ------------------------------------------------------


def _time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` capped at the time left before this thread's call deadline."""
    deadline = _call_deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        # Not a zero timeout: a socket with timeout 0 is non-blocking, and fails otherwise.
        raise expired("deadline exceeded")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends by the deadline of the call using it."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking sockets, with every wait capped by :func:`_time_left`."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        # The back-off between connect retries: never past the deadline either.
        deadline = _call_deadline.get()
        if deadline is not None:
            seconds = max(0.0, min(seconds, deadline - time.monotonic()))
        self._inner.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport on :class:`_DeadlineBackend` sockets."""

    def __init__(self, retries: int) -> None:
        super().__init__(retries=retries)
        # httpx has no parameter for httpcore's network backend, so the pool HTTPTransport
        # built is replaced by one that has ours (with httpx's defaults for the rest).
        limits = httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=retries,
            network_backend=_DeadlineBackend(),
        )


# -- the body -----------------------------------------------------------------------------


class _Body:
    """The body as it comes off the wire, decompressed here so the cap counts what it
    decompresses to, never more than the cap plus one chunk in memory (#91).

    A transport that hands back a response already read (httpx's ``MockTransport``, respx)
    has had httpx decode it; :meth:`keep` then takes that, under the same cap.
    """

    def __init__(self, response: httpx.Response, limit: int) -> None:
        self._request = response.request
        self._limit = limit
        self._wire = 0
        self.data = bytearray()
        self._zlib = _decompressor(response)

    def feed(self, chunk: bytes) -> None:
        self._wire += len(chunk)
        if self._wire > self._limit:
            raise ResponseTooLarge("response body too large", request=self._request)
        if self._zlib is None:
            self.keep(chunk)
            return
        room = self._limit - len(self.data)
        try:
            # At most one byte past the cap comes out: enough to know it is too large.
            out = self._zlib.decompress(chunk, room + 1)
        except zlib.error as exc:
            raise httpx.DecodingError("malformed compressed body", request=self._request) from exc
        if len(out) > room or self._zlib.unconsumed_tail:
            raise ResponseTooLarge("response body too large", request=self._request)
        if self._zlib.unused_data:
            raise httpx.DecodingError("data after the compressed body", request=self._request)
        self.keep(out)

    def keep(self, data: bytes) -> None:
        """Add decoded bytes."""
        self.data += data
        if len(self.data) > self._limit:
            raise ResponseTooLarge("response body too large", request=self._request)

    def finish(self) -> bytes:
        if self._zlib is not None and self._wire and not self._zlib.eof:
            raise httpx.DecodingError("truncated compressed body", request=self._request)
        return bytes(self.data)


def _decompressor(response: httpx.Response) -> Any:
    """A zlib decompressor for the body's Content-Encoding; None when there is none."""
    header = response.headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _WBITS:
        raise httpx.DecodingError("unsupported content-encoding", request=response.request)
    return zlib.decompressobj(_WBITS[codings[0]])


def _for_okta(request: httpx.Request) -> httpx.Request:
    # Ask for an uncompressed answer; one compressed anyway is decoded by _Body, bounded.
    request.headers["accept-encoding"] = "identity"
    return request


def _finished(response: httpx.Response, request: httpx.Request, body: bytes) -> httpx.Response:
    # The body is already decoded; drop the headers that describe the wire encoding.
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in _DROPPED_HEADERS]
    return httpx.Response(response.status_code, headers=headers, content=body, request=request)


# -- the blocking driver ------------------------------------------------------------------


def drive_sync(
    flow: Generator[Any, Any, T],
    client: httpx.Client,
    settings: Settings,
    shared: SharedGets | None = None,
    store: Any = None,
    observer: Observer | None = None,
) -> T:
    """Run ``flow`` to completion with a blocking client (and ``store``'s sync methods
    for the flow's :class:`~okta_magiclink_mw.stores.StoreCall` effects).

    Each call ends by ``settings.http_deadline`` from its connect to its last body byte
    when ``client`` comes from :func:`new_sync_client`. A client of your own keeps its
    own transport: its phase timeouts are capped at the deadline and the body is read
    to the deadline, but a server that drips the status line and headers is bounded
    only by that client's per-read timeout.

    ``observer`` hears of each request that went out (a shared GET once, not once per
    caller waiting on it).
    """
    step: Any = None
    failure: BaseException | None = None
    while True:
        try:
            request = flow.throw(failure) if failure is not None else flow.send(step)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        step, failure = None, None
        if type(request) is StoreCall:
            try:
                step = getattr(store, request.operation)(*request.args)
            except StoreUnavailable as exc:
                failure = exc
            continue
        try:
            step = _send_sync_shared(client, _for_okta(request), settings, shared, observer)
        except httpx.HTTPError as exc:
            failure = exc


def _send_sync_shared(
    client: httpx.Client,
    request: httpx.Request,
    settings: Settings,
    shared: SharedGets | None,
    observer: Observer | None = None,
) -> httpx.Response:
    deadline = time.monotonic() + settings.http_deadline
    send = _send_sync if observer is None else _observed_sync(observer)
    if shared is None or request.method != "GET":
        return send(client, request, settings, deadline)
    key = str(request.url)
    while True:
        with shared.lock:
            flight = shared.flights.get(key)
            if flight is None:
                flight = shared.flights[key] = _Flight(threading.Event())
                break
            flight.waiters += 1
        if not flight.done.wait(max(0.0, deadline - time.monotonic())):
            raise DeadlineExceeded("deadline exceeded", request=request)
        response = flight.result()
        if response is not None:
            return response
        # The leader stopped without an answer: ask again, perhaps leading this time.
    try:
        flight.response = send(client, request, settings, deadline)
        return flight.response
    except httpx.HTTPError as exc:
        flight.error = exc
        raise
    finally:
        with shared.lock:
            del shared.flights[key]
        flight.done.set()


def _send_sync(
    client: httpx.Client, request: httpx.Request, settings: Settings, deadline: float
) -> httpx.Response:
    # Each phase timeout no longer than the deadline, for a client of the caller's own too.
    timeouts = request.extensions.get("timeout") or client.timeout.as_dict()
    request.extensions["timeout"] = {
        phase: settings.http_deadline if t is None else min(t, settings.http_deadline)
        for phase, t in timeouts.items()
    }
    token = _call_deadline.set(deadline)
    try:
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            body = _Body(response, settings.max_response_bytes)
            if response.is_stream_consumed:
                body.keep(response.content)
            else:
                for chunk in response.iter_raw():
                    body.feed(chunk)
                    if time.monotonic() > deadline:
                        raise DeadlineExceeded("deadline exceeded", request=request)
            content = body.finish()
        finally:
            response.close()  # mid-body, this closes the connection: nothing left dripping
    finally:
        _call_deadline.reset(token)
    return _finished(response, request, content)


# -- the async driver ---------------------------------------------------------------------


async def drive_async(
    flow: Generator[Any, Any, T],
    client: httpx.AsyncClient,
    settings: Settings,
    shared: SharedGets | None = None,
    store: Any = None,
    observer: Observer | None = None,
) -> T:
    """Run ``flow`` to completion with an async client (and ``store``'s async methods for
    the flow's store effects); each call to Okta ends by the deadline. ``observer``
    hears of each request that went out, as in :func:`drive_sync`."""
    step: Any = None
    failure: BaseException | None = None
    while True:
        try:
            request = flow.throw(failure) if failure is not None else flow.send(step)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        step, failure = None, None
        if type(request) is StoreCall:
            try:
                step = await getattr(store, "a" + request.operation)(*request.args)
            except StoreUnavailable as exc:
                failure = exc
            continue
        try:
            step = await _send_async_shared(client, _for_okta(request), settings, shared, observer)
        except httpx.HTTPError as exc:
            failure = exc


async def _send_async_shared(
    client: httpx.AsyncClient,
    request: httpx.Request,
    settings: Settings,
    shared: SharedGets | None,
    observer: Observer | None = None,
) -> httpx.Response:
    deadline = anyio.current_time() + settings.http_deadline
    send = _send_async if observer is None else _observed_async(observer)
    if shared is None or request.method != "GET":
        return await send(client, request, settings, deadline)
    key = str(request.url)
    # One event loop: no lock needed between awaits.
    while (flight := shared.flights.get(key)) is not None:
        flight.waiters += 1
        try:
            with anyio.fail_after(deadline - anyio.current_time()):
                await flight.done.wait()
        except TimeoutError as exc:
            raise DeadlineExceeded("deadline exceeded", request=request) from exc
        response = flight.result()
        if response is not None:
            return response
        # The leader was cancelled before it had an answer: ask again, perhaps leading.
    flight = shared.flights[key] = _Flight(anyio.Event())
    try:
        flight.response = await send(client, request, settings, deadline)
        return flight.response
    except httpx.HTTPError as exc:
        flight.error = exc
        raise
    finally:
        del shared.flights[key]
        flight.done.set()


async def _send_async(
    client: httpx.AsyncClient, request: httpx.Request, settings: Settings, deadline: float
) -> httpx.Response:
    try:
        with anyio.fail_after(deadline - anyio.current_time()):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                body = _Body(response, settings.max_response_bytes)
                if response.is_stream_consumed:
                    body.keep(response.content)
                else:
                    async for chunk in response.aiter_raw():
                        body.feed(chunk)
                content = body.finish()
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise DeadlineExceeded("deadline exceeded", request=request) from exc
    return _finished(response, request, content)


# -- timing each call, for an observer --------------------------------------------------

SendSync = Callable[[httpx.Client, httpx.Request, Settings, float], httpx.Response]
SendAsync = Callable[[httpx.AsyncClient, httpx.Request, Settings, float], Awaitable[httpx.Response]]


def _observed_sync(observer: Observer) -> SendSync:
    """:func:`_send_sync`, reporting each call's path, duration and status to ``observer``."""

    def send(
        client: httpx.Client, request: httpx.Request, settings: Settings, deadline: float
    ) -> httpx.Response:
        started = time.perf_counter()
        status: int | None = None
        try:
            response = _send_sync(client, request, settings, deadline)
            status = response.status_code
            return response
        finally:
            observer.okta_request(request.url.path, time.perf_counter() - started, status)

    return send


def _observed_async(observer: Observer) -> SendAsync:
    """:func:`_send_async`, reporting each call to ``observer`` (a cancelled one too)."""

    async def send(
        client: httpx.AsyncClient, request: httpx.Request, settings: Settings, deadline: float
    ) -> httpx.Response:
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await _send_async(client, request, settings, deadline)
            status = response.status_code
            return response
        finally:
            observer.okta_request(request.url.path, time.perf_counter() - started, status)

    return send
