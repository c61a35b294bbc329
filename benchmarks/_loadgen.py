"""A small httpx load generator, used only when ``wrk`` is not installed.

Run as ``python -m benchmarks._loadgen URL COOKIE SECONDS CONNECTIONS``; prints one JSON
object. It is much slower than wrk (it is Python), so its requests/s are a floor.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx


async def _load(url: str, cookie: str, seconds: float, connections: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers={"cookie": cookie}) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    p50 = latencies[len(latencies) // 2] if latencies else 0.0
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": p50 * 1000,
        "p99_ms": p99 * 1000,
        "non_2xx": errors,
    }


def main() -> None:
    url, cookie, seconds, connections = sys.argv[1:5]
    result = asyncio.run(_load(url, cookie, float(seconds), int(connections)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
