"""Driving the Okta conversation with a real httpx client, sync or async.

The two drivers are the only code that does network I/O. Each sends what the
conversation yields, with redirects never followed (#90), a cap on the body
(#91) and an overall deadline that a drip-feeding server cannot stretch (#89,
R31), and sends back the response or throws the failure into the conversation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import httpx

from .settings import Settings

T = TypeVar("T")
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class DeadlineExceeded(httpx.TimeoutException):
    """The whole call took longer than ``Settings.http_deadline``."""


class ResponseTooLarge(httpx.DecodingError):
    """The body grew past ``Settings.max_response_bytes``."""


@dataclass
class _Flight:
    done: Any  # anyio.Event or threading.Event
    response: httpx.Response | None = None
    error: httpx.HTTPError | None = None

    def result(self) -> httpx.Response:
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


@dataclass
class SharedGets:
    """One GET per URL in flight at a time, its answer shared by every caller waiting on it.

    Sign-ins that arrive together on a cold start then fetch discovery and the signing
    keys once, not once each (R32: single-flight). POSTs are never shared.
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
    return httpx.Client(
        timeout=default_timeout(settings),
        transport=httpx.HTTPTransport(retries=2),
        follow_redirects=False,
    )


def _finished(response: httpx.Response, request: httpx.Request, body: bytes) -> httpx.Response:
    # The body is already decoded; drop the headers that describe the wire encoding.
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in _DROPPED_HEADERS]
    return httpx.Response(response.status_code, headers=headers, content=body, request=request)


def drive_sync(
    flow: Generator[httpx.Request, httpx.Response, T],
    client: httpx.Client,
    settings: Settings,
    shared: SharedGets | None = None,
) -> T:
    """Run ``flow`` to completion with a blocking client."""
    step: Any = None
    failure: BaseException | None = None
    while True:
        try:
            request = flow.throw(failure) if failure is not None else flow.send(step)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        step, failure = None, None
        try:
            step = _send_sync_shared(client, request, settings, shared)
        except httpx.HTTPError as exc:
            failure = exc


def _send_sync_shared(
    client: httpx.Client, request: httpx.Request, settings: Settings, shared: SharedGets | None
) -> httpx.Response:
    if shared is None or request.method != "GET":
        return _send_sync(client, request, settings)
    key = str(request.url)
    with shared.lock:
        flight = shared.flights.get(key)
        leading = flight is None
        if flight is None:
            flight = shared.flights[key] = _Flight(threading.Event())
    if not leading:
        if not flight.done.wait(settings.http_deadline):
            raise DeadlineExceeded("deadline exceeded", request=request)
        return flight.result()
    try:
        flight.response = _send_sync(client, request, settings)
        return flight.response
    except httpx.HTTPError as exc:
        flight.error = exc
        raise
    finally:
        with shared.lock:
            del shared.flights[key]
        flight.done.set()


def _send_sync(client: httpx.Client, request: httpx.Request, settings: Settings) -> httpx.Response:
    deadline = time.monotonic() + settings.http_deadline
    response = client.send(request, stream=True, follow_redirects=False)
    try:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > settings.max_response_bytes:
                raise ResponseTooLarge("response body too large", request=request)
            if time.monotonic() > deadline:
                raise DeadlineExceeded("deadline exceeded", request=request)
    finally:
        response.close()
    return _finished(response, request, bytes(body))


async def drive_async(
    flow: Generator[httpx.Request, httpx.Response, T],
    client: httpx.AsyncClient,
    settings: Settings,
    shared: SharedGets | None = None,
) -> T:
    """Run ``flow`` to completion with an async client."""
    step: Any = None
    failure: BaseException | None = None
    while True:
        try:
            request = flow.throw(failure) if failure is not None else flow.send(step)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        step, failure = None, None
        try:
            step = await _send_async_shared(client, request, settings, shared)
        except httpx.HTTPError as exc:
            failure = exc


async def _send_async_shared(
    client: httpx.AsyncClient,
    request: httpx.Request,
    settings: Settings,
    shared: SharedGets | None,
) -> httpx.Response:
    if shared is None or request.method != "GET":
        return await _send_async(client, request, settings)
    key = str(request.url)
    flight = shared.flights.get(key)  # one event loop: no lock needed between awaits
    if flight is not None:
        await flight.done.wait()
        return flight.result()
    flight = shared.flights[key] = _Flight(anyio.Event())
    try:
        flight.response = await _send_async(client, request, settings)
        return flight.response
    except httpx.HTTPError as exc:
        flight.error = exc
        raise
    finally:
        del shared.flights[key]
        flight.done.set()


async def _send_async(
    client: httpx.AsyncClient, request: httpx.Request, settings: Settings
) -> httpx.Response:
    try:
        with anyio.fail_after(settings.http_deadline):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > settings.max_response_bytes:
                        raise ResponseTooLarge("response body too large", request=request)
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise DeadlineExceeded("deadline exceeded", request=request) from exc
    return _finished(response, request, bytes(body))
