"""Several processes of one protected app behind a real nginx, FakeOkta on the side.

::

    with running_cluster("asgi") as cluster:      # or "wsgi"
        browser = cluster.sign_in()               # through nginx, as the widget would
        browser.get("/whoami").json()             # {"pid": ..., "user": "ada@example.com", ...}
        cluster.kill(0); cluster.restart(0)       # same port, new process

- FakeOkta runs in this process (uvicorn in a thread), so tests read its outbox and its
  request log directly (``cluster.token_posts()``), and the ``grant_type`` of every
  token request (``cluster.grants()``, ``cluster.refresh_posts()``); a test may hold
  refresh requests until its concurrent calls are in place
  (:meth:`Cluster.refreshes_held_until`).
- ``workers=2`` runs each ASGI instance as ``uvicorn --workers 2`` (a supervisor and its
  worker processes); ``threads=`` sets waitress's threads. ``movable_clock=True`` gives
  every instance the clock of FakeOkta (real time plus an offset in a file), so
  :meth:`Cluster.advance` moves time for Okta and for the apps at once.
- Each app instance is its own process in its own process group: ``python -m uvicorn
  --factory tests.integration._cluster_app:asgi_app`` (the demo's Starlette app in
  OktaMagicLink) or ``python -m waitress --call tests.integration._cluster_app:wsgi_app``
  (a Flask app in OktaMagicLinkWSGI); see :mod:`._cluster_app`. They are configured
  only through the environment, as a deployment would be: the same OKTA_MW_SECRET_KEYS,
  and OKTA_MW_SESSION_STORE when a Redis is used.
- nginx runs ``examples/nginx.conf`` with only its listen port and instance ports
  changed, from a temporary prefix directory (pid, logs, temp files all in there).
- Every child also dies with this process (PR_SET_PDEATHSIG), and teardown kills whole
  process groups, so a failing or interrupted test leaves nothing behind.

The app is ``http://localhost:<nginx port>`` and FakeOkta ``http://127.0.0.1:<port>``: two
origins, as in :mod:`._stack`. The instances are also reachable directly at
``http://localhost:<their port>``; cookies ignore ports, so one cookie jar works for all.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import dataclasses
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from okta_magiclink_mw import Settings
from okta_magiclink_mw.testing import FakeOkta

from ._cluster_app import (
    ARRIVALS_ENV,
    CLOCK_FILE_ENV,
    SESSION_STORE_ENV,
    WIDGET_CSS_ENV,
    WIDGET_JS_ENV,
)
from ._stack import CLIENT_ID, CLIENT_SECRET, EMAIL, NAME, Browser, Clock, Stack, free_socket

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_NGINX_CONF = REPO / "examples" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


STARTUP_TIMEOUT = 15.0


# -- child processes ---------------------------------------------------------------------

_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_LIVE: set[subprocess.Popen[bytes]] = set()


def _die_with_parent(parent: int) -> None:
    # Runs in the child between fork and exec: if the test process dies (even by SIGKILL),
    # the kernel sends this child SIGTERM. nginx's master then stops its workers.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def spawn(argv: list[str], *, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new process group, output to ``log``."""
    parent = os.getpid()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: _die_with_parent(parent),
        )
    _LIVE.add(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
    """Signal the process group of ``proc``; SIGKILL it if it does not go in time."""
    try:
        if proc.returncode is not None:  # reaped already: its pid may be someone else's now
            return
        _signal_group(proc, sig)
        if not _exited(proc, timeout):
            _signal_group(proc, signal.SIGKILL)
            _exited(proc, timeout)
        # The leader is a zombie, not yet reaped, so its group id cannot have been reused:
        # this reaches only what it left behind (nginx workers), then the leader is reaped.
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=timeout)
    finally:
        _LIVE.discard(proc)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _exited(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``proc`` to exit without reaping it (WNOWAIT)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.01)
    return False


@atexit.register
def _stop_leftovers() -> None:  # a last resort if a teardown never ran
    for proc in list(_LIVE):
        stop(proc, signal.SIGKILL, timeout=2)


