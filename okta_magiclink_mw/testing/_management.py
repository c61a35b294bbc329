"""The read-only corner of Okta's management API that ``okta-magiclink-mw doctor`` reads.

Shapes from Okta's management OpenAPI spec (the one developer.okta.com renders, and the
Okta SDKs are generated from):

- ``GET /api/v1/apps/{appId}`` (``getApplication``): the ``Application`` of an OIDC app
  (``name: oidc_client``, ``signOnMode: OPENID_CONNECT``), its ``settings.oauthClient``
  (``redirect_uris``, ``post_logout_redirect_uris``, ``grant_types``, ``response_types``,
  ``application_type``...) and ``credentials.oauthClient`` (``client_id``,
  ``token_endpoint_auth_method``...). No ``client_secret``: Okta shows it only when an
  app is created or updated. An app's id is its client id here (as in Okta when the
  client id was not chosen by hand).
- ``GET /api/v1/trustedOrigins`` (``listTrustedOrigins``): ``TrustedOrigin`` objects,
  ``scopes[].type`` ``CORS`` / ``REDIRECT``, ``limit`` (default 20, at most 200) and
  ``after``, with a ``Link: <...>; rel="next"`` header while more remain.
- ``GET /api/v1/authorizationServers/{authServerId}/claims`` (``listOAuth2Claims``;
  ``default`` names the default server): the system claims, and a ``groups`` claim
  (``claimType: IDENTITY``, ``valueType: GROUPS``, ``group_filter_type: REGEX``) for
  each client's ``groups_claim`` / ``groups_filter``.

Every call needs ``Authorization: SSWS {token}`` with a token of
:meth:`~okta_magiclink_mw.testing.FakeOkta.add_api_token`; otherwise 401 with Okta's
``E0000011`` body. An unknown app or server is 404 ``E0000007``. Only GET is served.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._endpoint import JSON, with_faults
from ._ids import opaque
from ._model import FakeClient
from ._org import Org

#: When every fake object was "created" (Okta's ISO 8601 with milliseconds).
CREATED = "2026-01-01T00:00:00.000Z"


def api_error(status: int, code: str, summary: str) -> Response:
    """Okta's management API error body."""
    return JSON(
        {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oae" + opaque(16),
            "errorCauses": [],
        },
        status,
    )


