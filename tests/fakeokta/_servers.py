"""Helpers for FakeOkta tests over real sockets: uvicorn in a thread, a widget page app."""

from __future__ import annotations

import contextlib
import html
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from okta_magiclink_mw.testing import FakeOkta, s256


def bind_free_port() -> socket.socket:
    """A listening-ready socket on 127.0.0.1 with an OS-chosen port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve(app: ASGIApp, sock: socket.socket) -> Iterator[str]:
    """Run ``app`` with uvicorn on ``sock`` in a background thread; yield its base URL.

    FakeOkta writes its own ``Date`` (from its clock): uvicorn adds none to its answers.
    """
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,
        date_header=not isinstance(app, FakeOkta),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Transaction:
    """What the app server keeps per sign-in attempt (like the middleware will)."""

    state: str
    verifier: str
    nonce: str

    @property
    def challenge(self) -> str:
        return s256(self.verifier)


@dataclass
class WidgetPageApp:
    """A tiny app that embeds the widget exactly as the middleware will.

    ``GET /login?state=&otp=`` renders the widget; ``GET /login/callback``
    redirects magic links (``otp`` + ``state``) back to ``/login`` and shows
    anything else (the interaction code) as a plain page.
    """

    fake: FakeOkta
    client_id: str
    base_url: str = ""
    transactions: dict[str, Transaction] = field(default_factory=dict)

    def new_transaction(self) -> Transaction:
        tx = Transaction(
            state=secrets.token_hex(16),
            verifier=secrets.token_hex(32),
            nonce=secrets.token_urlsafe(32),
        )
        self.transactions[tx.state] = tx
        return tx

    def widget_config(self, tx: Transaction, otp: str | None = None) -> dict[str, Any]:
        config: dict[str, Any] = {
            "issuer": self.fake.issuer,
            "clientId": self.client_id,
            "redirectUri": f"{self.base_url}/login/callback",
            "state": tx.state,
            "scopes": ["openid", "profile", "email"],
            "codeChallenge": tx.challenge,
            "codeChallengeMethod": "S256",
            "nonce": tx.nonce,
        }
        if otp is not None:
            config["otp"] = otp
        return config

    async def login(self, request: Request) -> Response:
        state = request.query_params.get("state", "")
        tx = self.transactions.get(state)
        if tx is None:
            return HTMLResponse("unknown state", status_code=400)
        config = json.dumps(self.widget_config(tx, request.query_params.get("otp")))
        page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title>
<link rel="stylesheet" href="{html.escape(self.fake.widget_css_url or "")}">
<script src="{html.escape(self.fake.widget_js_url or "")}"></script></head>
<body><div id="w"></div>
<script>
const config = {config};
new OktaSignIn(Object.assign({{el: '#w'}}, config)).showSignInAndRedirect()
  .catch(function (err) {{ console.error('widget error: ' + err); }});
</script></body></html>"""
        return HTMLResponse(page)

    async def callback(self, request: Request) -> Response:
        params = request.query_params
        if "otp" in params and "state" in params:
            query = urlencode({"state": params["state"], "otp": params["otp"]})
            return RedirectResponse(f"/login?{query}", status_code=302)
        items = "".join(
            f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in params.items()
        )
        return HTMLResponse(f"<!doctype html><title>callback</title><ul id='cb'>{items}</ul>")

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/login", self.login),
                Route("/login/callback", self.callback),
                Route("/favicon.ico", lambda request: Response(status_code=204)),
            ]
        )
