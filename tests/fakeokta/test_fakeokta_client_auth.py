"""FakeOkta's client authentication at /v1/token and /v1/revoke, as strict as Okta's:
``private_key_jwt`` assertions checked against the client's registered public keys
(signature, iss/sub, aud, exp, jti replay), credentials in two places refused with Okta's
``invalid_request``, and an app that requires DPoP answered with ``invalid_dpop_proof``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from okta_magiclink_mw.testing import FakeClient, s256
from okta_magiclink_mw.testing._client_auth import (
    ASSERTION_TYPE,
    MULTIPLE_CREDENTIALS,
    public_jwk,
)

from .conftest import BASE, CALLBACK, SECRET, SECRET_CLIENT_ID, Org

TOKEN = "/oauth2/default/v1/token"
REVOKE = "/oauth2/default/v1/revoke"
TOKEN_URL = f"{BASE}{TOKEN}"
REVOKE_URL = f"{BASE}{REVOKE}"
KEY_CLIENT_ID = "0oaUnitTestKeyed001"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def keyed(org: Org, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> FakeClient:
    """A "Public key / Private key" app with two registered keys (an RSA and an EC one)."""
    return register(
        org, client_id=KEY_CLIENT_ID, jwks=[public_jwk(rsa_key, kid="rsa-1"), ec_key.public_key()]
    )


def register(org: Org, **registration: Any) -> FakeClient:
    """An app set up as the README tells an admin to: ``add_web_app`` where this FakeOkta
    has it (strict about grants, assignments and origins), else ``add_client``."""
    add_web_app = getattr(org.fake, "add_web_app", None)
    if add_web_app is not None:
        client: FakeClient = add_web_app(CALLBACK, **registration)
        return client
    return org.fake.add_client(redirect_uris=[CALLBACK], **registration)


def assertion(key: Any, *, alg: str = "RS256", kid: str | None = "rsa-1", **claims: Any) -> str:
    now = int(claims.pop("now"))
    body: dict[str, Any] = {
        "iss": KEY_CLIENT_ID,
        "sub": KEY_CLIENT_ID,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(16),
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(body, key, algorithm=alg, headers=headers)


def code_for(org: Org, client_id: str) -> tuple[str, str]:
    verifier = secrets.token_hex(32)
    code = org.fake.issue_interaction_code(
        client_id, org.user, s256(verifier), scopes=("openid", "email", "offline_access")
    )
    return code, verifier


def redeem(org: Org, client_assertion: str, **extra: str) -> httpx.Response:
    code, verifier = code_for(org, KEY_CLIENT_ID)
    data = {
        "grant_type": "interaction_code",
        "interaction_code": code,
        "code_verifier": verifier,
        "redirect_uri": CALLBACK,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
        **extra,
    }
    return org.http.post(TOKEN, data=data)


def refused(r: httpx.Response, error: str, description: str | None = None) -> None:
    assert r.status_code in (400, 401), r.text
    body = r.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    if description is not None:
        assert body["error_description"] == description


# -- the good cases ------------------------------------------------------------------------


def test_discovery_lists_okta_methods(org: Org) -> None:
    doc = org.http.get("/oauth2/default/.well-known/openid-configuration").json()
    for name in ("token", "revocation", "introspection"):
        assert doc[f"{name}_endpoint_auth_methods_supported"] == [
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none",
        ]


def test_an_rsa_assertion_signs_in_and_refreshes_and_revokes(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert keyed.token_endpoint_auth_method == "private_key_jwt"
    r = redeem(org, assertion(rsa_key, now=org.clock()))
    assert r.status_code == 200, r.text
    tokens = r.json()
    r = org.http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(rsa_key, now=org.clock()),
        },
    )
    assert r.status_code == 200, r.text
    at_revoke = assertion(rsa_key, now=org.clock(), aud=REVOKE_URL)
    r = org.http.post(
        REVOKE,
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": at_revoke,
        },
    )
    assert r.status_code == 200, r.text
    assert org.fake.refresh_tokens[tokens["refresh_token"]].family.revoked


def test_an_ec_assertion_without_kid_is_matched_to_its_key(
    org: Org, keyed: FakeClient, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    assert all(k["kid"] for k in keyed.jwks)  # a key registered without kid got one
    r = redeem(org, assertion(ec_key, alg="ES256", kid=None, now=org.clock()))
    assert r.status_code == 200, r.text


def test_only_public_halves_are_kept(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    private_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    client = org.fake.add_client(jwks=[private_pem], redirect_uris=[CALLBACK])
    assert client.token_endpoint_auth_method == "private_key_jwt"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(client.jwks[0])
    assert not {"d", "p", "q"} & set(keyed.jwks[0])


# -- forged, replayed and stale assertions ---------------------------------------------------


def test_a_replayed_assertion_is_refused(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    once = assertion(rsa_key, now=org.clock())
    assert redeem(org, once).status_code == 200
    refused(
        redeem(org, once), "invalid_client", "The client_assertion token has already been used."
    )
    # Even once the first use has expired, a replay is still expired.
    org.clock.advance(301)
    refused(redeem(org, once), "invalid_client", "The client_assertion token is expired.")


def test_an_expired_assertion_is_refused(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    stale = assertion(rsa_key, now=org.clock() - 301)
    refused(redeem(org, stale), "invalid_client", "The client_assertion token is expired.")
    edge = assertion(rsa_key, now=org.clock() - 300)  # exp == now: expired
    refused(redeem(org, edge), "invalid_client", "The client_assertion token is expired.")


def test_an_assertion_valid_for_more_than_an_hour_is_refused(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    now = org.clock()
    r = redeem(org, assertion(rsa_key, now=now, exp=int(now) + 3601))
    refused(
        r, "invalid_client", "The client_assertion token has an expiration too far into the future."
    )
    assert redeem(org, assertion(rsa_key, now=now, exp=int(now) + 3600)).status_code == 200


@pytest.mark.parametrize(
    "aud",
    [
        REVOKE_URL,  # another endpoint's
        BASE,  # the org
        f"{BASE}/oauth2/default",  # the issuer, which some libraries send
        TOKEN,  # not the full URL
        [TOKEN_URL, REVOKE_URL],
        None,
    ],
)
def test_an_assertion_for_another_audience_is_refused(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey, aud: Any
) -> None:
    r = redeem(org, assertion(rsa_key, now=org.clock(), aud=aud))
    refused(
        r,
        "invalid_client",
        "The audience claim for client_assertion must be the endpoint invoked for the request.",
    )


def test_the_token_endpoint_assertion_does_not_work_at_revoke(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    r = org.http.post(
        REVOKE,
        data={
            "token": "x",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(rsa_key, now=org.clock()),
        },
    )
    refused(r, "invalid_client")


def test_a_key_that_is_not_registered_is_refused(
    org: Org, keyed: FakeClient, stranger_key: rsa.RSAPrivateKey
) -> None:
    for kid in ("rsa-1", None, "unknown-kid"):
        r = redeem(org, assertion(stranger_key, kid=kid, now=org.clock()))
        refused(r, "invalid_client", "The client_assertion signature is invalid.")


def test_the_kid_must_name_the_key_that_signed(
    org: Org, keyed: FakeClient, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    # Signed by a registered key, but the header names the other one.
    r = redeem(org, assertion(ec_key, alg="ES256", kid="rsa-1", now=org.clock()))
    refused(r, "invalid_client", "The client_assertion signature is invalid.")


def test_unsigned_and_hmac_assertions_are_refused(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    now = org.clock()
    claims = {
        "iss": KEY_CLIENT_ID,
        "sub": KEY_CLIENT_ID,
        "aud": TOKEN_URL,
        "exp": int(now) + 60,
        "jti": "j-1",
    }
    unsigned = jwt.encode(claims, "", algorithm="none")
    refused(redeem(org, unsigned), "invalid_client", "The client_assertion signature is invalid.")
    # The classic confusion: HMAC keyed with the public key's own bytes.
    jwk = keyed.jwks[0]
    for secret in (json.dumps(jwk), jwk["n"]):
        forged = _hs256(claims, secret.encode())
        refused(redeem(org, forged), "invalid_client", "The client_assertion signature is invalid.")
    tampered = assertion(rsa_key, now=now).split(".")
    payload = json.loads(base64.urlsafe_b64decode(tampered[1] + "=="))
    payload["sub"] = payload["iss"] = SECRET_CLIENT_ID
    tampered[1] = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    refused(redeem(org, ".".join(tampered)), "invalid_client")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 JWT made by hand (PyJWT will not key HMAC with a public key's text)."""
    header = _b64(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "0oaSomeoneElse"},
        {"iss": "0oaSomeoneElse"},
        {"iss": None},
        {"iss": SECRET_CLIENT_ID, "sub": SECRET_CLIENT_ID},  # a client without keys
        {"exp": None},
        {"exp": "soon"},
    ],
)
def test_claims_that_do_not_name_this_client_or_a_time_are_refused(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey, claims: dict[str, Any]
) -> None:
    refused(redeem(org, assertion(rsa_key, now=org.clock(), **claims)), "invalid_client")


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "e30.e30."])
def test_garbage_assertions_are_refused(org: Org, keyed: FakeClient, garbage: str) -> None:
    refused(redeem(org, garbage), "invalid_client")


