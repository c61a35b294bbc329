"""Part 6 (``--store redis``): the authenticated request with the Redis session store.

Disabled until ``okta_magiclink_mw.stores.RedisSessionStore`` exists: :func:`unavailable`
says why, and ``python -m benchmarks --store redis`` stops before it starts.

Rows, all against a ``redis-server`` of its own (free port, its own temporary directory,
no persistence), configured the documented way, ``Settings(session_store="redis://...")``:

* in-process ASGI and WSGI: the harness of parts 1 and 2 (same scope / environ, same
  rounds), the bare app and the middleware with the store side by side;
* Redis commands per authenticated request at steady state: ``CONFIG RESETSTAT``, then
  ``INFO stats`` ``total_commands_processed`` before and after N requests (the INFO
  calls' own count subtracted), so no ``MONITOR`` slows the server down;
* sign-out propagation between two instances sharing the store: sign in, check both
  instances accept the cookie, ``POST /logout`` on one (``Sec-Fetch-Site: same-origin``,
  the session cookie), then poll the other with the same cookie until it refuses it;
  p50 / p99 of the time from the logout's answer to the first refusal.

The session cookie comes from a real sign-in (FakeOkta in-process, ``/login/callback``),
not from the middleware's internals, so the rows do not depend on how a store-backed
session is minted. ``--store memory`` runs the same rows with one in-process store object
shared by both instances (no Redis: checks the harness; round trips are n/a).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import httpx
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from okta_magiclink_mw import OktaMagicLink, OktaMagicLinkWSGI, Settings

from . import _apps, _idp, _inprocess, _signins, _sockets

#: Polls of the other instance before a sign-out counts as never propagated.
MAX_POLLS = 100_000


def unavailable() -> str | None:
    """Why ``--store redis`` cannot run here, or None when it can."""
    try:
        stores = importlib.import_module("okta_magiclink_mw.stores")
    except ImportError:
        stores = None
    if stores is None or not hasattr(stores, "RedisSessionStore"):
        return (
            "--store redis: okta_magiclink_mw.stores.RedisSessionStore does not exist yet, so\n"
            "there is no Redis session store to measure. These rows are prepared in\n"
            "benchmarks/_store.py and run once the store lands."
        )
    if shutil.which("redis-server") is None:
        return "--store redis: redis-server is not installed (apt-get install redis-server)"
    try:
        importlib.import_module("redis")
    except ImportError:
        return "--store redis: the redis package is missing (pip install redis)"
    return None


# -- a redis-server of our own -----------------------------------------------------------------


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway ``redis-server`` on a free port; yields its URL."""
    port = _sockets.free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--dir", directory, "--save", "", "--appendonly", "no"]
        command += ["--daemonize", "no", "--loglevel", "warning"]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=directory)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class CommandCounter:
    """Commands the server processed, from ``INFO stats`` (no MONITOR)."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._client.config_resetstat()
        # Each INFO is a command too; measure what a before/after pair adds by itself.
        a = self.total()
        b = self.total()
        self._own = b - a

    def total(self) -> int:
        return int(self._client.info("stats")["total_commands_processed"])

    def since(self, before: int) -> int:
        return self.total() - before - self._own

    def close(self) -> None:
        self._client.close()


# -- apps ------------------------------------------------------------------------------------


async def _hello(request: Request) -> Response:
    return PlainTextResponse(f"hello {request.user.display_name}")


def _settings(issuer: str, store: str | None) -> Settings:
    if store is None:
        return _apps.settings(issuer=issuer)
    # The documented way to use a shared store (a URL); TypeError until Settings has it.
    return Settings(
        issuer=issuer,
        client_id=_apps.CLIENT_ID,
        redirect_uri=_apps.REDIRECT_URI,
        secret_keys=[_apps.SECRET],
        session_store=store,  # type: ignore[call-arg]
    )


def _asgi(issuer: str, store: str | None, client: httpx.AsyncClient, shared: Any) -> OktaMagicLink:
    app = Starlette(routes=[Route(_apps.PATH, _hello)])
    kwargs: dict[str, Any] = {"http_client": client}
    if shared is not None:
        kwargs["session_store"] = shared
    return OktaMagicLink(app, _settings(issuer, store), **kwargs)


def _wsgi(issuer: str, store: str | None, shared: Any) -> Flask:
    from flask import request as flask_request

    app = Flask("bench_store")

    def reports() -> str:
        return f"hello {flask_request.environ['okta_magiclink_mw.user'].display_name}"

    app.add_url_rule(_apps.PATH, "reports", reports)
    kwargs: dict[str, Any] = {} if shared is None else {"session_store": shared}
    app.wsgi_app = OktaMagicLinkWSGI(  # type: ignore[method-assign]
        app.wsgi_app, _settings(issuer, store), **kwargs
    )
    return app


# -- ASGI helpers ----------------------------------------------------------------------------


async def _call(
    app: Any, scope: dict[str, Any], body: bytes = b""
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    seen: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
            seen["headers"] = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            seen["body"] += message.get("body", b"")

    await app(dict(scope), receive, send)
    return seen.get("status", 0), seen.get("headers", []), seen["body"]


async def _sign_in(mw: OktaMagicLink, issue: _signins.Issue) -> str:
    """A real sign-in through ``/login/callback``; the session cookie's ``name=value``."""
    outcome, _, cookie = await _signins.callback(mw, issue)
    if outcome != "ok":
        raise RuntimeError(f"sign-in for the store benchmark failed: {outcome}")
    return cookie


