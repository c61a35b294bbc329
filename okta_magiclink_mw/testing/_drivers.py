"""Drive a sign-in conversation (``_conversation``) through a test client.

The app's side goes through the test client the test gave (so the session lands in its
cookie jar), with a small adapter per kind of client; the widget's side goes to FakeOkta
over HTTP at its URL, as the widget's requests go (or through the transport given, e.g.
``fake.sync_transport()`` for a FakeOkta that is not served). One driver for sync clients,
one for async ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import httpx

from ._conversation import AppRequest, Conversation, OktaRequest, Reply

T = TypeVar("T")
_TIMEOUT = 10.0


class WerkzeugClient(Protocol):
    """Werkzeug's test client, and Flask's (``app.test_client()``)."""

    application: Any

    def open(self, *args: Any, **kwargs: Any) -> Any: ...


def _reply(status: int, headers: Any, text: str) -> Reply:
    return Reply(status, {k.lower(): v for k, v in headers.items()}, text)


class HttpxBrowser:
    """An ``httpx.Client`` (Starlette's ``TestClient`` is one, or an ``httpx2.Client``):
    relative paths against its ``base_url``, its cookie jar; no redirects followed (each
    step checks its own)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, step: AppRequest) -> Reply:
        with _other_browser(self.client, step.browser == "other"):
            response = self.client.request(
                step.method, step.path, headers=dict(step.headers), follow_redirects=False
            )
        return _reply(response.status_code, response.headers, response.text)


class AsyncHttpxBrowser:
    """An ``httpx.AsyncClient`` (over ``httpx.ASGITransport``, or a real server)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def send(self, step: AppRequest) -> Reply:
        with _other_browser(self.client, step.browser == "other"):
            response = await self.client.request(
                step.method, step.path, headers=dict(step.headers), follow_redirects=False
            )
        return _reply(response.status_code, response.headers, response.text)


@contextmanager
def _other_browser(client: Any, other: bool) -> Iterator[None]:
    """Another browser: an empty cookie jar for one request; the first one's kept aside."""
    if not other:
        yield
        return
    kept = client.cookies
    client.cookies = type(kept)()
    try:
        yield
    finally:
        client.cookies = kept


class WerkzeugBrowser:
    """Werkzeug's or Flask's test client; the other browser is a new client of the app."""

    def __init__(self, client: WerkzeugClient) -> None:
        self.client = client

    def send(self, step: AppRequest) -> Reply:
        client = self.client if step.browser == "main" else _new_client(self.client)
        response = client.open(
            step.path, method=step.method, headers=list(step.headers), follow_redirects=False
        )
        return _reply(response.status_code, response.headers, response.get_data(as_text=True))


def _new_client(client: WerkzeugClient) -> WerkzeugClient:
    test_client = getattr(client.application, "test_client", None)  # Flask's
    if callable(test_client):
        made: WerkzeugClient = test_client()
        return made
    from werkzeug.test import Client

    return Client(client.application, getattr(client, "response_wrapper", None))


def _okta_kwargs(step: OktaRequest) -> dict[str, Any]:
    return {"data": step.form, "json": step.json, "headers": dict(step.headers)}


def _okta_reply(response: httpx.Response) -> Reply:
    return _reply(response.status_code, response.headers, response.text)


def drive(
    conversation: Conversation[T],
    browser: HttpxBrowser | WerkzeugBrowser,
    okta_transport: httpx.BaseTransport | None = None,
) -> T:
    """Run a conversation to its end with a sync test client."""
    with httpx.Client(transport=okta_transport, trust_env=False, timeout=_TIMEOUT) as okta:
        reply: Reply | None = None
        while True:
            try:
                step = conversation.send(reply) if reply is not None else next(conversation)
            except StopIteration as done:
                result: T = done.value
                return result
            if isinstance(step, AppRequest):
                reply = browser.send(step)
            else:
                reply = _okta_reply(okta.request(step.method, step.url, **_okta_kwargs(step)))


async def adrive(
    conversation: Conversation[T],
    browser: AsyncHttpxBrowser,
    okta_transport: httpx.AsyncBaseTransport | None = None,
) -> T:
    """Run a conversation to its end with an async test client."""
    client = httpx.AsyncClient(transport=okta_transport, trust_env=False, timeout=_TIMEOUT)
    async with client as okta:
        reply: Reply | None = None
        while True:
            try:
                step = conversation.send(reply) if reply is not None else next(conversation)
            except StopIteration as done:
                result: T = done.value
                return result
            if isinstance(step, AppRequest):
                reply = await browser.send(step)
            else:
                answer = await okta.request(step.method, step.url, **_okta_kwargs(step))
                reply = _okta_reply(answer)
