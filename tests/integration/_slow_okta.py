"""An Okta that answers over a real socket on 127.0.0.1 as slowly as a test asks.

Each path gets a :class:`Route`: how the canned response goes out (``"now"`` all at once,
``"drip_head"`` one byte at a time from the status line on, ``"drip_body"`` the status line
and headers at once and then the body one byte at a time, ``"silent"`` never a byte). The
server notices when the middleware hangs up, so tests can check nothing is left open.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DRIP_INTERVAL = 0.2


def http_response(
    body: bytes, status: str = "200 OK", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {"content-type": "application/json"}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Route:
    mode: str  # "now" | "drip_head" | "drip_body" | "silent"
    response: bytes = field(default_factory=lambda: http_response(b'{"ok": true}'))


@dataclass
class Connection:
    heads: list[bytes] = field(default_factory=list)
    closed_by_peer: threading.Event = field(default_factory=threading.Event)


class SlowOkta:
    """``with SlowOkta({"/path": Route("drip_head")}) as okta:`` then use ``okta.url``."""

    def __init__(self, routes: dict[str, Route] | None = None, default: Route | None = None):
        self.routes = dict(routes or {})
        self.default = default or Route("drip_head")
        self.connections: list[Connection] = []
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = f"{self.url}/oauth2/default"

    def discovery(self, token_route: Route) -> None:
        """Serve a real discovery document at once; the token endpoint answers as told."""
        doc = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/v1/authorize",
            "token_endpoint": f"{self.issuer}/v1/token",
            "jwks_uri": f"{self.issuer}/v1/keys",
        }
        path = "/oauth2/default/.well-known/openid-configuration"
        self.routes[path] = Route("now", http_response(json.dumps(doc).encode()))
        self.routes["/oauth2/default/v1/token"] = token_route

    def __enter__(self) -> SlowOkta:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()
        assert not any(t.is_alive() for t in self._threads), "a server thread is still running"

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            record = Connection()
            self.connections.append(record)
            self._spawn(self._serve, conn, record)

    def _serve(self, conn: socket.socket, record: Connection) -> None:
        """Answer requests on one connection (kept alive) until the client hangs up."""
        with conn:
            while not self._stop.is_set():
                head = self._read_request(conn)
                if head is None:
                    break
                with self._arrived:
                    record.heads.append(head)
                    self._arrived.notify_all()
                target = head.split(b" ", 2)[1].decode("latin-1")
                route = self.routes.get(target.split("?", 1)[0], self.default)
                try:
                    answered = self._answer(conn, route)
                except OSError:  # the client hung up as we wrote
                    answered = False
                if not answered:
                    break
            if not self._stop.is_set():
                record.closed_by_peer.set()

    def _answer(self, conn: socket.socket, route: Route) -> bool:
        """Send ``route``'s answer; False if the client hung up meanwhile."""
        response = route.response
        if route.mode == "now":
            conn.sendall(response)
        elif route.mode == "silent":
            while not self._stop.is_set():
                if self._peer_closed(conn, 0.05):
                    return False
        else:
            split = 0 if route.mode == "drip_head" else response.index(b"\r\n\r\n") + 4
            conn.sendall(response[:split])
            for i in range(split, len(response)):
                if self._peer_closed(conn, DRIP_INTERVAL):
                    return False
                conn.sendall(response[i : i + 1])
        return True

    def _read_request(self, conn: socket.socket) -> bytes | None:
        """The next request's head, or None when the client hung up (or the test ended)."""
        data = b""
        while b"\r\n\r\n" not in data:
            if self._stop.is_set():
                return None
            ready, _, _ = select.select([conn], [], [], 0.05)
            if ready:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return None
                if not chunk:
                    return None
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:  # the token POST's form: read it all before answering
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        return head

    def _peer_closed(self, conn: socket.socket, wait: float) -> bool:
        """Wait up to ``wait`` seconds; True if the client hung up meanwhile."""
        ready, _, _ = select.select([conn], [], [], wait)
        if not ready:
            return False
        try:
            return conn.recv(65536) == b""
        except OSError:
            return True

    def connection_closed(self, timeout: float = 5.0) -> bool:
        """Every connection made so far was closed by the client within ``timeout``."""
        return all(c.closed_by_peer.wait(timeout) for c in self.connections)

    def wait_for_request(self, start: bytes, timeout: float = 10.0) -> bool:
        """Wait until a request whose head starts with ``start`` (b"POST /path") arrived."""
        with self._arrived:
            return self._arrived.wait_for(
                lambda: any(h.startswith(start) for h in self.heads()), timeout
            )

    def heads(self) -> Iterator[bytes]:
        """The head of every request received, in order of connection."""
        return (h for c in list(self.connections) for h in c.heads)
