"""The tables and targets of parts 7-9: forward auth over sockets, through nginx, and what
access rules add in-process."""

from __future__ import annotations

from typing import Any

from . import _apps

#: (target, value, limit, at most?) rows for :func:`benchmarks._report.targets`.
Target = tuple[str, float, float, bool]


def targets(results: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    forward = results.get("forward")
    if forward and "variants" in forward:
        v = forward["variants"]
        label = "forward auth: /auth rps / bare 202 rps (median of rounds)"
        out.append((label, v["forward"]["ratio"], 0.9, False))
        label = f"forward auth, {forward['rules']} rules: /auth rps / bare 202 rps"
        out.append((label, v["forward_rules"]["ratio"], 0.9, False))
    authz = results.get("authz")
    if authz:
        n = authz["rules"]
        label = f"in-process: {n} rules add to the middleware (us/req)"
        out.append((label, authz["middleware"]["added"]["median_us"], 1.0, True))
        label = f"in-process: {n} rules add to /auth (us/req)"
        out.append((label, authz["forward"]["added"]["median_us"], 1.0, True))
    return out


def load_header(base: str) -> str:
    return (
        f"  {'variant':36s} {'req/s':>7s} {'(min-max)':>15s} {f'/ {base}, per round':>19s} "
        f"{'p50 ms':>7s} {'p99 ms':>7s} {'CPU us/req':>11s} {'CPU / ' + base:>18s} {'non-2xx':>7s}"
    )


def load_row(label: str, row: dict[str, Any]) -> str:
    """One variant of a part loaded in turns (see ``_sockets.Load.as_json``)."""
    cpu = "n/a" if row.get("cpu_us") is None else f"{row['cpu_us']:.1f}"
    cpu_ratio = (
        "n/a"
        if row.get("cpu_ratio") is None
        else f"{row['cpu_ratio']:5.2f} ({row['cpu_ratio_min']:.2f}-{row['cpu_ratio_max']:.2f})"
    )
    return (
        f"  {label:36s} {row['rps']:7,.0f} {row['rps_min']:7,.0f}-{row['rps_max']:<7,.0f} "
        f"{row['ratio']:5.2f} ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})    "
        f"{row['p50_ms']:7.2f} {row['p99_ms']:7.2f} {cpu:>11s} {cpu_ratio:>18s} "
        f"{row['non_2xx']:7d}"
    )


def _pinning(part: dict[str, Any], server: str) -> str:
    if part.get("server_cpu") is None:
        return "not pinned (fewer than 2 CPUs)"
    return f"{server} on CPU {part['server_cpu']}, wrk on CPU {part['loadgen_cpu']}"


def _loaded(part: dict[str, Any], base: str) -> list[str]:
    lines = [f"  load average per round: {part.get('loadavg_per_round', [])}", load_header(base)]
    for name, row in part["variants"].items():
        lines.append(load_row(_apps.LABELS[name], row))
        if row.get("set_cookies"):
            lines.append(f"    WARNING: {name} answered with Set-Cookie: a refresh was measured")
    lines.append(
        f"  req/s: median of the rounds (min-max); / {base}: median of each round's ratio; "
        "CPU: CPU time per request of the serving processes (median), and its ratio per round"
    )
    return lines


def lines(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    forward = results.get("forward")
    if forward:
        out.append(
            f"\n7. Forward auth: GET {_apps.AUTH_PATH} about {forward['original_uri']} under "
            f"uvicorn (h11, asyncio, 1 worker), wrk -c{forward['connections']}, "
            f"{forward['rounds']} rounds x {forward['seconds']:g}s in turns; "
            f"{_pinning(forward, 'server')}"
        )
        out.append(
            f"  valid session cookie from a real sign-in ({forward['idp']}), Cookie header "
            f"{forward['cookie_bytes']} bytes; {forward['rules']} rules: the matching one last"
        )
        out.extend(_loaded(forward, "bare 202"))
    nginx = results.get("nginx")
    if nginx and "skipped" in nginx:
        out.append(f"\n8. Through nginx: SKIPPED: {nginx['skipped']}")
    elif nginx:
        out.append(
            f"\n8. Through nginx ({nginx['nginx']}, {nginx['workers']} worker): GET "
            f"{nginx['page']}, a static page, with auth_request to the forward-auth server and "
            f"without; wrk -c{nginx['connections']}, {nginx['rounds']} rounds x "
            f"{nginx['seconds']:g}s in turns; {_pinning(nginx, 'nginx + server')}"
        )
        out.extend(_loaded(nginx, "no auth"))
    authz = results.get("authz")
    if authz:
        out.extend(_authz_lines(authz))
    return out


def _authz_lines(authz: dict[str, Any]) -> list[str]:
    n = authz["rules"]
    mw, fw = authz["middleware"], authz["forward"]
    rows = mw["magiclink"]
    out = [
        f"\n9. In-process, {n} access rules vs none (the harness of part 1), median of "
        f"{rows['rounds']} rounds x {rows['requests_per_round']}, this thread's CPU time",
        f"  {'variant':44s} {'us/req':>8s} {'min':>8s} {'max':>8s}",
    ]
    variants = (
        (mw, "magiclink", ""),
        (mw, "magiclink_rules", ""),
        (fw, "bare_auth", " (in-process)"),
        (fw, "forward", " (in-process)"),
        (fw, "forward_rules", " (in-process)"),
    )
    for part, name, suffix in variants:
        row = part[name]
        label = _apps.LABELS[name] + suffix
        out.append(
            f"  {label:44s} {row['median_us']:8.2f} {row['min_us']:8.2f} {row['max_us']:8.2f}"
        )
    for label, added in (
        ("the middleware, GET /reports", mw["added"]),
        ("the forward-auth server, GET /auth", fw["added"]),
    ):
        out.append(
            f"  {n} rules add to {label}: {added['median_us']:+.3f} us/req "
            f"(per-round differences: p25 {added['p25_us']:+.3f}, p75 {added['p75_us']:+.3f}, "
            f"min {added['min_us']:+.3f}, max {added['max_us']:+.3f})"
        )
    policy = authz["policy"]
    out.append(
        f"  Policy.denial(user, path) alone, {n} rules, ns/call (median of rounds, min-max):"
    )
    for key, label in (
        ("cached_path", "path and person seen before (the hot path)"),
        ("new_path", "a new path every call (rule scan)"),
        ("new_user", "a new person every call (their rules worked out)"),
    ):
        row = policy[key]
        spread = f"({row['min_ns']:,.1f}-{row['max_ns']:,.1f})"
        out.append(f"    {label:50s} {row['median_ns']:9,.1f} {spread}")
    return out
