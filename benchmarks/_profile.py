"""``--profile``: pyinstrument text profiles of the middleware's authenticated hot path."""

from __future__ import annotations

import asyncio
from pathlib import Path

from . import _inprocess


def run(out: Path, *, quick: bool) -> list[Path]:
    from pyinstrument import Profiler

    n = 2000 if quick else 100_000
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    app, scope = _inprocess.asgi_apps()["magiclink"]

    async def asgi() -> Profiler:
        await _inprocess._asgi_round(app, scope, 1000)
        profiler = Profiler(interval=0.0001, async_mode="disabled")
        profiler.start()
        await _inprocess._asgi_round(app, scope, n)
        profiler.stop()
        return profiler

    wsgi_app, environ = _inprocess.wsgi_apps()["magiclink"]
    _inprocess._wsgi_round(wsgi_app, environ, 1000)
    wsgi = Profiler(interval=0.0001)
    wsgi.start()
    _inprocess._wsgi_round(wsgi_app, environ, n // 2)
    wsgi.stop()

    for name, profiler in (("asgi", asyncio.run(asgi())), ("wsgi", wsgi)):
        path = out / f"profile_{name}.txt"
        path.write_text(profiler.output_text(unicode=False, color=False))
        written.append(path)
    return written
