"""Requests Okta sends to an app to sign a user out: Universal Logout and Back-Channel Logout.

**Universal Logout** (Okta's Global Token Revocation, GTR). What Okta
documents (okta/okta-developer-docs, guide ``oin-universal-logout-overview``,
"Endpoint authentication" and "Logout request") and the draft it follows
(draft-parecki-oauth-global-token-revocation):

- ``POST <endpoint>`` with ``Content-Type: application/json`` and
  ``Authorization: Bearer <JWT>``. Okta ignores the response body and
  reads only the status (204 success; 400, 401/403, 404, 422 errors).
- JWT header: ``typ: global-token-revocation+jwt``, ``alg`` = the algorithm
  Okta signs SSO tokens with (RS256). Okta's text does not show ``kid``;
  the fake sends one, as every Okta JWT has, so the key can be found in
  the JWKS.
- JWT claims: ``jti`` (unique), ``iss`` = the org URL (``orgDomainBaseUrl``
  or a custom domain: "the same issuer URL that you would receive in an
  OpenID Connect ID token" of the org authorization server), ``sub`` = the
  OIDC app's ``client_id``, ``aud`` = the endpoint URL without query or
  fragment, ``iat`` = now, ``exp`` = now + 5 minutes, ``nbf`` = now - 5 minutes.
  It is signed "with the same key used for signing ID tokens or SAML
  assertions": for OIDC apps, the org authorization server's keys at
  ``{org}/oauth2/v1/keys``.
- Body: a subject identifier (RFC 9493), ``email`` (the default) or
  ``iss_sub``. The draft (-03 on) names the member ``sub_id``; Okta's guide
  and the draft's first versions show ``subject``. The fake sends
  ``sub_id`` unless told otherwise (``subject_member``).

**Back-Channel Logout** (OpenID Connect Back-Channel Logout 1.0, 2.4): a form
POST of ``logout_token=<JWT>`` signed by the authorization server that issued
the ID tokens, header ``typ: logout+jwt``, claims ``iss``, ``aud`` (client
id), ``iat``, ``exp``, ``jti``, ``sub`` and/or ``sid``, and ``events`` with
the back-channel-logout event. The spec sets no lifetime; the fake uses two
minutes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ._ids import opaque
from ._org import Org

#: ``typ`` header of Okta's Universal Logout JWT.
GTR_JWT_TYPE = "global-token-revocation+jwt"
#: Lifetime of a Universal Logout JWT; ``nbf`` is as far in the past.
GTR_JWT_LIFETIME = 300
#: ``typ`` header of an OIDC logout token.
LOGOUT_JWT_TYPE = "logout+jwt"
#: Lifetime of a logout token.
LOGOUT_JWT_LIFETIME = 120
#: The event member of a logout token.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def _default_client_id(org: Org, client_id: str | None) -> str:
    if client_id is not None:
        return client_id
    if not org.clients:
        raise LookupError("no client registered: pass client_id or call add_client first")
    return next(iter(org.clients))


def _clean_url(url: str, *, keep_query: bool = False) -> str:
    parts = urlsplit(url)
    query = parts.query if keep_query else ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def universal_logout_claims(
    org: Org, endpoint: str, client_id: str | None = None
) -> dict[str, Any]:
    """The claims of the JWT Okta sends to ``endpoint`` for app ``client_id``."""
    now = int(org.clock())
    return {
        "jti": opaque(24),
        "iss": org.base_url,
        "sub": _default_client_id(org, client_id),
        "aud": _clean_url(endpoint),
        "exp": now + GTR_JWT_LIFETIME,
        "nbf": now - GTR_JWT_LIFETIME,
        "iat": now,
    }


def universal_logout_request(
    org: Org,
    endpoint: str,
    *,
    email: str | None,
    user_id: str | None,
    client_id: str | None,
    subject_member: str,
) -> httpx.Request:
    """Okta's Global Token Revocation request for one user (by ``email`` or ``user_id``)."""
    if (email is None) == (user_id is None):
        raise ValueError("pass exactly one of email= or user_id=")
    subject: dict[str, str]
    if email is not None:
        subject = {"format": "email", "email": email}
    else:
        assert user_id is not None
        subject = {"format": "iss_sub", "iss": org.issuer, "sub": user_id}
    claims = universal_logout_claims(org, endpoint, client_id)
    token = org.org_keys.sign(claims, headers={"typ": GTR_JWT_TYPE})
    return httpx.Request(
        "POST",
        _clean_url(endpoint, keep_query=True),  # a fragment never goes on the wire
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        content=json.dumps({subject_member: subject}).encode("utf-8"),
    )


def backchannel_logout_request(
    org: Org, endpoint: str, *, email: str, sid: str | None, client_id: str | None
) -> httpx.Request:
    """An OIDC Back-Channel Logout request for the user with ``email`` (and session ``sid``)."""
    user = org.find_user(email)
    if user is None:
        raise LookupError(f"no user {email!r}")
    now = int(org.clock())
    claims: dict[str, Any] = {
        "iss": org.issuer,
        "sub": user.id,
        "aud": _default_client_id(org, client_id),
        "iat": now,
        "exp": now + LOGOUT_JWT_LIFETIME,
        "jti": opaque(24),
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    if sid is not None:
        claims["sid"] = sid
    token = org.keys.sign(claims, headers={"typ": LOGOUT_JWT_TYPE})
    return httpx.Request("POST", endpoint, data={"logout_token": token})


def send(request: httpx.Request, client: httpx.Client | None) -> httpx.Response:
    """Send ``request`` with ``client``, or a one-off :class:`httpx.Client`."""
    if client is not None:
        return client.send(request)
    with httpx.Client() as own:
        return own.send(request)


async def asend(request: httpx.Request, client: httpx.AsyncClient | None) -> httpx.Response:
    """Send ``request`` with ``client``, or a one-off :class:`httpx.AsyncClient`."""
    if client is not None:
        return await client.send(request)
    async with httpx.AsyncClient() as own:
        return await own.send(request)
