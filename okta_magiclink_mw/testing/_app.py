"""``FakeOkta``: the emulator as one ASGI app."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ._cors import OktaCORSMiddleware, send_with
from ._endpoint import JSON
from ._hosted import HostedPages
from ._ids import okta_id, opaque
from ._idx_api import IdxEndpoints
from ._logout import (
    asend,
    backchannel_logout_request,
    send,
    universal_logout_claims,
    universal_logout_request,
)
from ._management import ManagementEndpoints
from ._model import (
    DOCUMENTED_GRANT_TYPES,
    EVERYONE,
    KNOWN_GRANT_TYPES,
    NEW_WEB_APP_GRANT_TYPES,
    ROTATION_GRACE,
    TOKEN_LIFETIME,
    FakeClient,
    FakeUser,
    Interaction,
    Step,
    TrustedOrigin,
)
from ._oauth import OAuthEndpoints
from ._org import Org, SeenRequest, origin_of
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
        fake.add_user(email="ada@example.com", name="Ada Lovelace")
        fake.add_web_app(
            "http://localhost:8000/login/callback",
            post_logout_redirect_uri="http://localhost:8000/",
            client_id="0oaDemo",
        )
        uvicorn.run(fake, port=8001, date_header=False)

    or, in-process: ``httpx.AsyncClient(transport=fake.async_transport())``.

    **As strict as a real org.** Nothing is set up for you: an app from
    :meth:`add_client` is a new Admin Console Web app (Authorization Code
    grant only, no assignment, no Email verify callback URI, no sign-out
    URI), and no origin is trusted. :meth:`add_web_app` sets an app up the
    way the README tells an admin to. What goes wrong otherwise is what goes
    wrong on a real org:

    - an origin not in :meth:`add_trusted_origin` gets no CORS headers (its
      preflight a 403): the real widget there shows its own error;
    - a client without ``interaction_code`` in ``grant_types`` gets
      ``unauthorized_client`` from ``/v1/interact`` (Okta's body, listing
      the configured grant types), and the ``refresh_token`` grant needs
      ``refresh_token``;
    - an unregistered ``redirect_uri`` is refused at ``/v1/interact``;
    - a user not assigned to the app (:meth:`assign_user`,
      :meth:`assign_group`) gets the IDX message "User is not assigned to
      this application." in the widget, one denied by the app's sign-in
      policy (:meth:`deny_access`) ``security.access_denied``; neither is
      ever a ``?error=`` on the app's callback;
    - without ``email_verify_callback_uri`` the magic link's
      ``/email/verify/{appId}?token=`` hop ends on an Okta-hosted page
      (:attr:`magic_link_same_browser` says which one); with it, the hop
      redirects to the app with ``state`` and ``otp``;
    - an unregistered ``post_logout_redirect_uri`` at ``/v1/logout`` gets
      Okta's 400 error page; none at all lands on the org's sign-in page.

    **Knobs** to set it up wrong one way at a time: :attr:`trusted_origins`
    (:meth:`add_trusted_origin`, :meth:`remove_trusted_origin`), and on a
    :class:`FakeClient` ``grant_types``, ``redirect_uris``,
    ``post_logout_redirect_uris``, ``email_verify_callback_uri``,
    ``groups_claim``, ``assigned_users`` / ``assigned_groups``.

    ``clock`` returns Unix time and drives every expiry (IDX state, OTP,
    interaction code, access tokens, refresh-token grace and idle time), so
    tests can move time forward; it also writes every response's ``Date``
    header, so a clock set apart from real time (``fake.clock = lambda:
    time.time() + 600``) is a skewed Okta. Serve with uvicorn's
    ``date_header=False``, or uvicorn adds its own ``Date`` first.

    Tokens: with ``offline_access`` granted the token response has a
    ``refresh_token``, redeemable with ``grant_type=refresh_token``
    (rotation per client, see :meth:`add_client`); ``/v1/revoke`` revokes
    access and refresh tokens. :meth:`deactivate_user` ends a user's
    tokens and sign-ins. The org authorization server's keys are served at
    ``{base_url}/oauth2/v1/keys``; they sign the requests of
    :meth:`universal_logout`.
    ``widget_dist`` points at ``@okta/okta-signin-widget/dist``; by default
    it is found through ``$OKTA_MW_WIDGET_DIST`` or ``node_modules``, and
    served under ``/widget/``.

    **Management API**, read-only, for ``okta-magiclink-mw doctor``:
    ``GET /api/v1/apps/{appId}`` (the app id is the client id),
    ``GET /api/v1/trustedOrigins`` and
    ``GET /api/v1/authorizationServers/default/claims``, in Okta's shapes,
    with ``Authorization: SSWS {token}`` for a token of :meth:`add_api_token`.
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
        #: Management API tokens that work (:meth:`add_api_token`).
        self.api_tokens: set[str] = set()
        hosted = HostedPages(self)
        routes: list[BaseRoute] = [
            *OAuthEndpoints(self).routes(),
            *IdxEndpoints(self).routes(),
            *ManagementEndpoints(self, self.api_tokens).routes(),
            Route("/", hosted.sign_in_page, methods=["GET"]),
            Route("/email/verify/{app_id}", hosted.email_verify, methods=["GET"]),
            Route("/outbox", self._outbox_html, methods=["GET"]),
            Route("/outbox.json", self._outbox_json, methods=["GET"]),
        ]
        if self.widget_dist is not None:
            routes.append(Mount("/widget", StaticFiles(directory=self.widget_dist)))
        self._app: ASGIApp = OktaCORSMiddleware(
            # ExceptionMiddleware: a missing widget file is a 404, as from a CDN, not a 500.
            ExceptionMiddleware(Router(routes)),
            self.is_trusted_origin,
            public_prefixes=("/widget/",),
        )

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests.append(SeenRequest(scope["method"], scope["path"]))
            # Okta's Date header, from the org's clock: what a clock-skew check reads.
            send = send_with({"Date": formatdate(self.clock(), usegmt=True)}, send)
        await self._app(scope, receive, send)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """In-process transport for :class:`httpx.AsyncClient`."""
        return FakeAsyncTransport(self)

    def sync_transport(self) -> httpx.BaseTransport:
        """In-process transport for :class:`httpx.Client` (runs the app in a private loop)."""
        return FakeSyncTransport(self)

    # -- setup ------------------------------------------------------------------------------

    def add_user(
        self,
        email: str,
        name: str = "",
        *,
        login: str | None = None,
        groups: Sequence[str] = (),
    ) -> FakeUser:
        """Create an active user with an enrolled email authenticator, in ``groups``."""
        user = FakeUser(
            email=email,
            name=name or email.split("@", 1)[0],
            login=login or email,
            groups=list(groups),
        )
        self.users[user.id] = user
        return user

    def set_groups(self, email: str, groups: Sequence[str]) -> FakeUser:
        """Put a user in exactly ``groups``, as an admin does in Okta: ID tokens minted
        from now on (a sign-in, a refresh) carry the new groups; those already issued keep
        theirs. Raises :class:`LookupError` if there is no such user."""
        user = self.find_user(email)
        if user is None:
            raise LookupError(f"no user {email!r}")
        user.groups = list(groups)
        return user

    def add_client(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: Sequence[str] = ("http://127.0.0.1:8000/login/callback",),
        email_verify_callback_uri: str | None = None,
        post_logout_redirect_uris: Sequence[str] = (),
        *,
        grant_types: Sequence[str] = NEW_WEB_APP_GRANT_TYPES,
        label: str = "FakeOkta app",
        access_token_lifetime: int = TOKEN_LIFETIME,
        refresh_token_rotation: bool = False,
        rotation_grace: float = ROTATION_GRACE,
        groups_claim: str | None = "groups",
        groups_filter: str = ".*",
        token_endpoint_auth_method: str | None = None,
        jwks: Sequence[Any] = (),
        require_dpop: bool = False,
    ) -> FakeClient:
        """Register an OIDC Web app as a new one is in the Admin Console: strict.

        Nothing is added for you. ``grant_types`` defaults to a new Web
        app's (Authorization Code only), so ``/v1/interact`` answers
        ``unauthorized_client`` until ``interaction_code`` is in it. No user is
        assigned (see :meth:`assign_user`, :meth:`assign_group`), no origin is
        trusted (:meth:`add_trusted_origin`), the Email verify callback URI is
        unset (magic links end on an Okta-hosted page) and no sign-out
        redirect URI is registered. :meth:`add_web_app` does all of it the way
        the README tells an admin to.

        ``redirect_uris`` are the Sign-in redirect URIs,
        ``post_logout_redirect_uris`` the Sign-out redirect URIs.
        ``access_token_lifetime`` is in seconds (Okta's default: one hour).
        ``refresh_token_rotation=True`` is Okta's "Rotate token after every
        use": each refresh returns a new refresh token and the old one keeps
        working for ``rotation_grace`` seconds (0-60, default 30); otherwise
        the refresh token is persistent.

        Client authentication, as the app's General > Client Credentials:
        ``token_endpoint_auth_method`` defaults to ``client_secret_basic`` with a
        ``client_secret`` (``client_secret_post`` is accepted too), ``private_key_jwt`` with
        ``jwks``, else ``none``. ``jwks`` are the app's public keys for ``private_key_jwt``:
        JWK dicts, PEM text or ``cryptography`` RSA/EC keys (only public halves are kept;
        a key without ``kid`` gets one, as Okta assigns). ``require_dpop=True`` is "Require
        Demonstrating Proof of Possession (DPoP) header in token requests".

        ``groups_claim`` names the ID token's claim
        listing the user's groups that match ``groups_filter`` (a regex, matched in
        full); None leaves it out, as an org where no admin added it.
        Every setting stays a public attribute of the returned
        :class:`FakeClient`, to change later.
        """
        try:
            re.compile(groups_filter)
        except re.error as exc:
            raise ValueError(f"groups_filter is not a regex: {exc}") from None
        if access_token_lifetime <= 0:
            raise ValueError("access_token_lifetime must be positive")
        from ._client_auth import auth_method_of, public_jwk

        public_keys = [public_jwk(key) for key in jwks]
        method = auth_method_of(token_endpoint_auth_method, client_secret, public_keys)
        if not 0 <= rotation_grace <= 60:
            raise ValueError("rotation_grace must be 0-60 seconds, as Okta allows")
        unknown = sorted(set(grant_types) - KNOWN_GRANT_TYPES)
        if unknown:
            raise ValueError(f"unknown grant types: {', '.join(unknown)}")
        client = FakeClient(
            client_id=client_id or okta_id("0oa"),
            client_secret=client_secret,
            redirect_uris=list(redirect_uris),
            email_verify_callback_uri=email_verify_callback_uri,
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            grant_types=list(grant_types),
            label=label,
            access_token_lifetime=access_token_lifetime,
            refresh_token_rotation=refresh_token_rotation,
            rotation_grace=rotation_grace,
            groups_claim=groups_claim,
            groups_filter=groups_filter,
            token_endpoint_auth_method=method,
            jwks=public_keys,
            require_dpop=require_dpop,
        )
        self.clients[client.client_id] = client
        return client

    def add_web_app(
        self,
        redirect_uri: str,
        *,
        post_logout_redirect_uri: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        **client_settings: Any,
    ) -> FakeClient:
        """Set up an app the way the README tells an admin of a real org to.

        An OIDC Web app (:meth:`add_client`) with the Authorization Code,
        Interaction Code and Refresh Token grants, ``redirect_uri`` as its
        Sign-in redirect URI and as its Email verify callback URI,
        ``post_logout_redirect_uri`` (default: the app's origin + ``/``) as its
        Sign-out redirect URI, assigned to Everyone; and the app's origin (of
        ``redirect_uri``) as a Trusted Origin with CORS. ``client_settings``
        go to :meth:`add_client` (``access_token_lifetime=``...). To set it up
        wrong one way at a time, change one thing afterwards:
        ``client.grant_types.remove("interaction_code")``,
        ``fake.remove_trusted_origin(origin)``,
        ``client.email_verify_callback_uri = None``,
        ``client.post_logout_redirect_uris.clear()``,
        ``client.assigned_groups.clear()``...
        """
        origin = origin_of(redirect_uri)
        sign_out = post_logout_redirect_uri or f"{origin}/"
        client_settings.setdefault("grant_types", DOCUMENTED_GRANT_TYPES)
        client = self.add_client(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=[redirect_uri],
            email_verify_callback_uri=redirect_uri,
            post_logout_redirect_uris=[sign_out],
            **client_settings,
        )
        self.assign_group(client.client_id, EVERYONE)
        if origin not in self.trusted_origins:
            self.add_trusted_origin(origin)
        return client

    def add_trusted_origin(
        self, origin: str, *, cors: bool = True, redirect: bool = False, name: str | None = None
    ) -> TrustedOrigin:
        """Add ``origin`` to Security > API > Trusted Origins (org-wide, as in Okta).

        Only origins added here with ``cors`` get CORS headers: the widget on
        any other origin fails as on a real org (the preflight answers 403,
        other responses carry no ``Access-Control-Allow-Origin``). The match
        with the ``Origin`` header is exact: ``http://localhost:8000/`` (with
        a slash) or another port never matches. Replaces an entry for the
        same origin.
        """
        entry = TrustedOrigin(origin=origin, name=name or origin, cors=cors, redirect=redirect)
        self.trusted_origins[origin] = entry
        return entry

    def add_api_token(self, token: str | None = None) -> str:
        """An API token for the read-only management API (Security > API > Tokens);
        returns it (a new random one unless ``token`` is given)."""
        token = token or "00" + opaque(30)  # 42 characters, as Okta's
        self.api_tokens.add(token)
        return token

    def remove_trusted_origin(self, origin: str) -> None:
        """Delete ``origin`` from the Trusted Origins (no error if absent)."""
        self.trusted_origins.pop(origin, None)

    def _client(self, client_id: str) -> FakeClient:
        client = self.clients.get(client_id)
        if client is None:
            raise LookupError(f"no client {client_id!r}")
        return client

    def assign_user(self, client_id: str, email: str) -> None:
        """Assign the user with ``email`` to the app (Assignments > Assign to People)."""
        user = self.find_user(email)
        if user is None:
            raise LookupError(f"no user {email!r}")
        self._client(client_id).assigned_users.add(user.id)

    def assign_group(self, client_id: str, group: str) -> None:
        """Assign a group to the app; :data:`~okta_magiclink_mw.testing.EVERYONE` is every user."""
        self._client(client_id).assigned_groups.add(group)

    def deny_access(
        self, client_id: str, *, email: str | None = None, group: str | None = None
    ) -> None:
        """Add an app sign-in policy rule "Access is denied" for a user or a group.

        Such a user, though assigned, gets Okta's
        ``security.access_denied`` message in the widget right after
        entering their username; no email is sent.
        """
        client = self._client(client_id)
        if (email is None) == (group is None):
            raise ValueError("pass exactly one of email= or group=")
        if email is not None:
            user = self.find_user(email)
            if user is None:
                raise LookupError(f"no user {email!r}")
            client.denied_users.add(user.id)
        else:
            assert group is not None
            client.denied_groups.add(group)

    def deactivate_user(self, email: str) -> FakeUser:
        """Deactivate a user, as an admin does in Okta (status ``DEPROVISIONED``).

        Their access and refresh tokens are revoked (userinfo answers 401, a
        refresh ``invalid_grant``), an unredeemed interaction code no longer
        works, and a new sign-in is refused at ``identify`` with the same
        answer as for an unknown user. Raises :class:`LookupError` if there
        is no such user.
        """
        user = self.find_user(email)
        if user is None:
            raise LookupError(f"no user {email!r}")
        user.status = "DEPROVISIONED"
        self.revoke_user_tokens(user)
        return user

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

    # -- Universal Logout and Back-Channel Logout -----------------------------------------------

    @property
    def org_jwks_uri(self) -> str:
        """``{base_url}/oauth2/v1/keys``: the org authorization server's JWKS."""
        return f"{self.base_url}/oauth2/v1/keys"

    def rotate_org_keys(self, *, drop_old: bool = False) -> str:
        """Start signing org JWTs with a new key; return its ``kid`` (see :meth:`rotate_keys`)."""
        return self.org_keys.rotate(drop_old=drop_old).kid

    def sign_org_jwt(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """Sign ``claims`` exactly as given with the org authorization server's active key.

        The header has ``alg: RS256`` and that key's ``kid``, plus
        ``headers`` (for example ``{"typ": "global-token-revocation+jwt"}``,
        which :meth:`universal_logout` adds). Start from
        :meth:`universal_logout_claims` to forge a variant.
        """
        return self.org_keys.sign(claims, headers=headers)

    def universal_logout_claims(
        self, endpoint: str, *, client_id: str | None = None
    ) -> dict[str, Any]:
        """The claims Okta puts in a Universal Logout JWT for ``endpoint``.

        ``iss`` is the org URL (:attr:`base_url`), ``sub`` the app's
        ``client_id`` (default: the first registered client), ``aud`` the
        endpoint without query or fragment, ``iat`` now, ``exp`` now + 5 min,
        ``nbf`` now - 5 min, ``jti`` random.
        """
        return universal_logout_claims(self, endpoint, client_id)

    def universal_logout(
        self,
        endpoint: str,
        *,
        email: str | None = None,
        user_id: str | None = None,
        client: httpx.Client | None = None,
        client_id: str | None = None,
        subject_member: str = "sub_id",
    ) -> httpx.Response:
        """Send Okta's Universal Logout (Global Token Revocation) request to ``endpoint``.

        ``POST endpoint`` with ``Authorization: Bearer <JWT>`` (signed with
        the org keys, header ``typ: global-token-revocation+jwt``) and the
        JSON body ``{"sub_id": {"format": "email", "email": ...}}`` or, with
        ``user_id``, ``{"sub_id": {"format": "iss_sub", "iss": <issuer>,
        "sub": <user id>}}`` where the issuer is :attr:`issuer` (the one in
        the app's ID tokens). Pass exactly one of ``email`` and ``user_id``;
        neither is checked against the users. ``client`` is the
        :class:`httpx.Client` to send with (e.g. one on an in-process
        transport to the app); by default a fresh one. ``subject_member``
        renames ``sub_id`` (Okta's guide writes ``subject``).
        """
        request = universal_logout_request(
            self,
            endpoint,
            email=email,
            user_id=user_id,
            client_id=client_id,
            subject_member=subject_member,
        )
        return send(request, client)

    async def auniversal_logout(
        self,
        endpoint: str,
        *,
        email: str | None = None,
        user_id: str | None = None,
        client: httpx.AsyncClient | None = None,
        client_id: str | None = None,
        subject_member: str = "sub_id",
    ) -> httpx.Response:
        """:meth:`universal_logout` with an :class:`httpx.AsyncClient`."""
        request = universal_logout_request(
            self,
            endpoint,
            email=email,
            user_id=user_id,
            client_id=client_id,
            subject_member=subject_member,
        )
        return await asend(request, client)

    def backchannel_logout(
        self,
        endpoint: str,
        *,
        email: str,
        sid: str | None = None,
        client: httpx.Client | None = None,
        client_id: str | None = None,
    ) -> httpx.Response:
        """Send an OIDC Back-Channel Logout request for the user with ``email`` to ``endpoint``.

        A form POST of ``logout_token=<JWT>`` signed by the default
        authorization server's keys (header ``typ: logout+jwt``): ``iss``
        :attr:`issuer`, ``aud`` ``client_id`` (default: the first registered
        client), ``sub`` the user's id, ``iat``, ``exp`` (+2 min), ``jti``,
        ``events``, and ``sid`` when given (the ``sid`` of an ID token;
        without it, every session of the user is meant). Raises
        :class:`LookupError` for an unknown email.
        """
        request = backchannel_logout_request(
            self, endpoint, email=email, sid=sid, client_id=client_id
        )
        return send(request, client)

    async def abackchannel_logout(
        self,
        endpoint: str,
        *,
        email: str,
        sid: str | None = None,
        client: httpx.AsyncClient | None = None,
        client_id: str | None = None,
    ) -> httpx.Response:
        """:meth:`backchannel_logout` with an :class:`httpx.AsyncClient`."""
        request = backchannel_logout_request(
            self, endpoint, email=email, sid=sid, client_id=client_id
        )
        return await asend(request, client)

    # -- sign-in helpers ------------------------------------------------------------------------

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
        """A valid interaction code as if ``user`` signed in through the widget.

        The org's rules still hold: :class:`PermissionError` if the app lacks
        the Interaction Code grant, or the user is not assigned to it or is
        denied by its sign-in policy.
        """
        client = self.clients[client_id]
        if "interaction_code" not in client.grant_types:
            raise PermissionError(f"app {client_id} does not have the Interaction Code grant")
        if not client.is_assigned(user) or client.is_denied(user):
            raise PermissionError(f"{user.email} may not sign in to app {client_id}")
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
