"""``/ready``: can a sign-in work right now? Okta's discovery and keys, and the store.

The checks are flows, like everything else that talks to Okta or the store: the
middleware's own driver runs them (its pooled client, deadlines, body cap; a probe
shares one GET with sign-ins in flight), and each Okta failure has the fixed code and
note the conversation gives it. One answer is reused for ``ready_cache`` seconds, and
probes that arrive while a check runs wait for it, so a probe every second from every
load balancer costs Okta two GETs per interval, not per probe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import anyio
import httpx

from .._effects import Flow
from .._oidc import _call
from .._tokens import JWKSCache, parse_discovery
from ..errors import IdentityProviderError
from ..settings import Settings
from ..stores._base import StoreCall, StoreUnavailable

#: A probe is cut short after this long (a load balancer's own timeout is often 1-2 s).
PROBE_TIMEOUT = 3.0
#: A session id no session has (ids are random URL-safe text): loading it is one GET.
_PROBE_ID = "okta-mw-readiness-probe"

Drive = Callable[[Flow[Any]], Awaitable[Any]]


def okta_check(settings: Settings) -> Generator[Any, Any, str]:
    """``"ok"``, or why Okta cannot serve a sign-in: ``<code>: <note>``."""
    try:
        request = httpx.Request(
            "GET", settings.discovery_url, headers={"Accept": "application/json"}
        )
        response = yield from _call(request, "discovery")
        discovery = parse_discovery(
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            expected_issuer=settings.issuer,
        )
        request = httpx.Request("GET", discovery.jwks_uri, headers={"Accept": "application/json"})
        response = yield from _call(request, "jwks")
        JWKSCache().update(
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            time.time(),
        )
    except IdentityProviderError as exc:
        return _reason(exc)
    return "ok"


def store_check() -> Generator[Any, Any, str]:
    """``"ok"``, or ``store_unavailable`` when the session store does not answer."""
    try:
        yield StoreCall("load", (_PROBE_ID,))
    except StoreUnavailable as exc:
        return exc.code
    return "ok"


def _reason(exc: IdentityProviderError) -> str:
    # The notes are the fixed phrases _call and _tokens attach ("jwks: not JSON"), never
    # anything Okta sent.
    notes = "; ".join(getattr(exc, "__notes__", ()))
    return f"{exc.code}: {notes}" if notes else exc.code


class Readiness:
    """The cached answer of ``/ready``: ``(status, JSON body)``."""

    def __init__(
        self,
        settings: Settings,
        drive: Drive,
        *,
        has_store: bool,
        cache_for: float,
        timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self._settings = settings
        self._drive = drive
        self._has_store = has_store
        self._cache_for = cache_for
        self._timeout = min(timeout, settings.http_deadline)
        self._answer: tuple[int, bytes] | None = None
        self._until = float("-inf")
        self._lock: anyio.Lock | None = None

    async def answer(self) -> tuple[int, bytes]:
        if self._answer is not None and time.monotonic() < self._until:
            return self._answer
        if self._lock is None:
            self._lock = anyio.Lock()  # made in the server's event loop
        async with self._lock:
            if self._answer is None or time.monotonic() >= self._until:
                self._answer = await self._check()
                self._until = time.monotonic() + self._cache_for
        return self._answer

    async def _check(self) -> tuple[int, bytes]:
        checks = {"okta": await self._run(okta_check(self._settings), "okta_timeout")}
        if self._has_store:
            checks["store"] = await self._run(store_check(), "store_timeout")
        ready = all(result == "ok" for result in checks.values())
        body = {"status": "ready" if ready else "unavailable", "checks": checks}
        return (200 if ready else 503), json.dumps(body).encode()

    async def _run(self, flow: Flow[str], timed_out: str) -> str:
        with anyio.move_on_after(self._timeout):
            result: str = await self._drive(flow)
            return result
        flow.close()
        return f"{timed_out}: no answer within {self._timeout:g} s"