def free_port() -> int:
    with contextlib.closing(free_socket()) as sock:
        port: int = sock.getsockname()[1]
    return port


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_until(ready: Any, *, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``ready()`` until true; fail with the log if the process exits or time runs out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError, httpx.TransportError):
            if ready():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {STARTUP_TIMEOUT} s:\n{tail(log)}")
        time.sleep(0.02)


@dataclass
class Instance:
    """One app process on a fixed port; :meth:`kill` and :meth:`start` again keep the port."""

    kind: str
    index: int
    port: int
    env: Mapping[str, str]
    directory: Path
    proc: subprocess.Popen[bytes] | None = None
    #: ASGI: uvicorn worker processes (1: the process itself serves). WSGI: ignored.
    workers: int = 1
    #: WSGI: waitress's threads. ASGI: ignored.
    threads: int = 8

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / f"{self.kind}-{self.index}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def argv(self) -> list[str]:
        python = sys.executable
        if self.kind == "asgi":
            return [
                *(python, "-m", "uvicorn", "--factory", "tests.integration._cluster_app:asgi_app"),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--log-level", "warning", "--no-access-log", "--timeout-graceful-shutdown", "2"),
                *(("--workers", str(self.workers)) if self.workers > 1 else ()),
            ]
        return [
            *(python, "-m", "waitress", f"--listen=127.0.0.1:{self.port}"),
            f"--threads={self.threads}",
            # As behind any proxy: take the client's address and scheme from nginx.
            "--trusted-proxy=127.0.0.1",
            "--trusted-proxy-headers=x-forwarded-for x-forwarded-proto x-forwarded-host",
            *("--call", "tests.integration._cluster_app:wsgi_app"),
        ]

    def spawn(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = spawn(self.argv(), env=self.env, log=self.log)

    def wait_ready(self) -> None:
        proc = self.proc
        assert proc is not None

        def ready() -> bool:
            answer = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1)
            # The pid proves this is the new process, not a dying old one (with uvicorn
            # --workers, the answer comes from a worker whose parent is the process).
            seen = answer.json() if answer.status_code == 200 else {}
            return proc.pid in (seen.get("pid"), seen.get("ppid"))

        wait_until(ready, what=f"{self.kind} instance {self.index}", proc=proc, log=self.log)

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed, no goodbye."""
        if self.proc is not None:
            stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


def render_nginx_conf(template: str, *, listen_port: int, upstream_ports: list[int]) -> str:
    """The example config with its listen port and its instances replaced, nothing else."""
    listen = "listen 127.0.0.1:8080;"
    if template.count(listen) != 1:
        raise ValueError(f"examples/nginx.conf must contain {listen!r} exactly once")
    conf = template.replace(listen, f"listen 127.0.0.1:{listen_port};")
    servers = list(re.finditer(r"(?m)^([ \t]*)server 127\.0\.0\.1:\d+;\n", conf))
    if not servers:
        raise ValueError("examples/nginx.conf has no 'server 127.0.0.1:PORT;' in its upstream")
    indent = servers[0].group(1)
    ours = "".join(f"{indent}server 127.0.0.1:{port};\n" for port in upstream_ports)
    start, end = servers[0].start(), servers[-1].end()
    if conf[start:end].count("\n") != len(servers):
        raise ValueError("the upstream's server lines must be consecutive")
    return conf[:start] + ours + conf[end:]


@dataclass
class Nginx:
    """nginx from a private prefix directory: ``nginx -p DIR -c DIR/nginx.conf``."""

    directory: Path
    port: int
    conf: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    def argv(self) -> list[str]:
        conf = self.directory / "nginx.conf"
        # -e: the error log before the config is read (the compiled-in one is not ours).
        return [NGINX, "-p", f"{self.directory}/", "-c", str(conf), "-e", str(self.error_log)]

    def spawn(self) -> None:
        # Workers of a root master run as "nobody": they must be able to enter the prefix.
        self.directory.chmod(0o755)
        (self.directory / "tmp").mkdir(exist_ok=True)
        (self.directory / "nginx.conf").write_text(self.conf)
        argv = [*self.argv(), "-g", "daemon off;"]
        self.proc = spawn(argv, env=os.environ, log=self.directory / "nginx.out")

    def wait_ready(self) -> None:
        assert self.proc is not None

        def ready() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        wait_until(ready, what="nginx", proc=self.proc, log=self.error_log)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGQUIT)  # graceful: finish requests in flight


@dataclass
class RedisServer:
    """A throwaway redis-server on a fixed port; :meth:`stop` saves, :meth:`start` reloads.

    Stopping with ``SHUTDOWN SAVE`` and starting again on the same port with the same
    ``dir`` is an outage that loses nothing: sessions are still there when it is back.
    """

    directory: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.directory / "redis.log"

    def command(self, *words: str, timeout: float = 2.0) -> bytes:
        """One RESP command over a fresh connection; the raw reply."""
        payload = f"*{len(words)}\r\n".encode()
        for word in words:
            payload += f"${len(word.encode())}\r\n{word}\r\n".encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(payload)
            return sock.recv(65536)

    def spawn(self) -> None:
        argv = [
            *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"),
            *("--dir", str(self.directory), "--dbfilename", "redis.rdb", "--save", ""),
            *("--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"),
            *("--logfile", str(self.log)),
        ]
        self.proc = spawn(argv, env=os.environ, log=self.directory / "redis.out")

    def wait_ready(self) -> None:
        assert self.proc is not None
        wait_until(
            lambda: self.command("PING").startswith(b"+PONG"),
            what="redis-server",
            proc=self.proc,
            log=self.log,
        )

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def stop(self) -> None:
        """Save to disk and exit; the port refuses connections until :meth:`start`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            self.command("SHUTDOWN", "SAVE")
        stop(self.proc, signal.SIGTERM)


