"""Real servers on loopback: FakeOkta and a protected app (uvicorn for ASGI, waitress for WSGI),
and a client that plays the browser and the Sign-In Widget's requests."""

from __future__ import annotations

import contextlib
import html
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from flask import Flask, request
from starlette.types import ASGIApp

from okta_magiclink_mw import OktaMagicLinkWSGI, Settings
from okta_magiclink_mw._demo import demo_app
from okta_magiclink_mw.testing import FakeOkta

CLIENT_ID = "0oaIntegrationTest"
CLIENT_SECRET = "integration-client-secret"
EMAIL = "ada@example.com"
NAME = "Ada Lovelace"


class Clock:
    """Real time plus an offset that a test may move forward (FakeOkta's OTP expiry)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def uvicorn_server(
    app: ASGIApp, sock: socket.socket, *, date_header: bool = True
) -> Iterator[None]:
    """``date_header=False`` for FakeOkta, whose ``Date`` comes from its own clock."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, date_header=date_header)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def waitress_server(app: Callable[..., Any], sock: socket.socket) -> Iterator[None]:
    from waitress.server import create_server

    sock.listen(64)
    server = create_server(app, sockets=[sock], threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.close()
        thread.join(timeout=10)


def flask_app(settings: Settings) -> Callable[..., Any]:
    app = Flask("integration")

    @app.get("/reports")
    def reports() -> str:
        user = request.environ["okta_magiclink_mw.user"]
        return f"<h1>Reports {html.escape(request.args.get('year', ''))}</h1>{user.display_name}"

    @app.get("/")
    def home() -> str:
        return (
            f"<h1>Hello, {html.escape(request.environ['REMOTE_USER'])}!</h1>"
            '<form method=post action="/logout"><button>Sign out</button></form>'
        )

    app.wsgi_app = OktaMagicLinkWSGI(app.wsgi_app, settings)  # type: ignore[method-assign]
    return app


@dataclass
class Stack:
    """FakeOkta on 127.0.0.1 and the app on localhost: two origins, as in real life."""

    kind: str
    fake: FakeOkta
    clock: Clock
    okta_url: str
    app_url: str

    def browser(self) -> Browser:
        return Browser(self)

    def token_posts(self) -> int:
        return sum(1 for r in self.fake.requests if r.path.endswith("/v1/token"))


def _on_host(url: str | None, okta_url: str, host: str | None) -> str | None:
    if url is None or host is None:
        return url
    port = okta_url.rsplit(":", 1)[1]
    return url.replace(okta_url, f"http://{host}:{port}", 1)


@contextlib.contextmanager
def running_stack(
    kind: str, *, widget_host: str | None = None, **settings_overrides: Any
) -> Iterator[Stack]:
    """``widget_host`` serves FakeOkta's copy of the widget under another host name (e.g.
    ``localhost``), so that its files come from an origin that is neither the app's nor
    Okta's, as from Okta's CDN."""
    okta_sock, app_sock = free_socket(), free_socket()
    okta_url = f"http://127.0.0.1:{okta_sock.getsockname()[1]}"
    app_url = f"http://localhost:{app_sock.getsockname()[1]}"
    clock = Clock()
    fake = FakeOkta(base_url=okta_url, clock=clock)
    fake.add_user(email=EMAIL, name=NAME)
    fake.add_web_app(  # as the README tells an admin of a real org (FakeOkta is strict)
        f"{app_url}/login/callback",
        post_logout_redirect_uri=f"{app_url}/",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    settings = Settings(
        issuer=fake.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=f"{app_url}/login/callback",
        post_logout_redirect_uri=f"{app_url}/",
        secret_keys=[secrets.token_urlsafe(32)],
        widget_js_url=_on_host(fake.widget_js_url, okta_url, widget_host),
        widget_css_url=_on_host(fake.widget_css_url, okta_url, widget_host),
        **settings_overrides,
    )
    with uvicorn_server(fake, okta_sock, date_header=False):
        if kind == "asgi":
            with uvicorn_server(demo_app(settings), app_sock):
                yield Stack(kind, fake, clock, okta_url, app_url)
        else:
            with waitress_server(flask_app(settings), app_sock):
                yield Stack(kind, fake, clock, okta_url, app_url)


def okta_hop(magic_link: str) -> str:
    """Open the email's magic link (Okta's ``/email/verify`` hop); return where Okta
    redirects: the app's Email verify callback URI with ``state`` and ``otp``."""
    hop = httpx.get(magic_link, timeout=10)
    assert hop.status_code == 302, hop.text
    return hop.headers["location"]


_CONFIG = re.compile(r"Object\.assign\(\{el: \"#okta-sign-in-widget\"\}, (\{.*?\})\)")


@dataclass
class Browser:
    """One browser: a cookie jar, no automatic redirects, and the widgets it runs."""

    stack: Stack
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.stack.app_url, timeout=10)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(url, **kwargs)

    def open_login(self, path: str) -> Widget:
        """Visit a protected page, follow to the login page, start the widget there."""
        first = self.get(path)
        assert first.status_code == 302, first.text
        return self.widget_at(first.headers["location"])

    def widget_at(self, login_url: str) -> Widget:
        page = self.get(login_url)
        assert page.status_code == 200, page.text
        match = _CONFIG.search(page.text)
        assert match is not None, "no widget on the login page"
        return Widget(self, json.loads(match.group(1)))


@dataclass
class Widget:
    """Plays the Sign-In Widget's requests to the org (protocol.md §6.3)."""

    browser: Browser
    config: dict[str, Any]
    interaction_handle: str = ""
    state_handle: str = ""

    @property
    def origin(self) -> str:
        """The origin of the page the widget runs on (its requests' ``Origin``)."""
        url = httpx.URL(self.config["redirectUri"])
        return f"{url.scheme}://{url.netloc.decode('ascii')}"

    @property
    def okta(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.browser.stack.okta_url,
            timeout=10,
            headers={"Origin": self.origin},
            event_hooks={"response": [self._cors_as_a_browser]},
        )

    def _cors_as_a_browser(self, response: httpx.Response) -> None:
        """A browser hands the widget no answer that lacks CORS for its origin."""
        allowed = response.headers.get("access-control-allow-origin")
        assert allowed == self.origin, (
            f"the browser would block {response.request.url}: not a trusted origin of Okta"
        )

    def _idx(self, path: str, body: dict[str, Any]) -> httpx.Response:
        with self.okta as okta:
            response = okta.post(
                f"/idp/idx/{path}",
                json=body,
                headers={"Accept": "application/json; okta-version=1.0.0"},
            )
        document = response.json()
        self.state_handle = document.get("stateHandle", self.state_handle)
        return response

    def request_email(self, identifier: str = EMAIL) -> dict[str, Any]:
        """interact, introspect, identify, "Send me an email"; return the email."""
        assert self.identify(identifier).is_success
        authenticator = self.browser.stack.fake.info.email_authenticator_id
        sent = self._idx(
            "challenge",
            {
                "authenticator": {"id": authenticator, "methodType": "email"},
                "stateHandle": self.state_handle,
            },
        )
        assert sent.is_success, sent.text
        return dict(self.browser.stack.fake.outbox[-1].as_json())

    def identify(self, identifier: str = EMAIL) -> httpx.Response:
        """interact, introspect and identify; return Okta's answer to identify."""
        c = self.config
        with self.okta as okta:
            interact = okta.post(
                "/oauth2/default/v1/interact",
                data={
                    "client_id": c["clientId"],
                    "scope": " ".join(c["scopes"]),
                    "redirect_uri": c["redirectUri"],
                    "code_challenge": c["codeChallenge"],
                    "code_challenge_method": c["codeChallengeMethod"],
                    "state": c["state"],
                    "nonce": c["nonce"],
                },
            )
        assert interact.status_code == 200, interact.text
        self.interaction_handle = interact.json()["interaction_handle"]
        assert self._idx("introspect", {"interactionHandle": self.interaction_handle}).is_success
        return self._idx("identify", {"identifier": identifier, "stateHandle": self.state_handle})

    def poll(self) -> httpx.Response:
        """The widget's poll of the email challenge (every 4 s while it waits)."""
        return self._idx("challenge/poll", {"stateHandle": self.state_handle})

    def callback_from(self, response: httpx.Response) -> str:
        """The callback URL the widget navigates to for a ``successWithInteractionCode``."""
        fields = response.json()["successWithInteractionCode"]["value"]
        code = next(f["value"] for f in fields if f["name"] == "interaction_code")
        query = httpx.QueryParams({"interaction_code": code, "state": self.config["state"]})
        return f"/login/callback?{query}"

    def answer(self, otp: str) -> httpx.Response:
        return self._idx(
            "challenge/answer", {"credentials": {"passcode": otp}, "stateHandle": self.state_handle}
        )

    def resume(self, handle: str) -> None:
        """A new widget instance in the same browser picks up the saved interaction."""
        self.interaction_handle = handle
        assert self._idx("introspect", {"interactionHandle": handle}).is_success

    def finish(self, otp: str) -> str:
        """Answer with the code; return the callback URL the widget navigates to."""
        response = self.answer(otp)
        assert response.status_code == 200, response.text
        return self.callback_from(response)
