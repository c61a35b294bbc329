"""Part 3: each ASGI variant under uvicorn on 127.0.0.1, loaded by wrk from another process."""

from __future__ import annotations

import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import _apps

ROOT = Path(__file__).resolve().parents[1]
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    rounds: int

    def as_json(self) -> dict[str, Any]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "non_2xx": self.non_2xx,
            "rounds": self.rounds,
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_uvicorn(factory: str, port: int) -> subprocess.Popen[bytes]:
    """``uvicorn --factory`` in its own process: one worker, no access log."""
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
    return subprocess.Popen(command, cwd=ROOT)


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
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"could not read wrk output:\n{output}")
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def run_wrk(url: str, cookie: str, seconds: float, connections: int) -> dict[str, float]:
    # wrk takes whole seconds only.
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    command += ["-H", f"Cookie: {cookie}", url]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def run_httpx(url: str, cookie: str, seconds: float, connections: int) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks._loadgen", url, cookie, str(seconds)]
    command.append(str(connections))
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def pick_loadgen(choice: str) -> str:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "httpx"
    return choice


def run(
    *, seconds: float, rounds: int, connections: int, loadgen: str, warmup: float
) -> dict[str, Load]:
    """Start every variant, then load them in turns (round by round) so drift hits all."""
    load = run_wrk if loadgen == "wrk" else run_httpx
    servers: dict[str, tuple[subprocess.Popen[bytes], str, str]] = {}
    try:
        for name in _apps.ASGI_VARIANTS:
            port = free_port()
            proc = start_uvicorn(f"benchmarks._apps:asgi_{name}", port)
            url = f"http://127.0.0.1:{port}{_apps.PATH}"
            cookie = f"{_apps.OTHER_COOKIES}; {_apps.cookie_for(name, asgi=True)}"
            servers[name] = (proc, url, cookie)
        for name, (_, url, cookie) in servers.items():
            response = wait_ready(url, {"cookie": cookie})
            if response.status_code != 200 or not response.text.startswith("hello"):
                raise RuntimeError(f"{name} under uvicorn: {response.status_code} {response.text}")
            if warmup > 0:
                load(url, cookie, warmup, connections)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, (_, url, cookie) in servers.items():
                samples[name].append(load(url, cookie, seconds, connections))
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
        for proc, _, _ in servers.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {
        name: Load(
            rps=statistics.median(s["rps"] for s in runs),
            p50_ms=statistics.median(s["p50_ms"] for s in runs),
            p99_ms=statistics.median(s["p99_ms"] for s in runs),
            non_2xx=int(sum(s["non_2xx"] for s in runs)),
            rounds=len(runs),
        )
        for name, runs in samples.items()
    }
