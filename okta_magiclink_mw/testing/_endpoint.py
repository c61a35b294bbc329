"""Wrap endpoint handlers with the fault knobs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ._faults import ConnectionDropped, Faults

Handler = Callable[[Request], Awaitable[Response]]


class JSON(JSONResponse):
    """JSON response with an explicit media type (IDX uses ``application/ion+json``)."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        *,
        media_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(content, status_code=status_code, headers=headers, media_type=media_type)

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode("utf-8")


class _DroppedResponse(Response):
    """Sends the status line and headers, then aborts (see :class:`ConnectionDropped`)."""

    def __init__(self) -> None:
        super().__init__(status_code=200, headers={"content-length": "64"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        raise ConnectionDropped("FakeOkta fault: drop_connection")


def server_error(status: int) -> Response:
    """An Okta-style 5xx body."""
    return JSON(
        {
            "errorCode": "E0000009",
            "errorSummary": "Internal Server Error",
            "errorLink": "E0000009",
            "errorId": "oaeFakeOkta5xx",
            "errorCauses": [],
        },
        status_code=status,
    )


def with_faults(faults: Faults, name: str, handler: Handler) -> Handler:
    """Apply latency, forced 5xx, malformed bodies and dropped connections to ``handler``."""

    async def wrapped(request: Request) -> Response:
        delay = faults.delay_for(name)
        if delay > 0:
            await asyncio.sleep(delay)
        if faults.drops(name):
            return _DroppedResponse()
        status = faults.status_for(name)
        if status is not None:
            return server_error(status)
        response = await handler(request)
        if faults.is_malformed(name):
            broken = Response(
                b'{"this is": not json',
                status_code=response.status_code,
                media_type=response.media_type,
            )
            for key in ("access-control-allow-origin", "access-control-allow-credentials"):
                if key in response.headers:
                    broken.headers[key] = response.headers[key]
            return broken
        return response

    return wrapped


async def read_form(request: Request) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body (first value wins).

    Also merges the query string underneath, as Okta's token endpoint
    accepts parameters there too (okta-idx-golang sends them that way).
    """
    body = (await request.body()).decode("utf-8", errors="replace")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        fields.setdefault(key, value)
    for key, value in request.query_params.multi_items():
        fields.setdefault(key, value)
    return fields
