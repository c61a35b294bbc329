"""Discovery, JWKS, /v1/interact, /v1/token, userinfo, revoke, logout."""

from __future__ import annotations

import base64
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from okta_magiclink_mw.testing import s256

from .conftest import APP, BASE, CALLBACK, CLIENT_ID, SECRET, SECRET_CLIENT_ID, Flow, Org

ISSUER = f"{BASE}/oauth2/default"


def verify(org: Org, token: str, audience: str = CLIENT_ID) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict(org.http.get("/oauth2/default/v1/keys").json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    return claims


def test_discovery(org: Org) -> None:
    r = org.http.get("/oauth2/default/.well-known/openid-configuration")
    assert r.status_code == 200
    doc = r.json()
    assert doc["issuer"] == ISSUER == org.fake.issuer
    assert doc["token_endpoint"] == f"{ISSUER}/v1/token"
    assert doc["jwks_uri"] == f"{ISSUER}/v1/keys"
    assert doc["userinfo_endpoint"] == f"{ISSUER}/v1/userinfo"
    assert doc["revocation_endpoint"] == f"{ISSUER}/v1/revoke"
    assert doc["end_session_endpoint"] == f"{ISSUER}/v1/logout"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "interaction_code" in doc["grant_types_supported"]
    assert "code" in doc["response_types_supported"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]


def test_jwks(org: Org) -> None:
    r = org.http.get("/oauth2/default/v1/keys")
    assert r.status_code == 200
    assert "max-age" in r.headers["cache-control"]
    [key] = r.json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"] == org.fake.current_kid
    assert set(key) == {"kty", "alg", "kid", "use", "e", "n"}


def _interact(org: Org, **overrides: str) -> Any:
    data = {
        "client_id": CLIENT_ID,
        "scope": "openid profile email",
        "redirect_uri": CALLBACK,
        "code_challenge": s256("x" * 43),
        "code_challenge_method": "S256",
        "state": "abc",
    }
    data.update(overrides)
    return org.http.post("/oauth2/default/v1/interact", data={k: v for k, v in data.items() if v})


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_id": "0oaUnknown"}, 401, "invalid_client"),
        ({"redirect_uri": "http://evil.test/cb"}, 400, "invalid_request"),
        ({"code_challenge_method": "plain"}, 400, "invalid_request"),
        ({"code_challenge_method": ""}, 400, "invalid_request"),
        ({"code_challenge": ""}, 400, "invalid_request"),
        ({"scope": ""}, 400, "invalid_scope"),
        ({"scope": "openid admin"}, 400, "invalid_scope"),
        ({"client_id": SECRET_CLIENT_ID, "client_secret": "wrong"}, 401, "invalid_client"),
    ],
)
def test_interact_errors(org: Org, overrides: dict[str, str], status: int, error: str) -> None:
    r = _interact(org, **overrides)
    assert r.status_code == status
    body = r.json()
    assert body["error"] == error
    assert body["error_description"]


def test_interact_ok(org: Org) -> None:
    r = _interact(org)
    assert r.status_code == 200
    assert set(r.json()) == {"interaction_handle"}


def test_token_and_id_token_claims(flow: Flow, org: Org) -> None:
    code = flow.code()
    r = flow.token(code)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-cache, no-store"
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "openid profile email"
    claims = verify(org, body["id_token"])
    assert claims["sub"] == org.user.id
    assert claims["sub"].startswith("00u")
    assert claims["ver"] == 1
    assert claims["iss"] == ISSUER
    assert claims["aud"] == CLIENT_ID
    assert claims["iat"] == int(org.clock.now)
    assert claims["exp"] == claims["iat"] + 3600
    assert claims["jti"].startswith("ID.")
    assert claims["amr"] == ["email"]
    assert claims["idp"].startswith("00o")
    assert claims["auth_time"] == int(org.clock.now)
    assert claims["nonce"] == flow.nonce
    assert claims["name"] == "Ada Lovelace"
    assert claims["email"] == "ada@example.com"
    assert claims["email_verified"] is True
    assert claims["preferred_username"] == "ada@example.com"
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"
    access = verify(org, body["access_token"], audience="api://default")
    assert access["cid"] == CLIENT_ID
    assert access["uid"] == org.user.id
    assert access["scp"] == ["openid", "profile", "email"]


def test_token_without_nonce(flow: Flow, org: Org) -> None:
    flow.nonce = ""
    r = flow.token(flow.code())
    assert "nonce" not in verify(org, r.json()["id_token"])


def test_code_is_single_use(flow: Flow) -> None:
    code = flow.code()
    assert flow.token(code).status_code == 200
    r = flow.token(code)
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_grant",
        "error_description": "The interaction code is invalid or has expired.",
    }


def test_code_lives_60_seconds(flow: Flow, org: Org) -> None:
    code = flow.code()
    org.clock.advance(60)
    r = flow.token(code)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_code_valid_at_59_seconds(flow: Flow, org: Org) -> None:
    code = flow.code()
    org.clock.advance(59)
    assert flow.token(code).status_code == 200


