"""Targets, the printed table, latest.json and latest.png."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

from . import _apps, _report_forward

MB = 1_000_000


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what, the measured value, the limit, and whether it passed."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float, limit: float, *, at_most: bool = True) -> None:
        ok = value <= limit if at_most else value >= limit
        sign = "<=" if at_most else ">="
        out.append(
            {
                "target": name,
                "value": round(value, 3),
                "limit": f"{sign} {limit:g}",
                "pass": bool(ok),
            }
        )

    if "asgi" in results:
        a = {k: v["median_us"] for k, v in results["asgi"].items()}
        add("ASGI: middleware / bare app", _ratio(a["magiclink"], a["bare"]), 1.5)
        add("ASGI: middleware / SessionMiddleware", _ratio(a["magiclink"], a["session"]), 0.5)
    if "wsgi" in results:
        w = {k: v["median_us"] for k, v in results["wsgi"].items()}
        add("WSGI: middleware / bare Flask", _ratio(w["magiclink"], w["bare"]), 1.2)
        add("WSGI: middleware / Flask session", _ratio(w["magiclink"], w["session"]), 1.0)
    sockets = results.get("sockets")
    if sockets and not sockets.get("client_bound"):
        # The median of the per-round ratios: each round compares the two side by side.
        add(
            "uvicorn: middleware rps / bare rps (median of rounds)",
            sockets["variants"]["magiclink"]["ratio"],
            0.9,
            at_most=False,
        )
        if "magiclink_store" in sockets["variants"]:
            add(
                "uvicorn: middleware + Redis store rps / bare rps (median of rounds)",
                sockets["variants"]["magiclink_store"]["ratio"],
                0.9,
                at_most=False,
            )
    for run in results.get("signins", []):
        label = f"sign-ins ({run['mode']}, concurrency {run['concurrency']})"
        add(f"{label}: discovery fetches", run["discovery_fetches"], 1)
        add(f"{label}: JWKS fetches", run["jwks_fetches"], 1)
        add(f"{label}: failed callbacks", run["logins"] - run["ok"], 0)
        add(f"{label}: extra token POSTs", abs(run["token_posts"] - run["logins"]), 0)
        if run["connections"] is not None:
            add(f"{label}: TCP connections to IdP", run["connections"], run["concurrency"])
    if "memory" in results:
        growth = max(m["growth_bytes"] for m in results["memory"].values())
        add("memory: growth over the run (MB)", growth / MB, 5.0)
    for name, value, limit, at_most in _report_forward.targets(results):
        add(name, value, limit, at_most=at_most)
    return out


def _fmt(value: float, digits: int = 1) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:,.{digits}f}")
    )


def table(results: dict[str, Any]) -> str:
    lines: list[str] = []
    m = results["machine"]
    lines.append(
        f"machine: {m['nproc']} x {m['cpu']}, Python {m['python']}"
        f"{'  [QUICK MODE: numbers are not meaningful]' if results['quick'] else ''}"
    )
    for part, title in (
        ("asgi", "1. In-process ASGI (Starlette)"),
        ("wsgi", "2. In-process WSGI (Flask)"),
    ):
        if part not in results:
            continue
        rows = results[part]
        bare = rows["bare"]["median_us"]
        lines.append(
            f"\n{title}: authenticated GET {_apps.PATH}, median of "
            f"{rows['bare']['rounds']} rounds x {rows['bare']['requests_per_round']}"
        )
        lines.append(f"  {'variant':34s} {'us/req':>8s} {'min':>8s} {'max':>8s} {'x bare':>7s}")
        for name, row in rows.items():
            lines.append(
                f"  {_apps.LABELS[name]:34s} {row['median_us']:8.2f} {row['min_us']:8.2f} "
                f"{row['max_us']:8.2f} {row['median_us'] / bare:7.2f}"
            )
    if "sockets" in results:
        lines.extend(_socket_lines(results["sockets"]))
    if "signins" in results:
        lines.append("\n4. Sign-in callbacks through the ASGI middleware")
        lines.append(
            f"  {'run':32s} {'ok':>6s} {'disc':>5s} {'jwks':>5s} {'token':>6s} "
            f"{'conns':>6s} {'mw us (med/mean)':>17s} {'IdP us':>8s}"
        )
        for r in results["signins"]:
            run = f"{r['mode']} x{r['logins']} c={r['concurrency']} ({r['idp']})"
            conns = "-" if r["connections"] is None else str(r["connections"])
            lines.append(
                f"  {run[:32]:32s} {r['ok']:6d} {r['discovery_fetches']:5d} "
                f"{r['jwks_fetches']:5d} {r['token_posts']:6d} {conns:>6s} "
                f"{_fmt(r['mw_us_median']):>8s}/{_fmt(r['mw_us_mean']):>8s} "
                f"{_fmt(r['idp_us_mean']):>8s}"
            )
            if r["failures"]:
                lines.append(f"    failures: {r['failures']}")
    if "memory" in results:
        rss, traced = results["memory"]["rss"], results["memory"]["tracemalloc"]
        lines.append(
            f"\n5. Memory: {rss['requests']:,} authenticated requests, "
            f"{rss['distinct_sessions']:,} distinct session cookies cycled"
        )
        lines.append(
            f"  RSS growth {rss['growth_bytes'] / MB:.2f} MB "
            f"(after first pass {rss['growth_after_first_pass_bytes'] / MB:.3f} MB); "
            f"tracemalloc growth {traced['growth_bytes'] / MB:.2f} MB "
            f"(after first pass {traced['growth_after_first_pass_bytes'] / 1000:.1f} kB)"
        )
        lines.append(
            f"  {rss['us_per_request']:.1f} us/request (every cookie seen once per "
            f"{rss['distinct_sessions']:,} requests); statuses {rss['statuses']}"
        )
        lines.append(f"  caches: {rss['caches']}")
    if "store" in results:
        lines.extend(_store_lines(results["store"]))
    lines.extend(_report_forward.lines(results))
    lines.append("\nTargets (ratios from this run; a miss never fails the process)")
    for t in results["targets"]:
        lines.append(
            f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']:58s} {t['value']:>9} {t['limit']}"
        )
    return "\n".join(lines)


def _socket_lines(s: dict[str, Any]) -> list[str]:
    pinned = (
        f"server on CPU {s['server_cpu']}, load generator on CPU {s['loadgen_cpu']}"
        if s.get("server_cpu") is not None
        else "not pinned (fewer than 2 CPUs)"
    )
    lines = [
        f"\n3. uvicorn on 127.0.0.1 (h11, asyncio, 1 worker), load: {s['loadgen']} "
        f"-c{s['connections']}, {s['rounds']} rounds x {s['seconds']:g}s in turns; {pinned}",
        f"  load average per round: {s.get('loadavg_per_round', [])}",
    ]
    if s.get("client_bound"):
        lines.append(
            "  CLIENT-BOUND: the httpx load generator (--loadgen httpx) is slower than the "
            "server; these req/s measure the client, not the server. No target is checked."
        )
    lines.append(
        f"  {'variant':34s} {'req/s':>7s} {'(min-max)':>15s} {'/ bare, per round':>19s} "
        f"{'p50 ms':>7s} {'p99 ms':>7s} {'CPU us/req':>11s} {'non-2xx':>7s}"
    )
    for name, row in s["variants"].items():
        cpu = "n/a" if row.get("cpu_us") is None else f"{row['cpu_us']:.1f}"
        label = _apps.LABELS[name]
        if s.get("client_bound"):
            label = label[:19] + " [client-bound]"
        lines.append(
            f"  {label:34s} {row['rps']:7,.0f} {row['rps_min']:7,.0f}-{row['rps_max']:<7,.0f} "
            f"{row['ratio']:5.2f} ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})    "
            f"{row['p50_ms']:7.2f} {row['p99_ms']:7.2f} {cpu:>11s} {row['non_2xx']:7d}"
        )
        if row.get("set_cookies"):
            lines.append(f"    WARNING: {name} answered with Set-Cookie: a refresh was measured")
    lines.append(
        "  req/s: median of the rounds (min-max); / bare: median of each round's ratio to "
        "the bare app with the same cookie; CPU: server CPU time per request (median)"
    )
    return lines


def _store_lines(st: dict[str, Any]) -> list[str]:
    lines = [f"\n6. Authenticated GET {_apps.PATH} with the session store: {st['store']}"]
    for part in ("asgi", "wsgi"):
        rows = st[part]
        bare = rows["bare"]["median_us"]
        for name, row in rows.items():
            label = "bare app" if name == "bare" else "okta-magiclink-mw + store"
            lines.append(
                f"  {part.upper()} in-process {label:30s} {row['median_us']:8.2f} us "
                f"({row['min_us']:.2f}-{row['max_us']:.2f}) x{row['median_us'] / bare:.2f}"
            )
    trips = st["round_trips_per_request"]
    lines.append(
        "  store commands per authenticated request (steady state): "
        + ("n/a" if trips is None else f"{trips:.3f}")
    )
    p = st["signout_propagation"]
    lines.append(
        f"  sign-out on one instance refused by the other after: p50 {_fmt(p['p50_ms'], 3)} ms,"
        f" p99 {_fmt(p['p99_ms'], 3)} ms, max {_fmt(p['max_ms'], 3)} ms "
        f"({p['signouts']} sign-outs, {p['never_propagated']} never propagated)"
    )
    signin = st.get("signin_us")
    if signin:
        lines.append(
            f"  sign-in callback (in-process IdP included), median: cookie sessions "
            f"{signin['cookie']:.0f} us, store {signin['store']:.0f} us "
            f"(x{signin['store'] / signin['cookie']:.2f})"
        )
    return lines


def write(results: dict[str, Any], out: Path) -> tuple[Path, Path | None]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latest.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path, chart(results, out / "latest.png")


def chart(results: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = [
        (part, title, unit)
        for part, title, unit in (
            ("asgi", "ASGI in-process", "µs / request (lower is better)"),
            ("wsgi", "WSGI in-process (Flask)", "µs / request (lower is better)"),
            ("sockets", "uvicorn + wrk (median of rounds)", "requests / s (higher is better)"),
            ("forward", "forward auth /auth + wrk", "requests / s (higher is better)"),
        )
        if part in results
    ]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.6), squeeze=False)
    colors = {
        "bare_nocookie": "#c8c8c8",
        "bare": "#9e9e9e",
        "session": "#e08a3c",
        "magiclink": "#2f6db5",
        "magiclink_store": "#1b3f6e",
        "bare_auth": "#9e9e9e",
        "bare_auth_headers": "#c8c8c8",
        "forward": "#2f6db5",
        "forward_rules": "#1b3f6e",
    }
    for ax, (part, title, unit) in zip(axes[0], panels, strict=True):
        loaded = part in ("sockets", "forward")
        rows = results[part]["variants"] if loaded else results[part]
        key = "rps" if loaded else "median_us"
        names = list(rows)
        values = [rows[n][key] for n in names]
        spread = None
        if loaded:  # the rounds' min-max as error bars
            spread = [
                [v - rows[n]["rps_min"] for n, v in zip(names, values, strict=True)],
                [rows[n]["rps_max"] - v for n, v in zip(names, values, strict=True)],
            ]
            if results[part].get("client_bound"):
                title += " [CLIENT-BOUND]"
        ax.barh(
            [_apps.LABELS[n].replace(" + ", "\n+ ").replace(", ", ",\n") for n in names],
            values,
            xerr=spread,
            color=[colors[n] for n in names],
        )
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:,.0f}" if loaded else f" {v:.1f}", va="center", fontsize=7)
        ax.set_xlim(0, max(values) * 1.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