class ManagementEndpoints:
    """Handlers for ``/api/v1/...`` (read-only)."""

    def __init__(self, org: Org, tokens: set[str]) -> None:
        self.org = org
        #: The API tokens that work (``FakeOkta.add_api_token`` adds to the same set).
        self.tokens = tokens

    def routes(self) -> list[Route]:
        table = [
            ("/api/v1/apps/{app_id}", "api_app", self.app),
            ("/api/v1/trustedOrigins", "api_trusted_origins", self.trusted_origins),
            ("/api/v1/authorizationServers/{server_id}/claims", "api_claims", self.claims),
        ]
        return [
            Route(path, with_faults(self.org.faults, name, self._guarded(fn)), methods=["GET"])
            for path, name, fn in table
        ]

    def _guarded(self, handler: Any) -> Any:
        async def guarded(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme != "SSWS" or not any(_consteq(token, t) for t in self.tokens):
                return api_error(401, "E0000011", "Invalid token provided")
            response: Response = await handler(request)
            return response

        return guarded

    async def app(self, request: Request) -> Response:
        app_id = request.path_params["app_id"]
        client = self.org.clients.get(app_id)
        if client is None:
            return api_error(
                404, "E0000007", f"Not found: Resource not found: {app_id} (AppInstance)"
            )
        return JSON(self._application(client))

    async def trusted_origins(self, request: Request) -> Response:
        entries = [
            {
                "id": entry.id,
                "name": entry.name,
                "origin": entry.origin,
                "scopes": [{"type": scope} for scope in entry.scopes],
                "status": "ACTIVE",
                "created": CREATED,
                "createdBy": "00uFakeOktaAdmin",
                "lastUpdated": CREATED,
                "lastUpdatedBy": "00uFakeOktaAdmin",
                "_links": {
                    "self": {
                        "href": f"{self.org.base_url}/api/v1/trustedOrigins/{entry.id}",
                        "hints": {"allow": ["GET", "PUT", "DELETE"]},
                    }
                },
            }
            for entry in self.org.trusted_origins.values()
        ]
        try:
            limit = max(1, min(200, int(request.query_params.get("limit", "20"))))
        except ValueError:
            return api_error(400, "E0000001", "Api validation failed: limit")
        after = request.query_params.get("after")
        start = next((i + 1 for i, e in enumerate(entries) if e["id"] == after), 0)
        page = entries[start : start + limit]
        headers = {}
        if start + limit < len(entries):
            query = urlencode({"after": page[-1]["id"], "limit": limit})
            headers["Link"] = f'<{self.org.base_url}/api/v1/trustedOrigins?{query}>; rel="next"'
        return JSON(page, headers=headers)

    async def claims(self, request: Request) -> Response:
        server_id = request.path_params["server_id"]
        if server_id != "default":
            return api_error(
                404, "E0000007", f"Not found: Resource not found: {server_id} (AuthorizationServer)"
            )
        claims = [
            _system_claim("sub", "RESOURCE", "(appuser != null) ? appuser.userName : app.clientId")
        ]
        names: set[str] = set()
        for client in self.org.clients.values():
            if client.groups_claim and client.groups_claim not in names:
                names.add(client.groups_claim)
                claims.append(self._groups_claim(client))
        return JSON(claims)

    def _groups_claim(self, client: FakeClient) -> dict[str, Any]:
        claim_id = "ocl" + client.client_id[-8:]
        return {
            "id": claim_id,
            "name": client.groups_claim,
            "status": "ACTIVE",
            "claimType": "IDENTITY",
            "valueType": "GROUPS",
            "value": client.groups_filter,
            "group_filter_type": "REGEX",
            "conditions": {"scopes": []},
            "system": False,
            "alwaysIncludeInToken": True,
            "_links": {
                "self": {
                    "href": f"{self.org.base_url}/api/v1/authorizationServers/default/claims/"
                    f"{claim_id}",
                    "hints": {"allow": ["GET", "PUT", "DELETE"]},
                }
            },
        }

    def _application(self, client: FakeClient) -> dict[str, Any]:
        base = self.org.base_url
        app_id = client.client_id
        confidential = client.client_secret is not None
        links = {
            "appLinks": [
                {
                    "name": "oidc_client_link",
                    "href": f"{base}/home/oidc_client/{app_id}/aln0000000000000000",
                    "type": "text/html",
                }
            ],
            "groups": {"href": f"{base}/api/v1/apps/{app_id}/groups"},
            "users": {"href": f"{base}/api/v1/apps/{app_id}/users"},
            "deactivate": {"href": f"{base}/api/v1/apps/{app_id}/lifecycle/deactivate"},
        }
        return {
            "id": app_id,
            "orn": f"orn:okta:idp:{self.org.org_id}:apps:oidc_client:{app_id}",
            "name": "oidc_client",
            "label": client.label,
            "status": "ACTIVE",
            "lastUpdated": CREATED,
            "created": CREATED,
            "accessibility": {
                "selfService": False,
                "errorRedirectUrl": None,
                "loginRedirectUrl": None,
            },
            "visibility": {
                "autoLaunch": False,
                "autoSubmitToolbar": False,
                "hide": {"iOS": True, "web": True},
                "appLinks": {"oidc_client_link": True},
            },
            "features": [],
            "signOnMode": "OPENID_CONNECT",
            "credentials": {
                "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
                "signing": {"kid": self.org.keys.active.kid},
                "oauthClient": {
                    "autoKeyRotation": True,
                    "client_id": app_id,
                    "token_endpoint_auth_method": "client_secret_basic" if confidential else "none",
                    "pkce_required": True,
                },
            },
            "settings": {
                "app": {},
                "notifications": {
                    "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
                },
                "manualProvisioning": False,
                "implicitAssignment": False,
                "notes": {"admin": None, "enduser": None},
                "oauthClient": {
                    "client_uri": None,
                    "logo_uri": None,
                    "redirect_uris": list(client.redirect_uris),
                    "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
                    "response_types": ["code"],
                    "grant_types": list(client.grant_types),
                    "application_type": "web" if confidential else "browser",
                    "consent_method": "TRUSTED",
                    "issuer_mode": "DYNAMIC",
                    "idp_initiated_login": {"mode": "DISABLED", "default_scope": []},
                    "wildcard_redirect": "DISABLED",
                    "dpop_bound_access_tokens": False,
                },
            },
            "_links": links,
        }


def _system_claim(name: str, claim_type: str, value: str) -> dict[str, Any]:
    return {
        "id": "ocl" + name,
        "name": name,
        "status": "ACTIVE",
        "claimType": claim_type,
        "valueType": "EXPRESSION",
        "value": value,
        "conditions": {"scopes": []},
        "system": True,
        "alwaysIncludeInToken": True,
    }


def _consteq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
