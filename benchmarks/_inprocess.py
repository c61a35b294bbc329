"""Parts 1 and 2: one authenticated GET, the ASGI or WSGI callable called directly."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from okta_magiclink_mw import OktaMagicLink, OktaMagicLinkWSGI

from . import _apps


@dataclass(frozen=True)
class Timing:
    """Per-request time of one variant: the median round and the spread of rounds."""

    median_us: float
    min_us: float
    max_us: float
    rounds: int
    requests_per_round: int

    def as_json(self) -> dict[str, Any]:
        return {
            "median_us": round(self.median_us, 3),
            "min_us": round(self.min_us, 3),
            "max_us": round(self.max_us, 3),
            "rounds": self.rounds,
            "requests_per_round": self.requests_per_round,
        }


def _timing(samples: list[float], n: int) -> Timing:
    return Timing(statistics.median(samples), min(samples), max(samples), len(samples), n)


# -- ASGI ------------------------------------------------------------------------------------


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: MutableMapping[str, Any]) -> None:
    return None


async def _check_asgi(app: Any, scope: dict[str, Any], name: str) -> None:
    seen: dict[str, Any] = {}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
        elif message["type"] == "http.response.body":
            seen["body"] = seen.get("body", b"") + message.get("body", b"")

    await app(dict(scope), _receive, send)
    if seen.get("status") != 200 or not seen.get("body", b"").startswith(b"hello"):
        raise RuntimeError(f"ASGI {name}: expected 200 hello, got {seen}")


async def _asgi_round(
    app: Any, scope: dict[str, Any], n: int, clock: Callable[[], int] = time.perf_counter_ns
) -> float:
    """µs per request over ``n`` requests, by ``clock`` (wall time unless told otherwise)."""
    receive, send = _receive, _discard
    start = clock()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (clock() - start) / n / 1000


def asgi_apps() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each variant's app and the scope of a signed-in browser's request."""
    built: dict[str, tuple[Any, dict[str, Any]]] = {}
    for name in _apps.ASGI_VARIANTS:
        app = _apps.ASGI_FACTORIES[name]()
        if name == "session":
            cookie = _apps.starlette_session_cookie()
        else:
            mw = app if isinstance(app, OktaMagicLink) else _apps.asgi_magiclink()
            cookie = _apps.magiclink_cookie(mw)
        built[name] = (app, _apps.asgi_scope(_apps.PATH, cookie))
    return built


def run_asgi(rounds: int, n: int) -> dict[str, Timing]:
    built = asgi_apps()

    async def main() -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {name: [] for name in built}
        for name, (app, scope) in built.items():
            await _check_asgi(app, scope, name)
            await _asgi_round(app, scope, max(n // 10, 10))  # warm-up
        # Variants take turns round by round, so drift on a noisy machine hits all alike.
        for _ in range(rounds):
            for name, (app, scope) in built.items():
                gc.collect()
                samples[name].append(await _asgi_round(app, scope, n))
        return samples

    samples = asyncio.run(main())
    return {name: _timing(s, n) for name, s in samples.items()}


# -- WSGI ------------------------------------------------------------------------------------


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return None


def _call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> bytes:
    result = app(environ, _start_response)
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _check_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], name: str) -> None:
    status: list[str] = []

    def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status.append(s)

    result = app(dict(environ), start_response)
    body = b"".join(result)
    getattr(result, "close", lambda: None)()
    if status != ["200 OK"] or not body.startswith(b"hello"):
        raise RuntimeError(f"WSGI {name}: expected 200 hello, got {status} {body[:80]!r}")


def _wsgi_round(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], n: int) -> float:
    call = _call_wsgi
    start = time.perf_counter_ns()
    for _ in range(n):
        call(app, dict(environ))
    return (time.perf_counter_ns() - start) / n / 1000


def wsgi_apps() -> dict[str, tuple[Any, dict[str, Any]]]:
    built: dict[str, tuple[Any, dict[str, Any]]] = {}
    for name in _apps.WSGI_VARIANTS:
        flask_app = _apps.WSGI_FACTORIES[name]()
        if name == "session":
            cookie = _apps.flask_session_cookie()
        else:
            mw = flask_app.wsgi_app
            if not isinstance(mw, OktaMagicLinkWSGI):
                mw = _apps.wsgi_magiclink().wsgi_app
            assert isinstance(mw, OktaMagicLinkWSGI)
            cookie = _apps.magiclink_cookie(mw)
        built[name] = (flask_app, _apps.wsgi_environ(_apps.PATH, cookie))
    return built


def run_wsgi(rounds: int, n: int) -> dict[str, Timing]:
    built = wsgi_apps()
    samples: dict[str, list[float]] = {name: [] for name in built}
    for name, (app, environ) in built.items():
        _check_wsgi(app, environ, name)
        _wsgi_round(app, environ, max(n // 10, 10))
    for _ in range(rounds):
        for name, (app, environ) in built.items():
            gc.collect()
            samples[name].append(_wsgi_round(app, environ, n))
    return {name: _timing(s, n) for name, s in samples.items()}
