"""Concurrent sign-ins on a cold start share one GET per URL (R32 single-flight, #79)."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx

from okta_magiclink_mw._transport import SharedGets, drive_async, drive_sync
from tests.conftest import make_settings

URL = "https://org.example/.well-known/openid-configuration"


def fetch(method: str = "GET") -> Generator[httpx.Request, httpx.Response, Any]:
    try:
        response = yield httpx.Request(method, URL)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return response.status_code


class Counting:
    def __init__(self, status: int = 200, fail: bool = False) -> None:
        self.calls = 0
        self.status = status
        self.fail = fail
        self.lock = threading.Lock()

    def sync(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls += 1
        time.sleep(0.05)
        if self.fail:
            raise httpx.ConnectError("down", request=request)
        return httpx.Response(self.status, json={"ok": True})

    async def async_(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        await anyio.sleep(0.05)
        if self.fail:
            raise httpx.ConnectError("down", request=request)
        return httpx.Response(self.status, json={"ok": True})


def run_async(handler: Counting, count: int, method: str = "GET") -> list[Any]:
    results: list[Any] = []
    shared = SharedGets()

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler.async_)) as client:

            async def one() -> None:
                results.append(await drive_async(fetch(method), client, make_settings(), shared))

            async with anyio.create_task_group() as tg:
                for _ in range(count):
                    tg.start_soon(one)

    anyio.run(main)
    assert shared.flights == {}
    return results


def test_async_concurrent_gets_share_one_request() -> None:
    handler = Counting()
    assert run_async(handler, 8) == [200] * 8
    assert handler.calls == 1


def test_async_failure_is_shared_too() -> None:
    handler = Counting(fail=True)
    assert run_async(handler, 5) == ["ConnectError"] * 5
    assert handler.calls == 1


def test_async_posts_are_never_shared() -> None:
    handler = Counting()
    assert run_async(handler, 4, method="POST") == [200] * 4
    assert handler.calls == 4


def test_sync_concurrent_gets_share_one_request() -> None:
    handler = Counting()
    shared = SharedGets()
    with httpx.Client(transport=httpx.MockTransport(handler.sync)) as client:

        def one(_: int) -> Any:
            return drive_sync(fetch(), client, make_settings(), shared)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(8)))
    assert results == [200] * 8
    assert handler.calls == 1
    assert shared.flights == {}


def test_sync_failure_is_shared_and_later_calls_try_again() -> None:
    handler = Counting(fail=True)
    shared = SharedGets()
    with httpx.Client(transport=httpx.MockTransport(handler.sync)) as client:
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(lambda _: drive_sync(fetch(), client, make_settings(), shared), range(4))
            )
        assert results == ["ConnectError"] * 4
        assert handler.calls == 1
        handler.fail = False
        assert drive_sync(fetch(), client, make_settings(), shared) == 200
        assert handler.calls == 2


def test_sync_waiter_gives_up_at_the_deadline() -> None:
    shared = SharedGets()
    release = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        release.wait(5)
        return httpx.Response(200)

    settings = make_settings(http_deadline=0.2)
    with (
        httpx.Client(transport=httpx.MockTransport(slow)) as client,
        ThreadPoolExecutor(2) as pool,
    ):
        leader = pool.submit(drive_sync, fetch(), client, make_settings(), shared)
        while not shared.flights:
            time.sleep(0.01)
        waiter = pool.submit(drive_sync, fetch(), client, settings, shared)
        assert waiter.result(timeout=5) == "DeadlineExceeded"
        release.set()
        assert leader.result(timeout=5) == 200