def test_the_assertion_type_must_be_jwt_bearer(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    r = redeem(org, assertion(rsa_key, now=org.clock()), client_assertion_type="jwt")
    refused(r, "invalid_request")


def test_a_keyed_client_cannot_use_a_secret_or_nothing(org: Org, keyed: FakeClient) -> None:
    code, verifier = code_for(org, KEY_CLIENT_ID)
    base = {"grant_type": "interaction_code", "interaction_code": code, "code_verifier": verifier}
    refused(org.http.post(TOKEN, data={**base, "client_id": KEY_CLIENT_ID}), "invalid_client")
    both = {**base, "client_id": KEY_CLIENT_ID, "client_secret": "guess"}
    refused(org.http.post(TOKEN, data=both), "invalid_client")


def test_a_secret_client_cannot_use_an_assertion(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    forged = assertion(rsa_key, now=org.clock(), iss=SECRET_CLIENT_ID, sub=SECRET_CLIENT_ID)
    refused(redeem(org, forged), "invalid_client")


# -- credentials in two places ------------------------------------------------------------


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.mark.parametrize(
    "in_form",
    [
        {"client_secret": SECRET},
        {"client_id": SECRET_CLIENT_ID},
        {"client_id": SECRET_CLIENT_ID, "client_secret": SECRET},
        {"client_assertion_type": ASSERTION_TYPE, "client_assertion": "x.y.z"},
    ],
)
@pytest.mark.parametrize("endpoint", [TOKEN, REVOKE])
def test_basic_and_credentials_in_the_body_get_okta_invalid_request(
    org: Org, in_form: dict[str, str], endpoint: str
) -> None:
    code, verifier = code_for(org, SECRET_CLIENT_ID)
    data = {"grant_type": "interaction_code", "interaction_code": code, "code_verifier": verifier}
    if endpoint == REVOKE:
        data = {"token": "x"}
    r = org.http.post(endpoint, data={**data, **in_form}, headers=_basic(SECRET_CLIENT_ID, SECRET))
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_request", "error_description": MULTIPLE_CREDENTIALS}
    assert r.headers["cache-control"] == "no-cache, no-store"
    if endpoint == TOKEN:  # nothing was spent: the code still works with one credential
        alone = org.http.post(endpoint, data=data, headers=_basic(SECRET_CLIENT_ID, SECRET))
        assert alone.status_code == 200, alone.text


@pytest.mark.parametrize(
    "in_form",
    [
        {"client_secret": SECRET},
        {"client_id": KEY_CLIENT_ID},
    ],
)
def test_an_assertion_and_a_secret_or_id_in_the_body_are_refused(
    org: Org, keyed: FakeClient, rsa_key: rsa.RSAPrivateKey, in_form: dict[str, str]
) -> None:
    r = redeem(org, assertion(rsa_key, now=org.clock()), **in_form)
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_request", "error_description": MULTIPLE_CREDENTIALS}


def test_basic_alone_and_post_alone_both_work_for_a_secret_client(org: Org) -> None:
    for headers, extra in (
        (_basic(SECRET_CLIENT_ID, SECRET), {}),
        ({}, {"client_id": SECRET_CLIENT_ID, "client_secret": SECRET}),
    ):
        code, verifier = code_for(org, SECRET_CLIENT_ID)
        data = {
            "grant_type": "interaction_code",
            "interaction_code": code,
            "code_verifier": verifier,
            **extra,
        }
        r = org.http.post(TOKEN, data=data, headers=headers)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()])