async def _accepted(mw: OktaMagicLink, cookie: str) -> bool:
    status, _, body = await _call(mw, _apps.asgi_scope(_apps.PATH, cookie))
    return status == 200 and body.startswith(b"hello")


def _logout_scope(mw: OktaMagicLink, cookie: str) -> dict[str, Any]:
    scope = _apps.asgi_scope(mw.settings.logout_path, cookie)
    scope["method"] = "POST"
    headers = [h for h in scope["headers"] if h[0] != b"sec-fetch-site"]
    headers.append((b"sec-fetch-site", b"same-origin"))
    headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    scope["headers"] = headers
    return scope


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


# -- the rows --------------------------------------------------------------------------------


def run(*, quick: bool, backend: str = "redis") -> dict[str, Any]:
    """Every row of the part; ``backend`` "memory" checks the harness without Redis."""
    if backend == "redis":
        with redis_server() as url:
            return _run(url, None, quick)
    from okta_magiclink_mw._sessions import InMemorySessionStore

    return _run(None, InMemorySessionStore(), quick)


def _run(url: str | None, shared: Any, quick: bool) -> dict[str, Any]:
    idp = _idp.make_idp("http://127.0.0.1:9")

    async def issue(challenge: str, state: str, nonce: str) -> str:
        return str(idp.issue(challenge, state, nonce))

    rounds, n = (3, 200) if quick else (15, 5000)
    wsgi_n = 100 if quick else 2000
    signouts = 5 if quick else 200
    counter = CommandCounter(url) if url else None
    results: dict[str, Any] = {"store": "redis" if url else "memory (shared object)"}

    async def main() -> None:
        transport = httpx.ASGITransport(app=idp)
        async with httpx.AsyncClient(transport=transport, follow_redirects=False) as client:
            a = _asgi(idp.issuer, url, client, shared)
            b = _asgi(idp.issuer, url, client, shared)
            cookie = await _sign_in(a, issue)
            bare = _apps.asgi_bare()
            scope = _apps.asgi_scope(_apps.PATH, cookie)
            # In-process ASGI: the harness of part 1.
            await _inprocess._check_asgi(a, scope, "store")
            for app in (bare, a):
                await _inprocess._asgi_round(app, scope, max(n // 10, 10))
            samples: dict[str, list[float]] = {"bare": [], "magiclink_store": []}
            for _ in range(rounds):
                for name, app in (("bare", bare), ("magiclink_store", a)):
                    gc.collect()
                    samples[name].append(await _inprocess._asgi_round(app, scope, n))
            results["asgi"] = {k: _inprocess._timing(v, n).as_json() for k, v in samples.items()}
            # Round trips per authenticated request, at steady state (cache warm).
            if counter is not None:
                await _inprocess._asgi_round(a, scope, 100)
                before = counter.total()
                await _inprocess._asgi_round(a, scope, 1000)
                results["round_trips_per_request"] = counter.since(before) / 1000
            else:
                results["round_trips_per_request"] = None
            results["wsgi"] = _wsgi_rows(idp.issuer, url, shared, cookie, rounds, wsgi_n)
            results["signout_propagation"] = await _propagation(a, b, issue, signouts)
            results["signin_us"] = await _signin_cost(a, idp.issuer, client, issue, signouts)

    try:
        asyncio.run(main())
    finally:
        if counter is not None:
            counter.close()
    return results


def _wsgi_rows(
    issuer: str, url: str | None, shared: Any, cookie: str, rounds: int, n: int
) -> dict[str, Any]:
    apps: dict[str, Callable[..., Any]] = {
        "bare": _apps.wsgi_bare(),
        "magiclink_store": _wsgi(issuer, url, shared),
    }
    environ = _apps.wsgi_environ(_apps.PATH, cookie)
    _inprocess._check_wsgi(apps["magiclink_store"], environ, "store (WSGI)")
    for app in apps.values():
        _inprocess._wsgi_round(app, environ, max(n // 10, 10))
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            gc.collect()
            samples[name].append(_inprocess._wsgi_round(app, environ, n))
    return {k: _inprocess._timing(v, n).as_json() for k, v in samples.items()}


async def _signin_cost(
    with_store: OktaMagicLink,
    issuer: str,
    client: httpx.AsyncClient,
    issue: _signins.Issue,
    logins: int,
) -> dict[str, float]:
    """Median wall time of one sign-in callback (the in-process IdP included), with
    sessions in the cookie and with the store, taking turns."""
    in_cookie = _signins._middleware(issuer, client)
    times: dict[str, list[float]] = {"cookie": [], "store": []}
    for _ in range(logins):
        for name, mw in (("cookie", in_cookie), ("store", with_store)):
            outcome, elapsed, _ = await _signins.callback(mw, issue)
            if outcome != "ok":
                raise RuntimeError(f"a sign-in callback failed: {outcome}")
            times[name].append(elapsed)
    return {name: round(statistics.median(v) * 1e6, 1) for name, v in times.items()}


async def _propagation(
    a: OktaMagicLink, b: OktaMagicLink, issue: _signins.Issue, signouts: int
) -> dict[str, Any]:
    """Sign out on ``a``; how long until ``b`` refuses the same cookie."""
    delays: list[float] = []
    never = 0
    for _ in range(signouts):
        cookie = await _sign_in(a, issue)
        if not (await _accepted(a, cookie) and await _accepted(b, cookie)):
            raise RuntimeError("a fresh session was refused before its sign-out")
        status, _, _ = await _call(a, _logout_scope(a, cookie))
        done = time.perf_counter()
        if status not in (302, 303):
            raise RuntimeError(f"POST {a.settings.logout_path} answered {status}")
        for _ in range(MAX_POLLS):
            if not await _accepted(b, cookie):
                delays.append(time.perf_counter() - done)
                break
            await asyncio.sleep(0)  # let b's invalidation listener run
        else:
            never += 1
    return {
        "signouts": signouts,
        "never_propagated": never,
        "p50_ms": _percentile(delays, 0.5) * 1000 if delays else None,
        "p99_ms": _percentile(delays, 0.99) * 1000 if delays else None,
        "max_ms": max(delays) * 1000 if delays else None,
        "mean_ms": statistics.fmean(delays) * 1000 if delays else None,
    }