class TokenLog:
    """FakeOkta, keeping the ``grant_type`` of every POST to ``/v1/token``; it can hold
    the refresh grants until a condition holds (see :meth:`Cluster.refreshes_held_until`)."""

    #: A held refresh gives up waiting after this long (and says so in ``hold_timed_out``).
    HOLD_TIMEOUT = 10.0

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.grants: list[str] = []
        self.hold: Callable[[], bool] | None = None
        self.hold_timed_out = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/v1/token")
        ):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        grant = parse_qs(body.decode("latin-1")).get("grant_type", [""])[0]
        self.grants.append(grant)
        hold = self.hold
        if grant == "refresh_token" and hold is not None:
            await self._wait(hold)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _wait(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.HOLD_TIMEOUT
        while not await asyncio.to_thread(condition):
            if time.monotonic() > deadline:
                self.hold_timed_out = True
                return
            await asyncio.sleep(0.005)


# -- the cluster -------------------------------------------------------------------------


@dataclass
class Cluster(Stack):
    """A :class:`Stack` whose ``app_url`` is nginx in front of several app instances."""

    instances: list[Instance] = field(default_factory=list)
    nginx: Nginx | None = None
    redis: RedisServer | None = None
    directory: Path = Path()
    token_log: TokenLog | None = None
    #: Set with ``movable_clock=True``: the offset every instance adds to real time.
    clock_file: Path | None = None

    #: The Redis key each ``/api/token`` call increments before asking for its token.
    ARRIVALS_KEY = "omw-test:arrivals"

    def url(self, index: int | None = None) -> str:
        """nginx's URL, or with an index that instance's own."""
        return self.app_url if index is None else self.instances[index].url

    def pids(self) -> list[int]:
        return [instance.pid for instance in self.instances]

    def kill(self, index: int) -> None:
        self.instances[index].kill()

    def restart(self, *indexes: int) -> None:
        """Kill these instances (SIGKILL, a crash) and start them again on their ports,
        all at once."""
        for index in indexes:
            self.instances[index].kill()
        for index in indexes:
            self.instances[index].spawn()
        for index in indexes:
            self.instances[index].wait_ready()

    def sign_in(
        self, *, start: int | None = None, finish: int | None = None, path: str = "/whoami"
    ) -> Browser:
        """A browser signed in with a typed code, as the widget would do it.

        ``start`` is where the protected page and the login page are asked for,
        ``finish`` where the widget's callback goes: an instance's index, or None for
        nginx. The widget's own calls go to FakeOkta.
        """
        browser = self.browser()
        first = browser.get(f"{self.url(start)}{path}")
        assert first.status_code == 302, first.text
        widget = browser.widget_at(f"{self.url(start)}{first.headers['location']}")
        email = widget.request_email()
        landing = browser.get(f"{self.url(finish)}{widget.finish(email['otp'])}")
        assert landing.status_code == 302, landing.text
        assert landing.headers["location"] == path
        return browser

    def sign_out(self, browser: Browser, at: int | None = None) -> httpx.Response:
        """The sign-out button: a same-origin POST to /logout."""
        return browser.http.post(f"{self.url(at)}/logout", headers={"Origin": self.app_url})

    def grants(self) -> list[str]:
        """The ``grant_type`` of every token request FakeOkta received, in order."""
        assert self.token_log is not None
        return list(self.token_log.grants)

    def refresh_posts(self) -> int:
        """How many ``grant_type=refresh_token`` requests FakeOkta received."""
        return self.grants().count("refresh_token")

    def advance(self, seconds: float) -> None:
        """Move time forward for FakeOkta and for every instance (``movable_clock=True``)."""
        assert self.clock_file is not None, "start the cluster with movable_clock=True"
        self.clock.offset += seconds
        write_offset(self.clock_file, self.clock.offset)

    def arrivals(self) -> int:
        """How many ``/api/token`` calls reached the apps since :meth:`reset_arrivals`."""
        assert self.redis is not None, "arrivals are counted in Redis"
        reply = self.redis.command("GET", self.ARRIVALS_KEY)
        if reply.startswith(b"$-1"):
            return 0
        return int(reply.split(b"\r\n")[1])

    def reset_arrivals(self) -> None:
        assert self.redis is not None
        self.redis.command("DEL", self.ARRIVALS_KEY)

    @contextlib.contextmanager
    def refreshes_held_until(self, condition: Callable[[], bool]) -> Iterator[TokenLog]:
        """Inside, FakeOkta holds each refresh grant until ``condition()`` is true (polled
        every 5 ms, at most :attr:`TokenLog.HOLD_TIMEOUT`): concurrent callers are all in
        place while the first one's refresh is in flight. Check ``hold_timed_out``."""
        log = self.token_log
        assert log is not None
        log.hold, log.hold_timed_out = condition, False
        try:
            yield log
        finally:
            log.hold = None

    def logs(self) -> str:
        """Every log of the cluster, for a failure message."""
        paths = sorted(self.directory.glob("*.log")) + sorted(self.directory.glob("*.out"))
        return "\n".join(f"--- {p.name}\n{tail(p)}" for p in paths)


def write_offset(path: Path, offset: float) -> None:
    """Replace the clock file in one step: a reader never sees it half written."""
    partial = path.with_suffix(".tmp")
    partial.write_text(repr(offset))
    partial.replace(path)


def session_cookie(browser: Browser) -> str:
    """The value of the browser's session cookie."""
    values = [c.value for c in browser.http.cookies.jar if c.name == "omw_session"]
    assert len(values) == 1, values
    return values[0] or ""


def redis_store_missing() -> str | None:
    """Why the Redis session store cannot be used here, or None when it can."""
    try:
        from okta_magiclink_mw import stores
    except ImportError:  # pragma: no cover - the package is there today
        return "okta_magiclink_mw.stores is missing"
    if not hasattr(stores, "RedisSessionStore"):
        return "okta_magiclink_mw.stores does not expose RedisSessionStore yet (issue 8)"
    if "session_store" not in {f.name for f in dataclasses.fields(Settings)}:
        return "Settings has no session_store setting yet (issue 8)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "redis-py is not installed"
    if not Path(REDIS_SERVER).exists():
        return f"{REDIS_SERVER} is not installed (apt-get install redis-server)"
    return None


#: The switch for the tests that need shared sessions (marked "needs Redis"). None: on by
#: themselves as soon as the Redis store is there (see :func:`redis_store_missing`);
#: True: required, and a missing store is an error, not a skip; False: off. The
#: environment variable OKTA_MW_CLUSTER_REDIS=1 or 0 overrides it.
USE_REDIS: bool | None = None


def _use_redis() -> tuple[bool, str]:
    wanted = {"1": True, "0": False}.get(os.environ.get("OKTA_MW_CLUSTER_REDIS", ""), USE_REDIS)
    missing = redis_store_missing()
    if wanted is False:
        return False, "turned off (USE_REDIS = False or OKTA_MW_CLUSTER_REDIS=0)"
    if missing is not None and wanted:
        raise RuntimeError(f"the Redis session store is required but {missing}")
    return missing is None, missing or ""


#: Whether this run has the Redis store, and if not, why not.
REDIS, REDIS_MISSING = _use_redis()


@contextlib.contextmanager
def running_cluster(
    kind: str,
    *,
    instances: int = 2,
    redis: bool = False,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    threads: int = 8,
    movable_clock: bool = False,
    okta_client: Mapping[str, Any] | None = None,
) -> Iterator[Cluster]:
    """FakeOkta, (a redis-server,) ``instances`` processes of the app, nginx in front.

    Everything starts at once and is waited for together; everything is stopped on the
    way out, whatever happened inside. ``okta_client`` are more arguments of FakeOkta's
    ``add_web_app`` (``access_token_lifetime=``, ``refresh_token_rotation=``...).
    """
    from ._stack import uvicorn_server

    directory = Path(tempfile.mkdtemp(prefix=f"omw-cluster-{kind}-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        okta_sock = free_socket()
        okta_url = f"http://127.0.0.1:{okta_sock.getsockname()[1]}"
        nginx_port = free_port()
        app_url = f"http://localhost:{nginx_port}"
        clock = Clock()
        fake = FakeOkta(base_url=okta_url, clock=clock)
        fake.add_user(email=EMAIL, name=NAME)
        fake.add_web_app(  # as the README tells an admin (FakeOkta is strict)
            f"{app_url}/login/callback",
            post_logout_redirect_uri=f"{app_url}/",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            **(okta_client or {}),
        )
        token_log = TokenLog(fake)
        cleanup.enter_context(uvicorn_server(token_log, okta_sock, date_header=False))

        child_env = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_")}
        child_env.update(
            PYTHONPATH=str(REPO),
            OKTA_ISSUER=fake.issuer,
            OKTA_CLIENT_ID=CLIENT_ID,
            OKTA_CLIENT_SECRET=CLIENT_SECRET,
            OKTA_REDIRECT_URI=f"{app_url}/login/callback",
            OKTA_POST_LOGOUT_REDIRECT_URI=f"{app_url}/",
            OKTA_MW_SECRET_KEYS=secrets.token_urlsafe(32),
        )
        if fake.widget_js_url:
            child_env[WIDGET_JS_ENV] = fake.widget_js_url
            child_env[WIDGET_CSS_ENV] = fake.widget_css_url or ""
        store: RedisServer | None = None
        if redis:
            store = RedisServer(directory, free_port())
            cleanup.callback(store.stop)
            store.spawn()
            child_env[SESSION_STORE_ENV] = store.url
            child_env[ARRIVALS_ENV] = Cluster.ARRIVALS_KEY
        clock_file: Path | None = None
        if movable_clock:
            clock_file = directory / "clock"
            write_offset(clock_file, clock.offset)
            child_env[CLOCK_FILE_ENV] = str(clock_file)
        child_env.update(env or {})

        apps = [
            Instance(kind, i, free_port(), child_env, directory, workers=workers, threads=threads)
            for i in range(instances)
        ]
        for app in apps:
            cleanup.callback(app.stop)
            app.spawn()
        conf = render_nginx_conf(
            EXAMPLE_NGINX_CONF.read_text(),
            listen_port=nginx_port,
            upstream_ports=[app.port for app in apps],
        )
        nginx = Nginx(directory, nginx_port, conf)
        cleanup.callback(nginx.stop)
        nginx.spawn()

        if store is not None:
            store.wait_ready()
        for app in apps:
            app.wait_ready()
        nginx.wait_ready()
        yield Cluster(
            kind,
            fake,
            clock,
            okta_url,
            app_url,
            instances=apps,
            nginx=nginx,
            redis=store,
            directory=directory,
            token_log=token_log,
            clock_file=clock_file,
        )
