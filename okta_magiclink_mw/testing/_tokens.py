"""Minting tokens and redeeming refresh tokens, independent of HTTP.

What the fake does, and where real Okta's behaviour comes from
(okta/okta-developer-docs, guides ``refresh-tokens`` and ``revoke-tokens``):

- A refresh token comes with the tokens only when ``offline_access`` was
  granted; a refresh whose ``scope`` leaves ``offline_access`` out gets no
  ``refresh_token`` back (the grant-type/scope table of Okta's OIDC
  reference). ``scope`` may narrow the original grant, never widen it
  (RFC 6749 section 6).
- Persistent refresh tokens (the default for web apps) come back
  unchanged. With "Rotate token after every use" each refresh returns a
  new value; the old one keeps working for the grace period (default
  30 s). Presenting a rotated-out token after its grace is Okta's *reuse
  detection*: the call fails and "Okta immediately invalidates the most
  recently issued refresh token and all access tokens issued since the
  user authenticated" - here, the whole :class:`RefreshFamily`.
- A refresh token unused for seven days expires (Okta's default policy:
  unlimited lifetime, but "does expire every seven days if it hasn't been
  used").
- "Revoking an access token doesn't revoke the associated refresh token.
  However, revoking a refresh token does revoke the associated access
  token." The fake revokes the refresh token's family and so every access
  token minted under it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, NamedTuple

from ._ids import opaque
from ._model import (
    AccessTokenRecord,
    FakeClient,
    FakeUser,
    RefreshFamily,
    RefreshTokenRecord,
)
from ._org import REFRESH_TOKEN_IDLE, Org

#: ``error_description`` of every refused refresh token, as Okta words it.
INVALID_REFRESH = "The refresh token is invalid or expired."
#: ``error_description`` for a ``scope`` wider than the original grant.
INVALID_SCOPE = "The requested scope is invalid, unknown, or malformed."


class Refused(NamedTuple):
    """An OAuth error the token endpoint answers with."""

    status: int
    error: str
    description: str


def at_hash(access_token: str) -> str:
    """OIDC ``at_hash`` for an RS256 ID token."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def start_family(
    org: Org, client: FakeClient, user: FakeUser, scopes: list[str], auth_time: float, sid: str
) -> RefreshTokenRecord:
    """Open a refresh family for a sign-in and mint its first refresh token."""
    family = RefreshFamily(
        id=opaque(16),
        user=user,
        client_id=client.client_id,
        scopes=list(scopes),
        auth_time=auth_time,
        sid=sid,
    )
    org.refresh_families[family.id] = family
    return _new_refresh_token(org, family)


def _new_refresh_token(org: Org, family: RefreshFamily) -> RefreshTokenRecord:
    now = org.clock()
    record = RefreshTokenRecord(token=opaque(32), family=family, issued_at=now, last_used_at=now)
    org.refresh_tokens[record.token] = record
    family.current = record.token
    return record


def token_response(
    org: Org,
    client: FakeClient,
    user: FakeUser,
    *,
    scopes: list[str],
    auth_time: float,
    sid: str,
    nonce: str | None = None,
    refresh: RefreshTokenRecord | None = None,
) -> dict[str, Any]:
    """The ``/v1/token`` body: access token, ``id_token`` with ``openid``, ``refresh_token``."""
    now = org.clock()
    iat = int(now)
    lifetime = client.access_token_lifetime
    jti = "AT." + opaque(32)
    access_claims = {
        "ver": 1,
        "jti": jti,
        "iss": org.issuer,
        "aud": "api://default",
        "iat": iat,
        "exp": iat + lifetime,
        "cid": client.client_id,
        "uid": user.id,
        "scp": scopes,
        "auth_time": int(auth_time),
        "sub": user.login,
    }
    access_token = org.keys.sign(access_claims)
    org.access_tokens[jti] = AccessTokenRecord(
        jti=jti,
        user=user,
        client_id=client.client_id,
        scopes=scopes,
        expires_at=iat + lifetime,
        family=refresh.family if refresh is not None else None,
    )
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "access_token": access_token,
        "scope": " ".join(scopes),
    }
    if refresh is not None:
        body["refresh_token"] = refresh.token
    if "openid" in scopes:
        claims = org.id_token_claims(
            user,
            client.client_id,
            scopes=scopes,
            nonce=nonce,
            auth_time=auth_time,
            now=now,
            sid=sid,
        )
        claims["at_hash"] = at_hash(access_token)
        body["id_token"] = org.keys.sign(claims)
    return body


def refresh(
    org: Org, client: FakeClient, token: str, scope: str | None
) -> dict[str, Any] | Refused:
    """Redeem ``grant_type=refresh_token`` for an authenticated ``client``."""
    record = org.refresh_tokens.get(token)
    invalid = Refused(400, "invalid_grant", INVALID_REFRESH)
    if record is None or record.family.client_id != client.client_id:
        return invalid  # another client's token is as unknown as a made-up one
    family = record.family
    now = org.clock()
    if family.revoked or not family.user.active or now - record.last_used_at >= REFRESH_TOKEN_IDLE:
        return invalid
    if record.rotated_at is not None and now - record.rotated_at >= client.rotation_grace:
        family.revoked = True  # reuse detection: the whole chain dies
        return invalid
    if scope is None:
        scopes = list(family.scopes)
    else:
        scopes = scope.split()
        if not scopes or any(s not in family.scopes for s in scopes):
            return Refused(400, "invalid_scope", INVALID_SCOPE)
    record.last_used_at = now
    returned: RefreshTokenRecord | None = None
    if "offline_access" in scopes:
        returned = record
        if client.refresh_token_rotation:
            _retire(org.refresh_tokens[family.current], now)
            _retire(record, now)
            returned = _new_refresh_token(org, family)
    return token_response(
        org,
        client,
        family.user,
        scopes=scopes,
        auth_time=family.auth_time,
        sid=family.sid,
        refresh=returned,
    )


def _retire(record: RefreshTokenRecord, now: float) -> None:
    # The grace period counts from the first rotation; a later one does not extend it.
    if record.rotated_at is None:
        record.rotated_at = now


def revoke(org: Org, client: FakeClient, token: str, hint: str | None) -> None:
    """``/v1/revoke``: revoke ``token`` if it is ``client``'s; unknown tokens are ignored.

    ``hint`` only decides which kind is looked up first (RFC 7009 2.1: a
    wrong or unknown hint still finds the token).
    """
    lookups = [_revoke_refresh, _revoke_access]
    if hint == "access_token":
        lookups.reverse()
    for lookup in lookups:
        if lookup(org, client, token):
            return


def _revoke_refresh(org: Org, client: FakeClient, token: str) -> bool:
    record = org.refresh_tokens.get(token)
    if record is None:
        return False
    if record.family.client_id == client.client_id:
        record.family.revoked = True
    return True


def _revoke_access(org: Org, client: FakeClient, token: str) -> bool:
    record = org.access_token_record(token)
    if record is None:
        return False
    if record.client_id == client.client_id:
        record.revoked = True
    return True
