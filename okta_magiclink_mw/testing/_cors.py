"""CORS the way Okta answers a trusted origin (Security > API > Trusted Origins)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
#: Request headers a trusted origin may send (lower case).
ALLOW_HEADERS = frozenset(
    {
        "accept",
        "authorization",
        "content-type",
        "dpop",
        "x-device-fingerprint",
        "x-device-token",
        "x-okta-user-agent-extended",
        "x-okta-xsrftoken",
        "x-requested-with",
    }
)
EXPOSE_HEADERS = (
    "WWW-Authenticate, DPoP-Nonce, X-Rate-Limit-Limit, X-Rate-Limit-Remaining, X-Rate-Limit-Reset"
)


class OktaCORSMiddleware:
    """Adds credentialed CORS headers for trusted origins, none for others.

    ``is_trusted(origin)`` decides. Paths starting with one of
    ``public_prefixes`` (static widget files) get ``Access-Control-Allow-Origin: *``.
    """

    def __init__(
        self,
        app: ASGIApp,
        is_trusted: Callable[[str], bool],
        public_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.is_trusted = is_trusted
        self.public_prefixes = public_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        path: str = scope["path"]
        if origin is None:
            await self.app(scope, receive, send)
            return
        if path.startswith(self.public_prefixes):
            await self.app(scope, receive, send_with({"Access-Control-Allow-Origin": "*"}, send))
            return
        trusted = self.is_trusted(origin)
        is_preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if is_preflight:
            await self._preflight(scope, receive, send, origin, headers, trusted)
            return
        if not trusted:
            await self.app(scope, receive, send)
            return
        extra = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": EXPOSE_HEADERS,
            "Vary": "Origin",
        }
        await self.app(scope, receive, send_with(extra, send))

    async def _preflight(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        origin: str,
        headers: Headers,
        trusted: bool,
    ) -> None:
        if not trusted:
            response = PlainTextResponse("", status_code=403)
            await response(scope, receive, send)
            return
        requested = [
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        ]
        allowed = [h for h in requested if h in ALLOW_HEADERS]
        response = PlainTextResponse(
            "",
            status_code=200,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ", ".join(allowed),
                "Access-Control-Max-Age": "3600",
                "Vary": "Origin",
            },
        )
        await response(scope, receive, send)


def send_with(extra: dict[str, str], send: Send) -> Send:
    """Wrap ``send`` so the response start message carries ``extra`` headers."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            mutable = MutableHeaders(scope=message)
            for key, value in extra.items():
                if key == "Vary" and "vary" in mutable:
                    mutable["Vary"] = mutable["vary"] + ", " + value
                else:
                    mutable[key] = value
        await send(message)

    return wrapped
