"""A real ``redis-server`` for tests: on a free loopback port, in its own temp dir.

Use the fixtures from a conftest (``from tests._redis_server import redis_server,
redis_url``) or the context manager directly::

    with running_redis(tmp_path) as server:
        server.url      # redis://127.0.0.1:N/0
        server.stop()   # an outage; server.start() brings it back on the same port
        server.pause()  # a hung server (SIGSTOP): connections open, nothing answers

Without ``redis-server`` on PATH the tests are skipped, unless ``OKTA_MW_REQUIRE_REDIS``
is set (CI), which makes them fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

READY_TIMEOUT = 10.0


def _require(what: str) -> None:
    if os.environ.get("OKTA_MW_REQUIRE_REDIS"):
        pytest.fail(f"{what}, and OKTA_MW_REQUIRE_REDIS is set")
    pytest.skip(f"{what}; the Redis tests need it (OKTA_MW_REQUIRE_REDIS=1 makes this fail)")


def redis_binary() -> str:
    """The path of ``redis-server``, or skip (fail under OKTA_MW_REQUIRE_REDIS)."""
    path = shutil.which("redis-server")
    if path is None:
        _require("redis-server is not on PATH")
    try:
        import redis  # noqa: F401
    except ImportError:
        _require("redis-py is not installed (pip install 'okta-magiclink-mw[redis]')")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process that a test may stop, start, pause and resume."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.binary = redis_binary()
        self.dir = directory
        self.port = port or free_port()
        self.unix_socket = directory / "redis.sock"
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--unixsocket", str(self.unix_socket),
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]  # fmt: skip

    def start(self) -> None:
        """Start it (again, on the same port) and wait until it answers PING."""
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING")
            time.sleep(0.01)

    def stop(self) -> None:
        """Kill it: every connection breaks at once, as when the server dies."""
        if self.process is not None:
            self.resume()
            self.process.kill()
            self.process.wait()
            self.process = None

    def pause(self) -> None:
        """Freeze it: connections stay open and nothing answers (a hung server)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def client(self) -> object:
        """A plain redis-py client, to look at the keys from outside the store."""
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class SentinelServer(RedisServer):
    """``redis-server --sentinel`` watching ``master`` as service ``service``."""

    def __init__(self, directory: Path, master: RedisServer, service: str = "sessions") -> None:
        super().__init__(directory)
        self.service = service
        self.config = directory / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {service} 127.0.0.1 {master.port} 1\n"
        )
        self.url = f"redis+sentinel://127.0.0.1:{self.port}/{service}/0"

    def command(self) -> list[str]:
        return [self.binary, str(self.config), "--sentinel"]


@contextlib.contextmanager
def running_sentinel(master: RedisServer) -> Iterator[SentinelServer]:
    """A Sentinel for ``master``, in its own temp dir, killed at the end."""
    with tempfile.TemporaryDirectory(prefix="omw-sentinel-") as directory:
        sentinel = SentinelServer(Path(directory), master)
        sentinel.start()
        try:
            yield sentinel
        finally:
            sentinel.stop()


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A started :class:`RedisServer` in a fresh temp dir, killed at the end.

    Not pytest's ``tmp_path``: a unix socket path must stay under ~108 bytes.
    """
    with tempfile.TemporaryDirectory(prefix="omw-redis-") as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop and restart."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="session")
def _shared_redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_url(_shared_redis: RedisServer) -> str:
    """``redis://127.0.0.1:N/0`` of a server shared by the session, emptied for this test."""
    import redis

    with redis.Redis.from_url(_shared_redis.url) as client:
        client.flushall()
    return _shared_redis.url
