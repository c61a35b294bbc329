"""Part 8 (``nginx``): a static page through real nginx, with and without ``auth_request``.

One nginx (Debian's, its own temporary prefix, ``daemon off``, one worker) serves the same
static page on two loopback ports: on one every request is first checked with
``auth_request`` against the forward-auth server (``GET /auth``, configured as in
``examples/forward_auth/nginx.conf``: ``X-Original-URI``, keepalive connections to the
server), on the other it is served as it is. wrk loads both in turns (the method of
part 3) with the same Cookie header: the person's session and two unrelated cookies.

Pinning, on a 2-core machine: nginx and the forward-auth server share one CPU and wrk has
the other, so both variants get the same single CPU to serve with and the ratio is what
the check costs out of it. CPU time per request counts nginx's processes, plus the
forward-auth server's for the variant that asks it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from . import _apps, _forward, _sockets

VARIANTS = ("nginx_static", "nginx_auth")
BASE = "nginx_static"
#: The page, asked for by its file name: a directory URL ("/") would be checked twice, as
#: nginx's index module redirects it internally to "/index.html" and the access phase,
#: auth_request included, runs again for the new URI.
PAGE = "/reports.html"

#: Set in CI (.ci/run), where the nginx rows must run: a missing nginx stops the run.
REQUIRE_ENV = "OKTA_MW_REQUIRE_REDIS"

_PAGE = (
    "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>Reports</title></head>\n"
    "<body><h1>Quarterly reports</h1>\n"
    + "".join(f"<p>Report {i}: figures, notes and a chart of the quarter.</p>\n" for i in range(20))
    + "</body></html>\n"
)

_CONF = """\
worker_processes 1;
daemon off;
pid nginx.pid;
lock_file nginx.lock;
error_log error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    # Off for both variants: the log would cost the same per page either way.
    access_log off;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server_tokens off;

    upstream okta_magiclink {{
        server 127.0.0.1:{server_port};
        # As many as wrk's connections: every check reuses one (no connection churn).
        keepalive {keepalive};
    }}

    # The page behind auth_request (examples/forward_auth/nginx.conf's check).
    server {{
        listen 127.0.0.1:{auth_port};
        root {root};
        large_client_header_buffers 4 16k;
        proxy_http_version 1.1;

        location / {{
            auth_request /_okta_magiclink/auth;
            auth_request_set $auth_user $upstream_http_x_auth_request_user;
            auth_request_set $auth_email $upstream_http_x_auth_request_email;
            auth_request_set $auth_groups $upstream_http_x_auth_request_groups;
            auth_request_set $auth_cookie $upstream_http_set_cookie;
            add_header Set-Cookie $auth_cookie;
        }}

        location = /_okta_magiclink/auth {{
            internal;
            proxy_pass http://okta_magiclink/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Connection "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Uri "";
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }}
    }}

    # The same page, no check.
    server {{
        listen 127.0.0.1:{static_port};
        root {root};
        large_client_header_buffers 4 16k;
    }}
}}
"""


def binary() -> str | None:
    """The nginx executable, or None."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if os.access(found, os.X_OK) else None


def unavailable() -> str | None:
    """Why the part cannot run here, or None."""
    if binary() is None:
        return "nginx is not installed (apt-get install nginx; `make bench` does as root)"
    return None


