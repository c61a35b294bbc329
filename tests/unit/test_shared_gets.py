"""Concurrent sign-ins on a cold start share one GET per URL (R32 single-flight, #79).

The fake Okta holds every request until the test has seen all callers line up (the
waiters registered on the flight, or every POST inside the handler), so no test depends
on threads or tasks arriving within some sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx
import pytest

from okta_magiclink_mw._transport import SharedGets, drive_async, drive_sync
from tests.conftest import make_settings

URL = "https://org.example/.well-known/openid-configuration"


def fetch(method: str = "GET") -> Generator[httpx.Request, httpx.Response, Any]:
    try:
        response = yield httpx.Request(method, URL)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return response.status_code


def lined_up(shared: SharedGets, count: int, method: str, calls: Callable[[], int]) -> bool:
    """All ``count`` callers are in: one request in flight and the rest waiting on it (GET),
    or every request inside the handler (POST, never shared)."""
    if method != "GET":
        return calls() == count
    flight = shared.flights.get(URL)
    return flight is not None and flight.waiters == count - 1


class Gated:
    """A fake Okta that counts requests and answers none until ``release`` is set."""

    def __init__(self, status: int = 200, fail: bool = False) -> None:
        self.calls = 0
        self.status = status
        self.fail = fail
        self.lock = threading.Lock()
        self.sync_release = threading.Event()
        self.async_release: anyio.Event | None = None

    def answer(self, request: httpx.Request) -> httpx.Response:
        if self.fail:
            raise httpx.ConnectError("down", request=request)
        return httpx.Response(self.status, json={"ok": True})

    def sync(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls += 1
        assert self.sync_release.wait(10), "the test never released the request"
        return self.answer(request)

    async def async_(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        assert self.async_release is not None
        with anyio.fail_after(10):
            await self.async_release.wait()
        return self.answer(request)


def run_async(handler: Gated, count: int, method: str = "GET") -> list[Any]:
    results: list[Any] = []
    shared = SharedGets()

    async def main() -> None:
        handler.async_release = anyio.Event()
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler.async_)) as client:

            async def one() -> None:
                results.append(await drive_async(fetch(method), client, make_settings(), shared))

            async with anyio.create_task_group() as tg:
                for _ in range(count):
                    tg.start_soon(one)
                with anyio.fail_after(10):
                    while not lined_up(shared, count, method, lambda: handler.calls):
                        await anyio.sleep(0)
                handler.async_release.set()

    anyio.run(main)
    assert shared.flights == {}
    return results


def run_sync(handler: Gated, count: int, shared: SharedGets | None = None) -> list[Any]:
    shared = shared if shared is not None else SharedGets()
    with (
        httpx.Client(transport=httpx.MockTransport(handler.sync)) as client,
        ThreadPoolExecutor(count) as pool,
    ):
        futures = [
            pool.submit(drive_sync, fetch(), client, make_settings(), shared) for _ in range(count)
        ]
        give_up = time.monotonic() + 10
        while not lined_up(shared, count, "GET", lambda: handler.calls):
            assert time.monotonic() < give_up, "the callers never lined up"
            time.sleep(0.001)  # polling a condition, not waiting for threads to win a race
        handler.sync_release.set()
        results = [f.result(timeout=10) for f in futures]
    assert shared.flights == {}
    return results


def test_async_concurrent_gets_share_one_request() -> None:
    handler = Gated()
    assert run_async(handler, 8) == [200] * 8
    assert handler.calls == 1


def test_async_failure_is_shared_too() -> None:
    handler = Gated(fail=True)
    assert run_async(handler, 5) == ["ConnectError"] * 5
    assert handler.calls == 1


def test_async_posts_are_never_shared() -> None:
    handler = Gated()
    assert run_async(handler, 4, method="POST") == [200] * 4
    assert handler.calls == 4


def test_sync_concurrent_gets_share_one_request() -> None:
    handler = Gated()
    assert run_sync(handler, 8) == [200] * 8
    assert handler.calls == 1


def test_sync_failure_is_shared_and_later_calls_try_again() -> None:
    handler = Gated(fail=True)
    shared = SharedGets()
    assert run_sync(handler, 4, shared) == ["ConnectError"] * 4
    assert handler.calls == 1
    handler.fail = False
    with httpx.Client(transport=httpx.MockTransport(handler.sync)) as client:
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


def test_async_waiter_gives_up_at_the_deadline() -> None:
    shared = SharedGets()
    results: dict[str, Any] = {}

    async def main() -> None:
        release = anyio.Event()

        async def slow(request: httpx.Request) -> httpx.Response:
            await release.wait()
            return httpx.Response(200)

        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client,
            anyio.create_task_group() as tg,
        ):

            async def leader() -> None:
                results["leader"] = await drive_async(fetch(), client, make_settings(), shared)

            tg.start_soon(leader)
            while not shared.flights:
                await anyio.sleep(0)
            settings = make_settings(http_deadline=0.05)
            results["waiter"] = await drive_async(fetch(), client, settings, shared)
            release.set()

    anyio.run(main)
    assert results == {"waiter": "DeadlineExceeded", "leader": 200}


# -- a leader that stops without an answer (#12): its waiters ask again themselves ------------


@pytest.mark.parametrize("waiters", [1, 3])
def test_async_waiters_of_a_cancelled_leader_ask_again(waiters: int) -> None:
    shared = SharedGets()
    calls: list[str] = []
    results: list[Any] = []

    async def main() -> None:
        leader_in = anyio.Event()

        async def okta(request: httpx.Request) -> httpx.Response:
            calls.append(request.method)
            if len(calls) == 1:  # the first request hangs until its caller is cancelled
                leader_in.set()
                await anyio.sleep_forever()
            # The new leader's request: answered once the other waiters wait on it.
            while shared.flights[URL].waiters < waiters - 1:
                await anyio.sleep(0)
            return httpx.Response(200, json={"ok": True})

        async with httpx.AsyncClient(transport=httpx.MockTransport(okta)) as client:
            leader_scope = anyio.CancelScope()
            leader_outcome: list[str] = []

            async def leader() -> None:
                with leader_scope:
                    await drive_async(fetch(), client, make_settings(), shared)
                leader_outcome.append("cancelled" if leader_scope.cancelled_caught else "done")

            async def waiter() -> None:
                results.append(await drive_async(fetch(), client, make_settings(), shared))

            async with anyio.create_task_group() as tg:
                tg.start_soon(leader)
                await leader_in.wait()
                for _ in range(waiters):
                    tg.start_soon(waiter)
                while shared.flights[URL].waiters < waiters:
                    await anyio.sleep(0)
                leader_scope.cancel()
            assert leader_outcome == ["cancelled"]

    anyio.run(main)
    assert results == [200] * waiters  # a real answer, never an AssertionError
    assert len(calls) == 2  # the cancelled request, then one new one shared by the waiters
    assert shared.flights == {}


class Interrupted(BaseException):
    """What a blocking leader might die of that is not an httpx error (a signal, a bug)."""


def test_sync_waiters_of_a_leader_that_died_ask_again() -> None:
    shared = SharedGets()
    calls: list[str] = []
    leader_in = threading.Event()
    give_up = threading.Event()

    def okta(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            leader_in.set()
            assert give_up.wait(10)
            raise Interrupted()
        # The new leader's request: answered once the other waiter waits on it.
        deadline = time.monotonic() + 10
        while shared.flights[URL].waiters < 1:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        return httpx.Response(200, json={"ok": True})

    with (
        httpx.Client(transport=httpx.MockTransport(okta)) as client,
        ThreadPoolExecutor(3) as pool,
    ):
        leader = pool.submit(drive_sync, fetch(), client, make_settings(), shared)
        assert leader_in.wait(10)
        waiters = [
            pool.submit(drive_sync, fetch(), client, make_settings(), shared) for _ in range(2)
        ]
        deadline = time.monotonic() + 10
        while shared.flights[URL].waiters < 2:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        give_up.set()
        with pytest.raises(Interrupted):
            leader.result(timeout=10)
        assert [w.result(timeout=10) for w in waiters] == [200, 200]
    assert len(calls) == 2
    assert shared.flights == {}
