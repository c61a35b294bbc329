"""OAuth 2.0 / OIDC endpoints of the ``default`` custom authorization server."""

from __future__ import annotations

import base64
import binascii
import hmac
import html
from typing import Any
from urllib.parse import unquote, urlencode

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ._endpoint import JSON, read_form, with_faults
from ._model import FakeClient
from ._org import INTERACTION_CODE_LIFETIME, SUPPORTED_SCOPES, Org, s256
from ._tokens import Refused, start_family, token_response
from ._tokens import refresh as refresh_grant
from ._tokens import revoke as revoke_token

NO_STORE = {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"}


def oauth_error(status: int, error: str, description: str) -> Response:
    """Okta's OAuth error body."""
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = (
            f'Bearer authorization_uri="", realm="", scope="", '
            f'error="{error}", error_description="{description}", resource=""'
        )
    return JSON({"error": error, "error_description": description}, status, headers=headers)


def unauthorized_client(client: FakeClient) -> Response:
    """Okta's answer to a grant the app does not have (``unauthorized_client``, 400).

    The shape of the widget's mock ``error-400-unauthorized-client.json`` and of
    Okta's error catalogue (okta-developer-docs ``data/oauth2-error-codes.json``,
    "Unauthorized client"): the description lists the app's configured grant types.
    """
    configured = ", ".join(client.grant_types)
    return oauth_error(
        400,
        "unauthorized_client",
        "The client is not authorized to use the provided grant type. "
        f"Configured grant types: [{configured}].",
    )


def discovery_document(org: Org) -> dict[str, Any]:
    """``/.well-known/openid-configuration`` of the ``default`` authorization server."""
    iss = org.issuer
    auth_methods = ["client_secret_basic", "client_secret_post", "none"]
    return {
        "issuer": iss,
        "authorization_endpoint": f"{iss}/v1/authorize",
        "token_endpoint": f"{iss}/v1/token",
        "userinfo_endpoint": f"{iss}/v1/userinfo",
        "registration_endpoint": f"{org.base_url}/oauth2/v1/clients",
        "jwks_uri": f"{iss}/v1/keys",
        "response_types_supported": [
            "code",
            "id_token",
            "code id_token",
            "code token",
            "id_token token",
            "code id_token token",
        ],
        "response_modes_supported": ["query", "fragment", "form_post", "okta_post_message"],
        "grant_types_supported": [
            "authorization_code",
            "implicit",
            "refresh_token",
            "password",
            "interaction_code",
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(SUPPORTED_SCOPES),
        "token_endpoint_auth_methods_supported": auth_methods,
        "claims_supported": [
            "iss",
            "ver",
            "sub",
            "aud",
            "iat",
            "exp",
            "jti",
            "auth_time",
            "amr",
            "idp",
            "nonce",
            "name",
            "nickname",
            "preferred_username",
            "given_name",
            "middle_name",
            "family_name",
            "email",
            "email_verified",
            "profile",
            "zoneinfo",
            "locale",
            "address",
            "phone_number",
            "picture",
            "website",
            "gender",
            "birthdate",
            "updated_at",
            "at_hash",
            "c_hash",
        ],
        "code_challenge_methods_supported": ["S256"],
        "introspection_endpoint": f"{iss}/v1/introspect",
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint": f"{iss}/v1/revoke",
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "end_session_endpoint": f"{iss}/v1/logout",
        "request_parameter_supported": True,
        "request_object_signing_alg_values_supported": ["RS256"],
    }


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote(client_id), unquote(secret)


def authenticate_client(org: Org, request: Request, form: dict[str, str]) -> FakeClient | Response:
    """Client authentication: HTTP Basic, ``client_secret_post`` or ``none`` (public)."""
    basic = _basic_credentials(request)
    if basic is not None:
        client_id, secret = basic
    else:
        client_id = str(form.get("client_id", ""))
        secret = str(form.get("client_secret", ""))
    if not client_id:
        return oauth_error(401, "invalid_client", "No client credentials found.")
    client = org.clients.get(client_id)
    if client is None:
        return oauth_error(
            401,
            "invalid_client",
            "Client authentication failed. Either the client or the client credentials are "
            "invalid.",
        )
    if client.client_secret is not None:
        if not secret:
            return oauth_error(
                401,
                "invalid_client",
                "Client authentication failed. Either the client or the client credentials "
                "are invalid.",
            )
        if not _consteq(secret, client.client_secret):
            return oauth_error(
                401,
                "invalid_client",
                "The client secret supplied for a confidential client is invalid.",
            )
    return client


def _consteq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class OAuthEndpoints:
    """Handlers for ``{issuer}/...``."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        """Starlette routes, wrapped with the fault knobs."""
        base = "/oauth2/default"
        table = [
            ("/.well-known/openid-configuration", "discovery", self.discovery, ["GET"]),
            ("/.well-known/oauth-authorization-server", "discovery", self.discovery, ["GET"]),
            ("/v1/keys", "keys", self.keys, ["GET"]),
            ("/v1/interact", "interact", self.interact, ["POST"]),
            ("/v1/token", "token", self.token, ["POST"]),
            ("/v1/userinfo", "userinfo", self.userinfo, ["GET", "POST"]),
            ("/v1/revoke", "revoke", self.revoke, ["POST"]),
            ("/v1/logout", "logout", self.logout, ["GET"]),
        ]
        routes = [
            Route(base + path, with_faults(self.org.faults, name, fn), methods=methods, name=name)
            for path, name, fn, methods in table
        ]
        # The org authorization server publishes only its keys here (what verifying
        # Universal Logout requests needs); its other endpoints are not emulated.
        org_keys = with_faults(self.org.faults, "org_keys", self.org_keys)
        routes.append(Route("/oauth2/v1/keys", org_keys, methods=["GET"], name="org_keys"))
        return routes

    async def discovery(self, request: Request) -> Response:
        """Discovery document (cacheable, like Okta's)."""
        return JSON(discovery_document(self.org), headers={"Cache-Control": "max-age=86400"})

    async def keys(self, request: Request) -> Response:
        """JWKS; Okta lets clients cache it for a while."""
        return JSON(
            self.org.keys.jwks(),
            headers={"Cache-Control": "max-age=3621, must-revalidate", "Expires": "0"},
        )

    async def org_keys(self, request: Request) -> Response:
        """JWKS of the org authorization server (``{base_url}/oauth2/v1/keys``)."""
        return JSON(
            self.org.org_keys.jwks(),
            headers={"Cache-Control": "max-age=3621, must-revalidate", "Expires": "0"},
        )

    async def interact(self, request: Request) -> Response:
        """``POST /v1/interact``: start an Interaction Code transaction."""
        org = self.org
        form = await read_form(request)
        client_id = str(form.get("client_id", ""))
        client = org.clients.get(client_id)
        if client is None:
            return oauth_error(401, "invalid_client", "Invalid value for 'client_id' parameter.")
        secret = form.get("client_secret")
        if secret is not None and (
            client.client_secret is None or not _consteq(str(secret), client.client_secret)
        ):
            return oauth_error(
                401,
                "invalid_client",
                "The client secret supplied for a confidential client is invalid.",
            )
        if "interaction_code" not in client.grant_types:
            return unauthorized_client(client)
        redirect_uri = str(form.get("redirect_uri", ""))
        if redirect_uri not in client.redirect_uris:
            return oauth_error(
                400,
                "invalid_request",
                "The 'redirect_uri' parameter must be a Login redirect URI in the client app "
                f"settings: {org.base_url}/admin/app/oidc_client/instance/{client_id}"
                "#tab-general",
            )
        scope = str(form.get("scope", "")).split()
        if not scope:
            return oauth_error(
                400,
                "invalid_scope",
                "The authorization server resource does not have any configured default "
                "scopes, 'scope' must be provided.",
            )
        if any(s not in SUPPORTED_SCOPES for s in scope):
            return oauth_error(
                400,
                "invalid_scope",
                "One or more scopes are not configured for the authorization server resource.",
            )
        challenge = str(form.get("code_challenge", ""))
        method = str(form.get("code_challenge_method", ""))
        if not challenge:
            return oauth_error(
                400, "invalid_request", "PKCE code challenge is required for this grant type."
            )
        if method != "S256":
            return oauth_error(
                400,
                "invalid_request",
                "'code_challenge_method' is invalid. Supported values: S256.",
            )
        if not 43 <= len(challenge) <= 128:
            return oauth_error(
                400, "invalid_request", "PKCE code challenge contains invalid characters."
            )
        ix = org.start_interaction(
            client,
            scopes=scope,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            state=_opt(form.get("state")),
            nonce=_opt(form.get("nonce")),
        )
        return JSON({"interaction_handle": ix.handle}, headers=NO_STORE)

    async def token(self, request: Request) -> Response:
        """``POST /v1/token``: ``interaction_code`` and ``refresh_token`` grants."""
        form = await read_form(request)
        authenticated = authenticate_client(self.org, request, form)
        if isinstance(authenticated, Response):
            return authenticated
        grant_type = str(form.get("grant_type", ""))
        if not grant_type:
            return oauth_error(400, "invalid_request", "The 'grant_type' parameter is required.")
        if grant_type in ("interaction_code", "refresh_token"):
            if grant_type not in authenticated.grant_types:
                return unauthorized_client(authenticated)
            if grant_type == "interaction_code":
                return self._interaction_code_grant(authenticated, form)
            return self._refresh_grant(authenticated, form)
        return oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server. "
            "Configured grant types: [interaction_code, refresh_token].",
        )

    def _interaction_code_grant(self, client: FakeClient, form: dict[str, str]) -> Response:
        org = self.org
        code = str(form.get("interaction_code", ""))
        if not code:
            return oauth_error(
                400, "invalid_request", "The 'interaction_code' parameter is required."
            )
        grant = org.codes.get(code)
        now = org.clock()
        if (
            grant is None
            or grant.used
            or grant.client_id != client.client_id
            or now - grant.issued_at >= INTERACTION_CODE_LIFETIME
            or not grant.user.active
        ):
            return oauth_error(
                400, "invalid_grant", "The interaction code is invalid or has expired."
            )
        grant.used = True  # a code is burnt by any attempt to redeem it
        verifier = str(form.get("code_verifier", ""))
        if not verifier:
            return oauth_error(
                400,
                "invalid_request",
                "PKCE code verifier is required when the parameter code_challenge was used.",
            )
        if not _consteq(s256(verifier), grant.code_challenge):
            return oauth_error(400, "invalid_grant", "PKCE verification failed.")
        redirect_uri = form.get("redirect_uri")
        if redirect_uri is not None and str(redirect_uri) != grant.redirect_uri:
            return oauth_error(
                400,
                "invalid_grant",
                "The 'redirect_uri' does not match the redirection URI used in the "
                "authorization request.",
            )
        refresh = None
        # A refresh token needs both the scope and the app's Refresh Token grant.
        if "offline_access" in grant.scopes and "refresh_token" in client.grant_types:
            refresh = start_family(
                org, client, grant.user, grant.scopes, grant.auth_time, grant.sid
            )
        body = token_response(
            org,
            client,
            grant.user,
            scopes=grant.scopes,
            auth_time=grant.auth_time,
            sid=grant.sid,
            nonce=grant.nonce,
            refresh=refresh,
        )
        return JSON(body, headers=NO_STORE)

    def _refresh_grant(self, client: FakeClient, form: dict[str, str]) -> Response:
        token = str(form.get("refresh_token", ""))
        if not token:
            return oauth_error(400, "invalid_request", "The 'refresh_token' parameter is required.")
        scope = form.get("scope")
        outcome = refresh_grant(self.org, client, token, None if scope is None else str(scope))
        if isinstance(outcome, Refused):
            return oauth_error(outcome.status, outcome.error, outcome.description)
        return JSON(outcome, headers=NO_STORE)

    async def userinfo(self, request: Request) -> Response:
        """``/v1/userinfo`` with ``Authorization: Bearer <access token>``."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        record = self.org.access_token_record(token) if scheme.lower() == "bearer" else None
        if record is None:
            return oauth_error(401, "invalid_token", "The access token is invalid.")
        return JSON(self.org.userinfo_claims(record), headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        """``POST /v1/revoke`` (RFC 7009): 200 for any authenticated client.

        Revoking a refresh token also revokes the access tokens minted from
        it, as Okta documents; revoking an access token leaves the refresh
        token alone. Another client's, unknown or expired tokens are
        silently ignored (still 200, nothing leaks).
        """
        form = await read_form(request)
        authenticated = authenticate_client(self.org, request, form)
        if isinstance(authenticated, Response):
            return authenticated
        token = str(form.get("token", ""))
        if not token:
            return oauth_error(400, "invalid_request", "The 'token' parameter is required.")
        hint = form.get("token_type_hint")
        revoke_token(self.org, authenticated, token, None if hint is None else str(hint))
        return Response(status_code=200, headers=NO_STORE)

    async def logout(self, request: Request) -> Response:
        """``GET /v1/logout``: redirect to a registered post-logout URI."""
        params = request.query_params
        hint = params.get("id_token_hint", "")
        target = params.get("post_logout_redirect_uri")
        client: FakeClient | None = None
        if hint:
            try:
                claims = self.org.keys.verify(hint, audience=None)
            except jwt.InvalidTokenError:
                return _error_page(400, "The 'id_token_hint' parameter is invalid.")
            client = self.org.clients.get(str(claims.get("aud")))
        if target is None:
            # "If you don't specify a post_logout_redirect_uri, then the browser is
            # redirected to the Okta sign-in page" (Okta's guide "Sign users out").
            return RedirectResponse(f"{self.org.base_url}/", status_code=302)
        if client is None:
            return _error_page(
                400, "The 'id_token_hint' parameter is required with 'post_logout_redirect_uri'."
            )
        if target not in client.post_logout_redirect_uris:
            return _error_page(
                400,
                "The 'post_logout_redirect_uri' parameter must be a Logout redirect URI in the "
                "client app settings.",
            )
        state = params.get("state")
        if state is not None:
            target += ("&" if "?" in target else "?") + urlencode({"state": state})
        return RedirectResponse(target, status_code=302)


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _error_page(status: int, text: str) -> Response:
    return HTMLResponse(
        "<!doctype html><html><head><title>400 Bad Request</title></head><body>"
        f"<h1>Bad Request</h1><p class='error'>{html.escape(text)}</p></body></html>",
        status_code=status,
    )