def _children(pid: int) -> tuple[int, ...]:
    """The processes whose parent is ``pid`` (nginx's workers)."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields and int(fields[1]) == pid:
            found.append(int(entry))
    return tuple(found)


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            error = log.read_text() if log.exists() else ""
            raise RuntimeError(f"nginx did not start (exit {proc.poll()}): {error[-2000:]}")
        time.sleep(0.05)


@contextmanager
def running(
    *, server_port: int, keepalive: int, cpu: int | None
) -> Iterator[tuple[int, int, tuple[int, ...]]]:
    """nginx from a temporary prefix; yields (auth port, static port, its pids)."""
    nginx = binary()
    assert nginx is not None
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as directory:
        prefix = Path(directory)
        prefix.chmod(0o755)  # workers of a root master run as "nobody": let them in
        (prefix / "tmp").mkdir()
        root = prefix / "site"
        root.mkdir()
        (root / PAGE.lstrip("/")).write_text(_PAGE)
        for path in (root, root / PAGE.lstrip("/")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        auth_port, static_port = _sockets.free_port(), _sockets.free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(
            _CONF.format(
                server_port=server_port,
                keepalive=keepalive,
                auth_port=auth_port,
                static_port=static_port,
                root=root,
            )
        )
        log = prefix / "error.log"
        argv = [nginx, "-p", f"{prefix}/", "-c", str(conf), "-e", str(log)]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_sockets._pinned(cpu),
        )
        try:
            _wait_port(auth_port, proc, log)
            _wait_port(static_port, proc, log)
            yield auth_port, static_port, (proc.pid, *_children(proc.pid))
        finally:
            proc.send_signal(signal.SIGQUIT)  # graceful; the workers go with the master
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _check(name: str, url: str, cookie: str, *, guarded: bool) -> int:
    """The page with the cookie (and, behind the check, a 401 without it); returns how
    many Set-Cookie headers the page came with."""
    response = _sockets.wait_ready(url, {"cookie": cookie})
    if response.status_code != 200 or "Quarterly reports" not in response.text:
        raise RuntimeError(f"{name}: expected the page, got {response.status_code}")
    if guarded:
        refused = httpx.get(url, headers={"cookie": _apps.OTHER_COOKIES}, timeout=5)
        if refused.status_code != 401:
            raise RuntimeError(f"{name}: no session cookie, yet {refused.status_code}")
    return len(response.headers.get_list("set-cookie"))


def run(*, seconds: float, rounds: int, connections: int, warmup: float) -> dict[str, Any]:
    """Both variants in turns; the JSON of the part."""
    signer = _forward.Signer()
    server_cpu, load_cpu = _sockets.cpu_plan()
    port = _sockets.free_port()
    server = _sockets.start_uvicorn(
        "okta_magiclink_mw.server:create_app", port, server_cpu, env=signer.env()
    )
    try:
        cookie = signer.cookie()
        auth_url = f"http://127.0.0.1:{port}{_apps.AUTH_PATH}"
        _forward.check("forward", auth_url, _apps.auth_headers(cookie), identity=True)
        with running(server_port=port, keepalive=connections, cpu=server_cpu) as nginx:
            auth_port, static_port, pids = nginx
            urls = {
                "nginx_static": f"http://127.0.0.1:{static_port}{PAGE}",
                "nginx_auth": f"http://127.0.0.1:{auth_port}{PAGE}",
            }
            for name, url in urls.items():
                _check(name, url, f"{_apps.OTHER_COOKIES}; {cookie}", guarded=name != BASE)
            targets = {
                "nginx_static": _sockets.Target(urls["nginx_static"], pids),
                "nginx_auth": _sockets.Target(urls["nginx_auth"], (*pids, server.pid)),
            }

            def requests() -> dict[str, dict[str, str]]:
                headers = {"Cookie": f"{_apps.OTHER_COOKIES}; {signer.cookie()}"}
                return dict.fromkeys(targets, headers)

            turns = _sockets.take_turns(
                targets,
                requests,
                base=BASE,
                seconds=seconds,
                rounds=rounds,
                connections=connections,
                load=_sockets.run_wrk,
                load_cpu=load_cpu,
                warmup=warmup,
            )
            for name, url in urls.items():
                last = turns.last_headers[name]["Cookie"]
                turns.loads[name].set_cookies = _check(name, url, last, guarded=name != BASE)
    finally:
        _sockets.stop_all([server])
    version = subprocess.run([binary() or "nginx", "-v"], capture_output=True, text=True)
    return {
        "connections": connections,
        "seconds": seconds,
        "rounds": rounds,
        "nginx": version.stderr.strip().removeprefix("nginx version: "),
        "page": PAGE,
        "keepalive": connections,
        "workers": len(pids) - 1,
        "server_cpu": server_cpu,
        "loadgen_cpu": load_cpu,
        "loadavg_per_round": [round(x, 2) for x in turns.loadavg],
        "variants": {name: load.as_json() for name, load in turns.loads.items()},
    }
