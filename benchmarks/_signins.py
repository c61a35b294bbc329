"""Part 4: sign-in callbacks through the ASGI middleware against an IdP.

In-process (IdP on an ``httpx`` in-memory transport, callbacks one after another): the
middleware's own time per callback, IdP time excluded. On a socket (IdP under uvicorn,
the middleware's production transport, callbacks ``concurrency`` at a time from a cold
start): fetch counts per endpoint and TCP connections the IdP saw.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from okta_magiclink_mw import OktaMagicLink
from okta_magiclink_mw._transactions import Transaction
from okta_magiclink_mw._transport import default_timeout

from . import _apps, _idp, _sockets

Issue = Callable[[str, str, str], Awaitable[str]]


class _TimedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, owner: TimedTransport) -> None:
        self._inner = inner
        self._owner = owner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._inner.__aiter__()
        while True:
            start = time.perf_counter()
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                self._owner.seconds += time.perf_counter() - start
                return
            self._owner.seconds += time.perf_counter() - start
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class TimedTransport(httpx.AsyncBaseTransport):
    """Adds up the time spent waiting for the IdP (headers and body)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.seconds = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        response = await self._inner.handle_async_request(request)
        self.seconds += time.perf_counter() - start
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_TimedStream(response.stream, self),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class SignIns:
    mode: str
    idp: str
    logins: int
    ok: int
    concurrency: int
    discovery_fetches: int
    jwks_fetches: int
    token_posts: int
    connections: int | None
    mw_us_median: float
    mw_us_mean: float
    idp_us_mean: float
    wall_s: float
    failures: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("mw_us_median", "mw_us_mean", "idp_us_mean", "wall_s"):
            out[key] = round(out[key], 3)
        return out


async def _home(request: Request) -> Response:
    return PlainTextResponse("hello")


def _middleware(issuer: str, client: httpx.AsyncClient) -> OktaMagicLink:
    settings = _apps.settings(issuer=issuer)
    return OktaMagicLink(Starlette(routes=[Route(_apps.PATH, _home)]), settings, http_client=client)


async def _callback(mw: OktaMagicLink, issue: Issue) -> tuple[str, float]:
    """One sign-in's callback; returns its outcome and the middleware's wall time."""
    outcome, elapsed, _ = await callback(mw, issue)
    return outcome, elapsed


async def callback(mw: OktaMagicLink, issue: Issue) -> tuple[str, float, str]:
    """One sign-in's callback: its outcome, the middleware's wall time, and the session
    cookie it set (``name=value``, "" if none)."""
    now = time.time()
    txn = Transaction.start(_apps.PATH, now)
    cookie = _apps.cookie_pair(mw.core.transactions.dump({txn.state: txn}, now))
    code = await issue(txn.code_challenge, txn.state, txn.nonce)
    query = f"interaction_code={code}&state={txn.state}"
    scope = _apps.asgi_scope(mw.settings.callback_path, cookie, query)
    seen: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
            seen["headers"] = message["headers"]

    start = time.perf_counter()
    await mw(scope, receive, send)
    elapsed = time.perf_counter() - start
    headers = seen.get("headers", [])
    location = next((v for k, v in headers if k == b"location"), b"")
    prefix = mw.core.sessions.cookie_name.encode() + b"="
    session = next(
        (
            _apps.cookie_pair(v.decode("latin-1"))
            for k, v in headers
            if k == b"set-cookie" and v.startswith(prefix)
        ),
        "",
    )
    session_set = bool(session)
    if seen.get("status") == 302 and location == _apps.PATH.encode() and session_set:
        return "ok", elapsed, session
    return f"{seen.get('status')} {location.decode()[:40]}", elapsed, session


