"""Part 3: each ASGI variant under uvicorn on 127.0.0.1, loaded by wrk from another process.

The server and the load generator are pinned to different CPUs (the same two for every
variant), so they never compete for one core and the scheduler cannot favour a variant.
Variants take turns in short rounds, the order rotating each round, and each variant's
requests/s are compared with the bare app's *in the same round*: on a shared machine the
background load changes from one minute to the next, and a ratio of two medians taken at
different times measures that drift as much as the middleware. Each round also records
the CPU time the server process spent per request (``/proc/<pid>/schedstat``): unlike
requests/s it barely moves when another process takes turns on the server's core.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from . import _apps

ROOT = Path(__file__).resolve().parents[1]
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}

#: The variants and the Cookie header each one gets. ``bare_nocookie`` is the bare app
#: without the session cookie: next to ``bare`` (same app, same cookie the middleware
#: needs) it shows what the bigger request alone costs the server.
VARIANTS = ("bare_nocookie", "bare", "session", "magiclink")
#: The variant every ratio is taken against.
BASE = "bare"

WRK_MISSING = (
    "wrk is not installed, and the socket parts (sockets, forward, nginx) need it: a Python\n"
    "load generator tops out near the server's own speed, so its numbers measure the\n"
    "client, not the server. Install it with `apt-get install wrk` (`make bench` does that\n"
    "by itself when run as root), skip the parts with `--parts asgi,wsgi,authz,signins,memory`,\n"
    "or pass `--loadgen httpx --parts sockets` for rows labelled client-bound."
)


@dataclass
class Load:
    """One variant over all rounds: medians and the spread (min, max) of the rounds."""

    rps: list[float]
    p50_ms: list[float]
    p99_ms: list[float]
    cpu_us: list[float | None]
    ratio: list[float]  # rps / the base variant's rps in the same round
    non_2xx: int
    set_cookies: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    #: CPU time per request / the base variant's in the same round (when both are known)
    cpu_ratio: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        cpu = [c for c in self.cpu_us if c is not None]
        return {
            "rps": round(statistics.median(self.rps), 1),
            "rps_min": round(min(self.rps), 1),
            "rps_max": round(max(self.rps), 1),
            "p50_ms": round(statistics.median(self.p50_ms), 3),
            "p99_ms": round(statistics.median(self.p99_ms), 3),
            "cpu_us": round(statistics.median(cpu), 1) if cpu else None,
            "cpu_us_min": round(min(cpu), 1) if cpu else None,
            "cpu_us_max": round(max(cpu), 1) if cpu else None,
            "ratio": round(statistics.median(self.ratio), 3),
            "ratio_min": round(min(self.ratio), 3),
            "ratio_max": round(max(self.ratio), 3),
            "cpu_ratio": round(statistics.median(self.cpu_ratio), 3) if self.cpu_ratio else None,
            "cpu_ratio_min": round(min(self.cpu_ratio), 3) if self.cpu_ratio else None,
            "cpu_ratio_max": round(max(self.cpu_ratio), 3) if self.cpu_ratio else None,
            "non_2xx": self.non_2xx,
            "set_cookies": self.set_cookies,
            "rounds": len(self.rps),
            "per_round_rps": [round(r, 1) for r in self.rps],
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_plan() -> tuple[int | None, int | None]:
    """(server CPU, load generator CPU): two different CPUs this process may use, or
    ``(None, None)`` when there are fewer than two (no pinning then)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return None, None
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def _pinned(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None

    def pin() -> None:
        # In the child before exec, so every thread it starts inherits the mask.
        os.sched_setaffinity(0, {cpu})

    return pin


def start_uvicorn(
    factory: str, port: int, cpu: int | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``uvicorn --factory`` in its own process: one worker, no access log. With ``env``
    (a server configured from the environment), its ``OKTA_*`` variables are exactly
    ``env``'s: none of this shell's (a real org's, a store URL...) leaks into the run."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    environ = None
    if env is not None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_")}
        environ.update(env)
    return subprocess.Popen(command, cwd=ROOT, env=environ, preexec_fn=_pinned(cpu))


def cpu_seconds(*pids: int) -> float | None:
    """CPU time used so far by every thread of ``pids`` (Linux; None elsewhere)."""
    total = 0
    try:
        for pid in pids:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                    total += int(stat.read().split()[0])  # nanoseconds on the CPU
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def wait_ready(url: str, headers: dict[str, str], timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, headers=headers, timeout=2.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    requests = re.search(r"(\d+) requests in", output)
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"could not read wrk output:\n{output}")
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
        "requests": float(requests.group(1)) if requests else 0.0,
    }


#: A load generator: (url, request headers, seconds, connections, CPU) -> its numbers.
Loader = Callable[[str, Mapping[str, str], float, int, int | None], dict[str, float]]


def run_wrk(
    url: str,
    headers: Mapping[str, str],
    seconds: float,
    connections: int,
    cpu: int | None = None,
) -> dict[str, float]:
    # wrk takes whole seconds only.
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=_pinned(cpu),
    )
    return parse_wrk(done.stdout)


def run_httpx(
    url: str,
    headers: Mapping[str, str],
    seconds: float,
    connections: int,
    cpu: int | None = None,
) -> dict[str, float]:
    """The Python client: it sends the Cookie header only (the socket part needs no other)."""
    cookie = headers.get("Cookie", "")
    command = [sys.executable, "-m", "benchmarks._loadgen", url, cookie, str(seconds)]
    command.append(str(connections))
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        preexec_fn=_pinned(cpu),
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def cookies() -> dict[str, str]:
    """Each variant's Cookie header, freshly minted.

    Minted again before every round: the session cookie's ``last_seen`` must stay well
    inside the refresh window (5 minutes), or every request would pay for a Set-Cookie
    refresh that wrk, which ignores Set-Cookie, keeps asking for.
    """
    session = _apps.cookie_for("magiclink", asgi=True)
    starlette = _apps.starlette_session_cookie()
    return {
        "bare_nocookie": _apps.OTHER_COOKIES,
        "bare": f"{_apps.OTHER_COOKIES}; {session}",
        "session": f"{_apps.OTHER_COOKIES}; {starlette}",
        "magiclink": f"{_apps.OTHER_COOKIES}; {session}",
    }


def _factory(name: str) -> str:
    return f"benchmarks._apps:asgi_{'bare' if name == 'bare_nocookie' else name}"


def _with_store(jar: dict[str, str]) -> dict[str, str]:
    """``jar`` plus the store variant's cookie, when the run has a store."""
    url = os.environ.get("BENCH_STORE_URL")
    if url:
        jar["magiclink_store"] = f"{_apps.OTHER_COOKIES}; {_apps.store_cookie(url)}"
    return jar


def _check(name: str, url: str, cookie: str) -> int:
    """One request by hand: 200 hello, and how many Set-Cookie headers it carried."""
    response = wait_ready(url, {"cookie": cookie})
    if response.status_code != 200 or not response.text.startswith("hello"):
        raise RuntimeError(f"{name} under uvicorn: {response.status_code} {response.text}")
    return len(response.headers.get_list("set-cookie"))


@dataclass(frozen=True)
class Target:
    """A server to load: its URL and the processes whose CPU time it costs."""

    url: str
    pids: tuple[int, ...]


@dataclass
class Turns:
    """What :func:`take_turns` measured, and the headers of its last round."""

    loads: dict[str, Load]
    loadavg: list[float]
    last_headers: Mapping[str, Mapping[str, str]]


def take_turns(
    targets: Mapping[str, Target],
    requests: Callable[[], Mapping[str, Mapping[str, str]]],
    *,
    base: str,
    seconds: float,
    rounds: int,
    connections: int,
    load: Loader,
    load_cpu: int | None,
    warmup: float,
) -> Turns:
    """Load ``targets`` in turns, round by round, rotating the order.

    ``requests()`` gives each target's request headers; it is called again before every
    round (cookies are minted afresh). Each target's ratio is its requests/s over
    ``base``'s in the same round; its CPU time per request is that of its ``pids``.
    """
    loads = {name: Load([], [], [], [], [], 0, 0) for name in targets}
    headers = requests()
    if warmup > 0:
        for name, target in targets.items():
            load(target.url, headers[name], warmup, connections, load_cpu)
    names = list(targets)
    loadavg: list[float] = []
    for i in range(rounds):
        headers = requests()
        loadavg.append(os.getloadavg()[0])
        turn = names[i % len(names) :] + names[: i % len(names)]
        got: dict[str, dict[str, float]] = {}
        for name in turn:
            target = targets[name]
            before = cpu_seconds(*target.pids)
            got[name] = load(target.url, headers[name], seconds, connections, load_cpu)
            after = cpu_seconds(*target.pids)
            requests_done = got[name].get("requests", 0.0)
            if before is not None and after is not None and requests_done:
                got[name]["cpu_us"] = (after - before) * 1e6 / requests_done
        base_sample = got.get(base, next(iter(got.values())))
        base_rps, base_cpu = base_sample["rps"], base_sample.get("cpu_us")
        for name, sample in got.items():
            row = loads[name]
            row.rps.append(sample["rps"])
            row.p50_ms.append(sample["p50_ms"])
            row.p99_ms.append(sample["p99_ms"])
            row.cpu_us.append(sample.get("cpu_us"))
            row.ratio.append(sample["rps"] / base_rps if base_rps else float("nan"))
            cpu = sample.get("cpu_us")
            if cpu is not None and base_cpu:
                row.cpu_ratio.append(cpu / base_cpu)
            row.non_2xx += int(sample["non_2xx"])
    return Turns(loads, loadavg, headers)


def stop_all(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """Terminate ``procs``, then wait for each (killed after 10 s)."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cookie_header(cookie: str) -> dict[str, str]:
    return {"Cookie": cookie} if cookie else {}


def run(
    *,
    seconds: float,
    rounds: int,
    connections: int,
    loadgen: str,
    warmup: float,
    variants: tuple[str, ...] = VARIANTS,
) -> tuple[dict[str, Load], dict[str, Any]]:
    """Start every variant, then load them in turns, round by round, rotating the order."""
    load = run_wrk if loadgen == "wrk" else run_httpx
    server_cpu, load_cpu = cpu_plan()
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    names = [
        name
        for name in variants
        if name in VARIANTS or (name == "magiclink_store" and os.environ.get("BENCH_STORE_URL"))
    ]
    try:
        for name in names:
            port = free_port()
            proc = start_uvicorn(_factory(name), port, server_cpu)
            servers[name] = (proc, f"http://127.0.0.1:{port}{_apps.PATH}")
        jar = _with_store(cookies())
        for name, (_, url) in servers.items():
            _check(name, url, jar[name])
        turns = take_turns(
            {name: Target(url, (proc.pid,)) for name, (proc, url) in servers.items()},
            lambda: {k: _cookie_header(v) for k, v in _with_store(cookies()).items()},
            base=BASE,
            seconds=seconds,
            rounds=rounds,
            connections=connections,
            load=load,
            load_cpu=load_cpu,
            warmup=warmup,
        )
        # The hot path was measured only if no response refreshed the cookie.
        for name, (_, url) in servers.items():
            cookie = turns.last_headers[name].get("Cookie", "")
            turns.loads[name].set_cookies = _check(name, url, cookie)
    finally:
        stop_all([proc for proc, _ in servers.values()])
    meta = {
        "server_cpu": server_cpu,
        "loadgen_cpu": load_cpu,
        "loadavg_per_round": [round(x, 2) for x in turns.loadavg],
    }
    return turns.loads, meta