def test_pkce_mismatch(flow: Flow) -> None:
    r = flow.token(flow.code(), code_verifier="b" * 43)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "PKCE verification failed."}


def test_pkce_verifier_missing(flow: Flow) -> None:
    r = flow.token(flow.code(), code_verifier="")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_unsupported_grant_type(flow: Flow) -> None:
    r = flow.token(flow.code(), grant_type="password")
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_redirect_uri_mismatch(flow: Flow) -> None:
    r = flow.token(flow.code(), redirect_uri=f"{APP}/other")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_unknown_client_at_token(flow: Flow) -> None:
    r = flow.token(flow.code(), client_id="0oaNobody")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert "www-authenticate" in r.headers


def test_missing_client_at_token(flow: Flow) -> None:
    r = flow.token(flow.code(), client_id="")
    assert r.status_code == 401
    assert r.json() == {
        "error": "invalid_client",
        "error_description": "No client credentials found.",
    }


def test_code_bound_to_its_client(flow: Flow, org: Org) -> None:
    code = flow.code()
    r = flow.token(code, client_id=SECRET_CLIENT_ID, client_secret=SECRET)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


@pytest.fixture
def secret_flow(org: Org) -> Flow:
    return Flow(org, client_id=SECRET_CLIENT_ID)


def test_confidential_client_secret_post(secret_flow: Flow) -> None:
    assert secret_flow.token(secret_flow.code(), client_secret=SECRET).status_code == 200


def test_confidential_client_basic(secret_flow: Flow, org: Org) -> None:
    code = secret_flow.code()
    basic = base64.b64encode(f"{SECRET_CLIENT_ID}:{SECRET}".encode()).decode()
    r = org.http.post(
        "/oauth2/default/v1/token",
        data={
            "grant_type": "interaction_code",
            "interaction_code": code,
            "code_verifier": secret_flow.verifier,
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("secret", ["", "wrong"])
def test_confidential_client_bad_secret(secret_flow: Flow, secret: str) -> None:
    r = secret_flow.token(secret_flow.code(), client_secret=secret)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def test_issue_interaction_code_helper(org: Org) -> None:
    verifier = "v" * 50
    code = org.fake.issue_interaction_code(
        CLIENT_ID, org.user, s256(verifier), state="st", nonce="n-1"
    )
    flow = Flow(org, verifier=verifier)
    r = flow.token(code)
    assert r.status_code == 200
    assert verify(org, r.json()["id_token"])["nonce"] == "n-1"


def test_userinfo_and_revoke(flow: Flow, org: Org) -> None:
    tokens = flow.token(flow.code()).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    r = org.http.get("/oauth2/default/v1/userinfo", headers=auth)
    assert r.status_code == 200
    info = r.json()
    assert info["sub"] == org.user.id
    assert info["email"] == "ada@example.com"
    assert info["name"] == "Ada Lovelace"

    r = org.http.post(
        "/oauth2/default/v1/revoke",
        data={
            "token": tokens["access_token"],
            "token_type_hint": "access_token",
            "client_id": CLIENT_ID,
        },
    )
    assert r.status_code == 200
    r = org.http.get("/oauth2/default/v1/userinfo", headers=auth)
    assert r.status_code == 401
    assert "invalid_token" in r.headers["www-authenticate"]


def test_userinfo_rejects_garbage(org: Org) -> None:
    assert org.http.get("/oauth2/default/v1/userinfo").status_code == 401
    r = org.http.get("/oauth2/default/v1/userinfo", headers={"Authorization": "Bearer x.y.z"})
    assert r.status_code == 401


def test_userinfo_rejects_expired_token(flow: Flow, org: Org) -> None:
    tokens = flow.token(flow.code()).json()
    org.clock.advance(3600)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert org.http.get("/oauth2/default/v1/userinfo", headers=auth).status_code == 401


def test_logout_redirects_to_registered_uri(flow: Flow, org: Org) -> None:
    id_token = flow.token(flow.code()).json()["id_token"]
    r = org.http.get(
        "/oauth2/default/v1/logout",
        params={"id_token_hint": id_token, "post_logout_redirect_uri": f"{APP}/bye", "state": "s1"},
    )
    assert r.status_code == 302
    assert r.headers["location"] == f"{APP}/bye?state=s1"


def test_logout_rejects_unregistered_uri(flow: Flow, org: Org) -> None:
    id_token = flow.token(flow.code()).json()["id_token"]
    r = org.http.get(
        "/oauth2/default/v1/logout",
        params={"id_token_hint": id_token, "post_logout_redirect_uri": "http://evil.test/"},
    )
    assert r.status_code == 400
    assert "text/html" in r.headers["content-type"]


def test_logout_rejects_foreign_id_token(org: Org) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = org.fake.mint_id_token({"aud": CLIENT_ID}, key=other)
    r = org.http.get(
        "/oauth2/default/v1/logout",
        params={"id_token_hint": forged, "post_logout_redirect_uri": f"{APP}/bye"},
    )
    assert r.status_code == 400