def test_a_malformed_basic_header_is_refused(org: Org, header: str) -> None:
    r = org.http.post(
        TOKEN, data={"grant_type": "refresh_token"}, headers={"Authorization": header}
    )
    refused(r, "invalid_client")


# -- DPoP required ---------------------------------------------------------------------------


def test_an_app_that_requires_dpop_refuses_token_calls_without_a_proof(org: Org) -> None:
    register(org, client_id="0oaDpopApp", client_secret=SECRET, require_dpop=True)
    code, verifier = code_for(org, "0oaDpopApp")
    data = {"grant_type": "interaction_code", "interaction_code": code, "code_verifier": verifier}
    r = org.http.post(TOKEN, data=data, headers=_basic("0oaDpopApp", SECRET))
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_dpop_proof",
        "error_description": "The DPoP proof JWT header is missing.",
    }
    r = org.http.post(TOKEN, data=data, headers={**_basic("0oaDpopApp", SECRET), "DPoP": "x.y.z"})
    refused(r, "invalid_dpop_proof")  # proofs are not emulated
    # Client authentication comes first: a wrong secret is still invalid_client.
    refused(
        org.http.post(TOKEN, data=data, headers=_basic("0oaDpopApp", "wrong")), "invalid_client"
    )


# -- registration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token_endpoint_auth_method": "private_key_jwt"}, "needs jwks"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "needs a client_secret"),
        ({"token_endpoint_auth_method": "client_secret_jwt"}, "must be one of"),
        ({"token_endpoint_auth_method": "none", "client_secret": "s"}, "public client"),
        ({"jwks": [{"kty": "oct", "k": "c2VjcmV0"}]}, "a client key must be RSA or EC"),
        ({"jwks": ["not a key"]}, "not a PEM"),
    ],
)
def test_registrations_okta_cannot_express_are_refused(
    org: Org, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        org.fake.add_client(redirect_uris=[CALLBACK], **kwargs)


def test_small_rsa_keys_cannot_be_registered(org: Org) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    with pytest.raises(ValueError, match="2048"):
        org.fake.add_client(redirect_uris=[CALLBACK], jwks=[small])


def test_the_default_method_follows_what_the_client_has(org: Org) -> None:
    assert org.client.token_endpoint_auth_method == "none"
    assert org.secret_client.token_endpoint_auth_method == "client_secret_basic"