async def _drive(
    mw: OktaMagicLink, issue: Issue, timed: TimedTransport, logins: int, concurrency: int
) -> tuple[list[float], list[float], dict[str, int], float]:
    mw_times: list[float] = []
    idp_times: list[float] = []
    outcomes: dict[str, int] = {}
    queue = iter(range(logins))

    async def worker() -> None:
        for _ in queue:
            idp_before = timed.seconds
            outcome, elapsed = await _callback(mw, issue)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if concurrency == 1:  # only then is the IdP time attributable to one callback
                idp = timed.seconds - idp_before
                mw_times.append(elapsed - idp)
                idp_times.append(idp)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return mw_times, idp_times, outcomes, time.perf_counter() - start


def _result(
    mode: str,
    idp_kind: str,
    logins: int,
    concurrency: int,
    stats: dict[str, Any],
    drive: tuple[list[float], list[float], dict[str, int], float],
) -> SignIns:
    mw_times, idp_times, outcomes, wall = drive
    requests: dict[str, int] = stats["requests"]

    def count(method: str, suffix: str) -> int:
        return sum(
            n for k, n in requests.items() if k.startswith(method + " ") and k.endswith(suffix)
        )

    return SignIns(
        mode=mode,
        idp=idp_kind,
        logins=logins,
        ok=outcomes.get("ok", 0),
        concurrency=concurrency,
        discovery_fetches=count("GET", "/.well-known/openid-configuration"),
        jwks_fetches=count("GET", "/v1/keys"),
        token_posts=count("POST", "/v1/token"),
        connections=stats.get("connections") if mode == "socket" else None,
        mw_us_median=statistics.median(mw_times) * 1e6 if mw_times else float("nan"),
        mw_us_mean=statistics.fmean(mw_times) * 1e6 if mw_times else float("nan"),
        idp_us_mean=statistics.fmean(idp_times) * 1e6 if idp_times else float("nan"),
        wall_s=wall,
        failures={k: v for k, v in outcomes.items() if k != "ok"},
    )


def run_inprocess(logins: int) -> SignIns:
    idp = _idp.make_idp("http://127.0.0.1:9")

    async def issue(challenge: str, state: str, nonce: str) -> str:
        return str(idp.issue(challenge, state, nonce))

    async def main() -> SignIns:
        timed = TimedTransport(httpx.ASGITransport(app=idp))
        async with httpx.AsyncClient(transport=timed, follow_redirects=False) as client:
            mw = _middleware(idp.issuer, client)
            drive = await _drive(mw, issue, timed, logins, 1)
        return _result("in-process", idp.kind, logins, 1, idp.stats(), drive)

    return asyncio.run(main())


def run_socket(logins: int, concurrency: int) -> SignIns:
    port = _sockets.free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks._idp:server_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    command += ["--log-level", "warning"]
    env = {**os.environ, "BENCH_IDP_URL": base}
    server = subprocess.Popen(command, cwd=_sockets.ROOT, env=env)
    try:
        _sockets.wait_ready(f"{base}{_idp.CONTROL}stats", {})

        async def main() -> SignIns:
            async with httpx.AsyncClient(base_url=base) as control:
                stats = (await control.get(f"{_idp.CONTROL}stats")).json()

                async def issue(challenge: str, state: str, nonce: str) -> str:
                    body = {"challenge": challenge, "state": state, "nonce": nonce}
                    response = await control.post(f"{_idp.CONTROL}issue", json=body)
                    return str(response.json()["code"])

                settings = _apps.settings(issuer=f"{base}/oauth2/default")
                # The middleware's own production client (see _transport.new_async_client),
                # with a timing layer around its pooled transport.
                timed = TimedTransport(httpx.AsyncHTTPTransport(retries=2))
                client = httpx.AsyncClient(
                    timeout=default_timeout(settings), transport=timed, follow_redirects=False
                )
                async with client:
                    mw = _middleware(settings.issuer, client)
                    drive = await _drive(mw, issue, timed, logins, concurrency)
                stats = (await control.get(f"{_idp.CONTROL}stats")).json()
                return _result("socket", str(stats["kind"]), logins, concurrency, stats, drive)

        return asyncio.run(main())
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
