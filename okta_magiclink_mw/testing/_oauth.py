"""OAuth 2.0 / OIDC endpoints of the ``default`` custom authorization server."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
from typing import Any
from urllib.parse import unquote, urlencode

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ._endpoint import JSON, read_form, with_faults
from ._ids import opaque
from ._model import AccessTokenRecord, FakeClient
from ._org import INTERACTION_CODE_LIFETIME, SUPPORTED_SCOPES, TOKEN_LIFETIME, Org, s256

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


def at_hash(access_token: str) -> str:
    """OIDC ``at_hash`` for an RS256 ID token."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


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
        return [
            Route(base + path, with_faults(self.org.faults, name, fn), methods=methods, name=name)
            for path, name, fn, methods in table
        ]

    async def discovery(self, request: Request) -> Response:
        """Discovery document (cacheable, like Okta's)."""
        return JSON(discovery_document(self.org), headers={"Cache-Control": "max-age=86400"})

    async def keys(self, request: Request) -> Response:
        """JWKS; Okta lets clients cache it for a while."""
        return JSON(
            self.org.keys.jwks(),
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
        """``POST /v1/token`` with ``grant_type=interaction_code``."""
        org = self.org
        form = await read_form(request)
        authenticated = authenticate_client(org, request, form)
        if isinstance(authenticated, Response):
            return authenticated
        client = authenticated
        grant_type = str(form.get("grant_type", ""))
        if not grant_type:
            return oauth_error(400, "invalid_request", "The 'grant_type' parameter is required.")
        if grant_type != "interaction_code":
            return oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server. "
                "Configured grant types: [interaction_code].",
            )
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
        iat = int(now)
        jti = "AT." + opaque(32)
        access_claims = {
            "ver": 1,
            "jti": jti,
            "iss": org.issuer,
            "aud": "api://default",
            "iat": iat,
            "exp": iat + TOKEN_LIFETIME,
            "cid": client.client_id,
            "uid": grant.user.id,
            "scp": grant.scopes,
            "auth_time": int(grant.auth_time),
            "sub": grant.user.login,
        }
        access_token = org.keys.sign(access_claims)
        org.access_tokens[jti] = AccessTokenRecord(
            jti=jti,
            user=grant.user,
            client_id=client.client_id,
            scopes=grant.scopes,
            expires_at=iat + TOKEN_LIFETIME,
        )
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "access_token": access_token,
            "scope": " ".join(grant.scopes),
        }
        if "openid" in grant.scopes:
            claims = org.id_token_claims(
                grant.user,
                client.client_id,
                scopes=grant.scopes,
                nonce=grant.nonce,
                auth_time=grant.auth_time,
                now=now,
            )
            claims["at_hash"] = at_hash(access_token)
            body["id_token"] = org.keys.sign(claims)
        return JSON(body, headers=NO_STORE)

    def _access_token(self, token: str) -> AccessTokenRecord | None:
        try:
            claims = self.org.keys.verify(token, audience="api://default", now=self.org.clock())
        except jwt.InvalidTokenError:
            return None
        record = self.org.access_tokens.get(str(claims.get("jti")))
        if record is None or record.revoked or self.org.clock() >= record.expires_at:
            return None
        return record

    async def userinfo(self, request: Request) -> Response:
        """``/v1/userinfo`` with ``Authorization: Bearer <access token>``."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        record = self._access_token(token) if scheme.lower() == "bearer" else None
        if record is None:
            return oauth_error(401, "invalid_token", "The access token is invalid.")
        return JSON(self.org.userinfo_claims(record), headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        """``POST /v1/revoke``: always 200 for an authenticated client (RFC 7009)."""
        form = await read_form(request)
        authenticated = authenticate_client(self.org, request, form)
        if isinstance(authenticated, Response):
            return authenticated
        token = str(form.get("token", ""))
        if not token:
            return oauth_error(400, "invalid_request", "The 'token' parameter is required.")
        record = self._access_token(token)
        if record is not None and record.client_id == authenticated.client_id:
            record.revoked = True
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
            return HTMLResponse("<!doctype html><title>Signed out</title><p>Signed out.</p>")
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
