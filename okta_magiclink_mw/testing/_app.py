"""``FakeOkta``: the emulator as one ASGI app."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ._cors import OktaCORSMiddleware
from ._endpoint import JSON
from ._ids import okta_id
from ._idx_api import IdxEndpoints
from ._model import FakeClient, FakeUser, Interaction, Step
from ._oauth import OAuthEndpoints
from ._org import Org, SeenRequest
from ._outbox import render_outbox_html
from ._transport import FakeAsyncTransport, FakeSyncTransport

WIDGET_ENV = "OKTA_MW_WIDGET_DIST"
_WIDGET_JS = "js/okta-sign-in.min.js"
_WIDGET_CSS = "css/okta-sign-in.min.css"
_WIDGET_REL = Path("node_modules") / "@okta" / "okta-signin-widget" / "dist"


def find_widget_dist() -> Path | None:
    """Locate ``@okta/okta-signin-widget/dist``: env, then repo root, then cwd."""
    candidates: list[Path] = []
    env = os.environ.get(WIDGET_ENV)
    if env:
        candidates.append(Path(env))
    candidates.append(Path(__file__).resolve().parents[2] / _WIDGET_REL)
    candidates.append(Path.cwd() / _WIDGET_REL)
    for candidate in candidates:
        if (candidate / _WIDGET_JS).is_file():
            return candidate
    return None


class FakeOkta(Org):
    """An in-memory Okta Identity Engine org with one custom authorization server.

    The issuer is ``{base_url}/oauth2/default``. The object is an ASGI app::

        fake = FakeOkta(base_url="http://127.0.0.1:8001")
        user = fake.add_user(email="ada@example.com", name="Ada Lovelace")
        fake.add_client(
            client_id="0oaDemo",
            redirect_uris=["http://127.0.0.1:8000/login/callback"],
            email_verify_callback_uri="http://127.0.0.1:8000/login/callback",
            trusted_origins=["http://127.0.0.1:8000"],
        )
        uvicorn.run(fake, port=8001)

    or, in-process: ``httpx.AsyncClient(transport=fake.async_transport())``.

    ``clock`` returns Unix time and drives every expiry (IDX state, OTP,
    interaction code, tokens), so tests can move time forward.
    ``widget_dist`` points at ``@okta/okta-signin-widget/dist``; by default
    it is found through ``$OKTA_MW_WIDGET_DIST`` or ``node_modules``, and
    served under ``/widget/``.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8001",
        *,
        clock: Callable[[], float] = time.time,
        widget_dist: Path | str | None = None,
        idx_lifetime: float = 600.0,
        poll_min_interval: float = 1.0,
    ) -> None:
        super().__init__(
            base_url, clock=clock, idx_lifetime=idx_lifetime, poll_min_interval=poll_min_interval
        )
        dist = Path(widget_dist) if widget_dist is not None else find_widget_dist()
        self.widget_dist: Path | None = dist if dist and (dist / _WIDGET_JS).is_file() else None
        routes: list[BaseRoute] = [
            *OAuthEndpoints(self).routes(),
            *IdxEndpoints(self).routes(),
            Route("/outbox", self._outbox_html, methods=["GET"]),
            Route("/outbox.json", self._outbox_json, methods=["GET"]),
        ]
        if self.widget_dist is not None:
            routes.append(Mount("/widget", StaticFiles(directory=self.widget_dist)))
        self._app: ASGIApp = OktaCORSMiddleware(
            Router(routes), self.is_trusted_origin, public_prefixes=("/widget/",)
        )

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests.append(SeenRequest(scope["method"], scope["path"]))
        await self._app(scope, receive, send)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """In-process transport for :class:`httpx.AsyncClient`."""
        return FakeAsyncTransport(self)

    def sync_transport(self) -> httpx.BaseTransport:
        """In-process transport for :class:`httpx.Client` (runs the app in a private loop)."""
        return FakeSyncTransport(self)

    # -- setup ------------------------------------------------------------------------------

    def add_user(self, email: str, name: str = "", *, login: str | None = None) -> FakeUser:
        """Create an active user with an enrolled email authenticator."""
        user = FakeUser(email=email, name=name or email.split("@", 1)[0], login=login or email)
        self.users[user.id] = user
        return user

    def add_client(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: Sequence[str] = ("http://127.0.0.1:8000/login/callback",),
        email_verify_callback_uri: str | None = None,
        trusted_origins: Sequence[str] | None = None,
        post_logout_redirect_uris: Sequence[str] = (),
        *,
        label: str = "FakeOkta app",
    ) -> FakeClient:
        """Register an OIDC app allowed to use the Interaction Code grant.

        ``email_verify_callback_uri`` defaults to the first redirect URI and
        ``trusted_origins`` to the origins of the redirect URIs.
        """
        from ._org import origin_of

        uris = list(redirect_uris)
        if trusted_origins is None:
            trusted_origins = sorted({origin_of(u) for u in uris})
        client = FakeClient(
            client_id=client_id or okta_id("0oa"),
            client_secret=client_secret,
            redirect_uris=uris,
            email_verify_callback_uri=email_verify_callback_uri or (uris[0] if uris else None),
            trusted_origins=list(trusted_origins),
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            label=label,
        )
        self.clients[client.client_id] = client
        return client

    # -- helpers for tests ------------------------------------------------------------------

    def rotate_keys(self, *, drop_old: bool = False) -> str:
        """Start signing with a new key; return its ``kid``.

        The previous keys stay in the JWKS unless ``drop_old`` is true.
        """
        return self.keys.rotate(drop_old=drop_old).kid

    @property
    def current_kid(self) -> str:
        """``kid`` of the key that signs new tokens."""
        return self.keys.active.kid

    def mint_id_token(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = None,
        key: Any = None,
        alg: str = "RS256",
        headers: dict[str, Any] | None = None,
    ) -> str:
        """Sign ``claims`` exactly as given (no defaults added).

        By default with the active key and its ``kid``. Pass another ``key``
        (any PyJWT key), ``kid``, ``alg`` (``"none"`` works) or extra header
        fields to build bad tokens. :meth:`id_token_claims` gives the claims
        the fake would use.
        """
        return self.keys.sign(claims, kid=kid, key=key, alg=alg, headers=headers)

    def issue_interaction_code(
        self,
        client_id: str,
        user: FakeUser,
        code_challenge: str,
        *,
        state: str | None = None,
        nonce: str | None = None,
        redirect_uri: str | None = None,
        scopes: Sequence[str] = ("openid", "profile", "email"),
    ) -> str:
        """A valid interaction code as if ``user`` signed in through the widget."""
        client = self.clients[client_id]
        ix = self.start_interaction(
            client,
            scopes=list(scopes),
            redirect_uri=redirect_uri or client.redirect_uris[0],
            code_challenge=code_challenge,
            state=state,
            nonce=nonce,
        )
        ix.user = user
        ix.step = Step.CHALLENGE
        return self.complete(ix).code

    def interaction_for_state(self, state: str) -> Interaction | None:
        """The newest IDX transaction started with OAuth ``state``."""
        found = [ix for ix in self.interactions.values() if ix.state == state]
        return found[-1] if found else None

    @property
    def widget_js_url(self) -> str | None:
        """URL of ``okta-sign-in.min.js`` served by the fake, if the widget is installed."""
        return f"{self.base_url}/widget/{_WIDGET_JS}" if self.widget_dist else None

    @property
    def widget_css_url(self) -> str | None:
        """URL of ``okta-sign-in.min.css`` served by the fake, if the widget is installed."""
        return f"{self.base_url}/widget/{_WIDGET_CSS}" if self.widget_dist else None

    # -- mailbox ----------------------------------------------------------------------------

    async def _outbox_html(self, request: Request) -> Response:
        return HTMLResponse(render_outbox_html(self.outbox), headers={"Cache-Control": "no-store"})

    async def _outbox_json(self, request: Request) -> Response:
        return JSON([m.as_json() for m in self.outbox], headers={"Cache-Control": "no-store"})
