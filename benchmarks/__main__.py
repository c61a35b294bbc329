"""``python -m benchmarks``: what the middleware costs per authenticated request.

Parts: 1 in-process ASGI, 2 in-process WSGI, 3 uvicorn + wrk, 4 sign-ins, 5 memory,
7 forward auth (the forward-auth server's GET /auth + wrk), 8 nginx (a static page with
auth_request and without), 9 authz (what 50 access rules add in-process).
``--quick`` runs every part with tiny counts (a CI smoke test: it checks that each part
works, not the numbers). Results go to ``--out``/latest.json and latest.png.

The socket parts need wrk: without it the run stops before it starts (``--loadgen httpx``
runs part 3 with a Python client instead, and labels those rows client-bound; parts 7
and 8 always use wrk). Part 8 needs nginx: without it the part is skipped, with a line
saying so (in CI, where OKTA_MW_REQUIRE_REDIS is set, the run stops instead).
``--store redis`` adds the rows of the Redis session store (a redis-server of its own).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import _authz, _forward, _inprocess, _memory, _nginx, _report, _signins, _sockets

PARTS = ("asgi", "wsgi", "sockets", "forward", "nginx", "authz", "signins", "memory")


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts; checks it runs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    parser.add_argument(
        "--loadgen",
        choices=("wrk", "httpx"),
        default="wrk",
        help="httpx: a Python client, slower than the server (rows labelled client-bound)",
    )
    parser.add_argument(
        "--store",
        choices=("none", "redis", "memory"),
        default="none",
        help="redis: also the Redis session store's rows (needs redis-server); memory: the "
        "same rows with one in-process store shared by both instances (checks the harness)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also write pyinstrument profiles of the middleware's hot path",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        print(f"unknown parts: {sorted(unknown)}", file=sys.stderr)
        return 2
    needs_wrk = ("sockets" in parts and args.loadgen == "wrk") or not {
        "forward",
        "nginx",
    }.isdisjoint(parts)
    if needs_wrk and not _sockets.wrk_available():
        print(_sockets.WRK_MISSING, file=sys.stderr)
        return 2
    no_nginx = _nginx.unavailable() if "nginx" in parts else None
    if no_nginx and os.environ.get(_nginx.REQUIRE_ENV):
        print(f"part 8 (nginx): {no_nginx}, and {_nginx.REQUIRE_ENV} is set", file=sys.stderr)
        return 2
    if args.store == "redis":
        from . import _store

        problem = _store.unavailable()
        if problem:
            print(problem, file=sys.stderr)
            return 2
    quick = args.quick
    results: dict[str, Any] = {
        "machine": _report.machine(),
        "quick": quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    began = time.perf_counter()

    def step(name: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {name} ...", file=sys.stderr, flush=True)

    if "asgi" in parts:
        step("1. in-process ASGI")
        rounds, n = (3, 200) if quick else (15, 5000)
        results["asgi"] = {k: v.as_json() for k, v in _inprocess.run_asgi(rounds, n).items()}
    if "wsgi" in parts:
        step("2. in-process WSGI")
        rounds, n = (3, 100) if quick else (15, 2000)
        results["wsgi"] = {k: v.as_json() for k, v in _inprocess.run_wsgi(rounds, n).items()}
    if "sockets" in parts:
        loadgen = args.loadgen
        step(f"3. uvicorn + {loadgen}")
        seconds, rounds, warmup = (1.0, 2, 0.0) if quick else (3.0, 6, 1.0)
        connections = 32 if loadgen == "wrk" else 16
        if args.store == "redis":  # the store variant too, against a redis-server of its own
            from . import _store

            with _store.redis_server() as url:
                os.environ["BENCH_STORE_URL"] = url
                try:
                    loads, meta = _sockets.run(
                        seconds=seconds,
                        rounds=rounds,
                        connections=connections,
                        loadgen=loadgen,
                        warmup=warmup,
                        variants=(*_sockets.VARIANTS, "magiclink_store"),
                    )
                finally:
                    del os.environ["BENCH_STORE_URL"]
        else:
            loads, meta = _sockets.run(
                seconds=seconds,
                rounds=rounds,
                connections=connections,
                loadgen=loadgen,
                warmup=warmup,
            )
        results["sockets"] = {
            "loadgen": loadgen,
            "client_bound": loadgen != "wrk",
            "connections": connections,
            "seconds": seconds,
            "rounds": rounds,
            **meta,
            "variants": {k: v.as_json() for k, v in loads.items()},
        }
    if "forward" in parts:
        step("7. forward auth: GET /auth under uvicorn + wrk")
        seconds, rounds, warmup = (1.0, 2, 0.0) if quick else (3.0, 6, 1.0)
        results["forward"] = _forward.run(
            seconds=seconds, rounds=rounds, connections=32, warmup=warmup
        )
    if "nginx" in parts:
        if no_nginx:
            step(f"8. nginx: SKIPPED, {no_nginx}")
            results["nginx"] = {"skipped": no_nginx}
        else:
            step("8. a static page through nginx, with auth_request and without")
            seconds, rounds, warmup = (1.0, 2, 0.0) if quick else (3.0, 6, 1.0)
            results["nginx"] = _nginx.run(
                seconds=seconds, rounds=rounds, connections=32, warmup=warmup
            )
    if "authz" in parts:
        step("9. in-process: 50 access rules vs none")
        rounds, n, policy_rounds, calls = (3, 200, 3, 500) if quick else (60, 2000, 15, 4000)
        results["authz"] = _authz.run(
            rounds=rounds, n=n, policy_rounds=policy_rounds, policy_calls=calls
        )
    if "signins" in parts:
        step("4. sign-ins")
        logins = 20 if quick else 1000
        results["signins"] = [
            _signins.run_inprocess(logins).as_json(),
            _signins.run_socket(logins, 1).as_json(),
            _signins.run_socket(logins, 8).as_json(),
        ]
    if "memory" in parts:
        step("5. memory")
        requests, distinct = (2000, 200) if quick else (100_000, 10_000)
        results["memory"] = _memory.run(requests, distinct)
    if args.store != "none":
        step(f"6. session store ({args.store})")
        from . import _store

        results["store"] = _store.run(quick=quick, backend=args.store)
    if args.profile:
        step("profiles")
        from . import _profile

        results["profiles"] = [str(p) for p in _profile.run(args.out, quick=quick)]
    results["targets"] = _report.targets(results)
    results["seconds"] = round(time.perf_counter() - began, 1)
    print(_report.table(results))
    json_path, png_path = _report.write(results, args.out)
    print(
        f"\nwrote {json_path}" + (f" and {png_path}" if png_path else " (no matplotlib: no chart)")
    )
    print(f"took {results['seconds']}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
