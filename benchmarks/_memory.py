"""Part 5: memory over many authenticated requests with many distinct sessions.

Runs in a fresh process (``python -m benchmarks._memory REQUESTS DISTINCT MODE``) so the
other parts leave nothing behind in its heap. MODE ``rss`` reads VmRSS from
/proc/self/status; MODE ``tracemalloc`` traces Python allocations (slower).
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import MutableMapping
from typing import Any

from . import _apps, _sockets


def rss_bytes() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _measure(mode: str) -> int:
    gc.collect()
    if mode == "tracemalloc":
        return tracemalloc.get_traced_memory()[0]
    return rss_bytes()


def measure(requests: int, distinct: int, mode: str) -> dict[str, Any]:
    mw = _apps.asgi_magiclink()
    scopes = [_apps.asgi_scope(_apps.PATH, _apps.magiclink_cookie(mw, i)) for i in range(distinct)]
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async def run(count: int, offset: int) -> None:
        for i in range(offset, offset + count):
            await mw(dict(scopes[i % distinct]), receive, send)

    async def main() -> dict[str, Any]:
        await run(10, 0)  # import-time and first-call allocations are not growth
        if mode == "tracemalloc":
            tracemalloc.start()
        before = _measure(mode)
        first = min(distinct, requests)
        start = time.perf_counter()
        await run(first, 10)
        after_first = _measure(mode)
        await run(requests - first, 10 + first)
        elapsed = time.perf_counter() - start
        after = _measure(mode)
        peak = tracemalloc.get_traced_memory()[1] if mode == "tracemalloc" else None
        core = mw.core
        return {
            "mode": mode,
            "requests": requests,
            "distinct_sessions": distinct,
            "statuses": {str(k): v for k, v in statuses.items()},
            "growth_bytes": after - before,
            "growth_after_first_pass_bytes": after - after_first,
            "peak_traced_bytes": peak,
            "us_per_request": elapsed / requests * 1e6,
            "caches": {
                "session_cache": core.sessions.cache_size,
                "session_cache_bound": 1024,
                "revoked_sessions": len(core.sessions.store),  # type: ignore[arg-type]
                "jwks_keys": len(core.okta.jwks.kids),
                "discovery_loaded": core.okta.discovery is not None,
                "http_client_created": mw._client is not None,
            },
        }

    return asyncio.run(main())


def run(requests: int, distinct: int) -> dict[str, Any]:
    """Both modes, each in a fresh interpreter."""
    results: dict[str, Any] = {}
    for mode in ("rss", "tracemalloc"):
        command = [sys.executable, "-m", "benchmarks._memory", str(requests), str(distinct), mode]
        done = subprocess.run(
            command, capture_output=True, text=True, check=True, cwd=_sockets.ROOT
        )
        results[mode] = json.loads(done.stdout)
    return results


def main() -> None:
    requests, distinct, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    print(json.dumps(measure(requests, distinct, mode)))


if __name__ == "__main__":
    main()
