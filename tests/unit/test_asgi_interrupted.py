"""A callback whose Okta call is cancelled (the server's graceful-shutdown timeout, #19)
answers with the middleware's 503 retry page, then lets the cancellation go on.

tests/integration/test_slow_okta_sockets.py shows it with a real uvicorn; these drive the
adapter directly, for each way the conversation can take the news.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import anyio
import httpx
import pytest

from okta_magiclink_mw import OktaMagicLink
from okta_magiclink_mw._flow import Exchange, Respond
from okta_magiclink_mw.errors import SignInError
from tests.conftest import asgi_echo_app, make_settings

Flow = Generator[httpx.Request, httpx.Response, Respond]
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "path": "/login/callback",
    "query_string": b"",
    "headers": [],
}


def handles_it(closed: list[str]) -> Flow:
    """Like the real conversation: a SignInError thrown in becomes its own error page."""
    try:
        yield httpx.Request("GET", "https://org.example/slow")
    except SignInError as exc:
        return Respond(exc.status, [("x-page", "from-the-conversation")], exc.code.encode())
    return Respond(200)  # pragma: no cover - the request never answers


def lets_it_through(closed: list[str]) -> Flow:
    yield httpx.Request("GET", "https://org.example/slow")
    return Respond(200)  # pragma: no cover


def asks_for_more(closed: list[str]) -> Flow:
    try:
        try:
            yield httpx.Request("GET", "https://org.example/slow")
        except SignInError:
            yield httpx.Request("GET", "https://org.example/more")
        return Respond(200)  # pragma: no cover
    finally:
        closed.append("closed")


def run_cancelled(
    make_flow: Any, send_fails: bool = False
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    sent: list[dict[str, Any]] = []
    closed: list[str] = []
    outcome: list[str] = []

    async def main() -> None:
        entered = anyio.Event()

        async def okta(request: httpx.Request) -> httpx.Response:
            entered.set()
            await anyio.sleep_forever()
            raise AssertionError("unreachable")  # pragma: no cover

        client = httpx.AsyncClient(transport=httpx.MockTransport(okta))
        mw = OktaMagicLink(asgi_echo_app(), make_settings(), http_client=client)
        mw.core.signed_in = lambda path, cookie: None  # type: ignore[method-assign]
        mw.core.decide_rest = lambda facts: Exchange(make_flow(closed))  # type: ignore[method-assign]

        async def receive() -> dict[str, Any]:
            raise AssertionError("not called")  # pragma: no cover

        async def send(message: dict[str, Any]) -> None:
            await anyio.sleep(0)  # a real checkpoint: it must run although cancelled
            if send_fails:
                raise OSError("the client is gone")
            sent.append(message)

        async def call() -> None:
            try:
                await mw(dict(SCOPE), receive, send)
            except anyio.get_cancelled_exc_class():
                outcome.append("cancellation propagated")
                raise
            outcome.append("returned")  # pragma: no cover

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await entered.wait()
            tg.cancel_scope.cancel()
        await client.aclose()

    anyio.run(main)
    return sent, closed, outcome


def test_the_conversation_ends_the_page_itself_when_it_can() -> None:
    sent, _, outcome = run_cancelled(handles_it)
    assert outcome == ["cancellation propagated"]
    start, body = sent
    assert start["type"] == "http.response.start"
    assert start["status"] == 503
    assert (b"x-page", b"from-the-conversation") in start["headers"]
    assert body == {"type": "http.response.body", "body": b"shutting_down"}


@pytest.mark.parametrize("make_flow", [lets_it_through, asks_for_more])
def test_otherwise_the_middleware_writes_the_retry_page(make_flow: Any) -> None:
    sent, closed, outcome = run_cancelled(make_flow)
    assert outcome == ["cancellation propagated"]
    start, body = sent
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert headers[b"cache-control"] == b"no-store"
    assert b"The server is restarting. Please try again in a moment." in body["body"]
    assert closed == (["closed"] if make_flow is asks_for_more else [])


def test_a_server_that_no_longer_takes_the_page_still_sees_the_cancellation() -> None:
    sent, _, outcome = run_cancelled(handles_it, send_fails=True)
    assert sent == []
    assert outcome == ["cancellation propagated"]
