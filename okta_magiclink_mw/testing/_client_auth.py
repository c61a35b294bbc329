"""Client authentication at the token and revocation endpoints, as strict as Okta's.

A client is registered with one ``token_endpoint_auth_method``:

- ``client_secret_basic`` / ``client_secret_post`` (an app whose Client authentication is
  "Client secret"): either way of sending the secret is accepted, as Okta does.
- ``private_key_jwt`` ("Public key / Private key"): a JWT client assertion (RFC 7523),
  verified against the client's registered public keys (its JWKS): RS256/384/512 or
  ES256/384/512 (never ``none`` or HMAC), the header's ``kid`` if it has one, ``iss`` and
  ``sub`` the client id, ``aud`` exactly the URL of the endpoint called, ``exp`` in the
  future but at most an hour ahead, and a ``jti`` not seen before while the first use is
  unexpired. Okta's answers: 401 ``invalid_client`` with its descriptions.
- ``none``: a public client; its ``client_id`` in the form.

Credentials in two places (a Basic header and anything in the form that identifies the
client: ``client_id``, ``client_secret``, ``client_assertion``; or a secret and an
assertion in the form) get what Okta answers, 401 ``invalid_request`` "Cannot supply
multiple client credentials. ...". Okta counts a form ``client_id`` next to a Basic
header or an assertion as a second credential; so does this emulator.

A client with ``require_dpop=True`` (Okta's "Require Demonstrating Proof of Possession
(DPoP) header in token requests") is answered at ``/v1/token`` with 400
``invalid_dpop_proof`` "The DPoP proof JWT header is missing." when the request has no
``DPoP`` header. DPoP proofs themselves are not emulated: one that is sent is refused as
invalid.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.requests import Request

from ._ids import opaque
from ._model import FakeClient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Okta refuses an assertion whose ``exp`` is further ahead than this, in seconds.
MAX_ASSERTION_LIFETIME = 3600
#: The JWS algorithms Okta accepts for ``private_key_jwt``.
ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
PRIVATE_KEY_JWT = "private_key_jwt"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT, "none")

MULTIPLE_CREDENTIALS = (
    "Cannot supply multiple client credentials. Use one of the following: credentials in "
    "the Authorization header, credentials in the post body, or a client_assertion in the "
    "post body."
)
AUTH_FAILED = (
    "Client authentication failed. Either the client or the client credentials are invalid."
)
WRONG_CLIENT_KEY = "The client secret supplied for a confidential client is invalid."
BAD_SIGNATURE = "The client_assertion signature is invalid."
WRONG_AUDIENCE = (
    "The audience claim for client_assertion must be the endpoint invoked for the request."
)
EXPIRED = "The client_assertion token is expired."
TOO_LONG = "The client_assertion token has an expiration too far into the future."
REPLAYED = "The client_assertion token has already been used."
DPOP_MISSING = "The DPoP proof JWT header is missing."

#: ``(status, error, description)`` of a refused request.
Refusal = tuple[int, str, str]


def public_jwk(key: Any, kid: str | None = None) -> dict[str, Any]:
    """A public JWK for ``key``: a JWK dict (its private members dropped), PEM text of a
    public or private key, or a ``cryptography`` RSA/EC key (its public half).

    The ``kid`` is ``kid``, else the JWK's own, else a random one (as Okta assigns).
    RSA keys must have 2048 bits or more; EC keys be on P-256, P-384 or P-521.

    :raises ValueError: for anything else.
    """
    if isinstance(key, Mapping):
        jwk = dict(key)
        if jwk.get("kty") not in ("RSA", "EC"):
            raise ValueError("a client key must be RSA or EC")
        try:
            parsed = jwt.PyJWK(jwk).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise ValueError(f"not a usable public JWK: {exc}") from None
        return public_jwk(parsed, kid or jwk.get("kid"))
    if isinstance(key, str | bytes):
        data = key.encode() if isinstance(key, str) else key
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            try:
                key = serialization.load_pem_private_key(data, password=None)
            except (ValueError, TypeError):
                raise ValueError("not a PEM public or private key") from None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        key = key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError("Okta needs RSA keys of 2048 bits or more")
        jwk = json.loads(RSAAlgorithm.to_jwk(key))
        return {"kty": "RSA", "kid": kid or opaque(16), "use": "sig", "e": jwk["e"], "n": jwk["n"]}
    if isinstance(key, ec.EllipticCurvePublicKey):
        jwk = json.loads(ECAlgorithm.to_jwk(key))
        if jwk["crv"] not in ("P-256", "P-384", "P-521"):
            raise ValueError("Okta takes EC keys on P-256, P-384 or P-521")
        return {
            "kty": "EC",
            "kid": kid or opaque(16),
            "use": "sig",
            "crv": jwk["crv"],
            "x": jwk["x"],
            "y": jwk["y"],
        }
    raise ValueError("a client key must be RSA or EC")


def auth_method_of(
    method: str | None, client_secret: str | None, jwks: list[dict[str, Any]]
) -> str:
    """The registered method, checked against what the client has (see :func:`add_client`).

    :raises ValueError: for a combination Okta's app settings cannot express.
    """
    if method is None:
        method = "client_secret_basic" if client_secret else "private_key_jwt" if jwks else "none"
    if method not in AUTH_METHODS:
        raise ValueError(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    if method == "private_key_jwt" and (not jwks or client_secret is not None):
        raise ValueError("private_key_jwt needs jwks (the public keys) and no client_secret")
    if method in ("client_secret_basic", "client_secret_post") and not client_secret:
        raise ValueError(f"{method} needs a client_secret")
    if method == "none" and (client_secret is not None or jwks):
        raise ValueError("a public client (none) has no client_secret and no jwks")
    return method


class AssertionLedger:
    """The ``jti`` of every client assertion accepted, until its ``exp``: Okta accepts
    an assertion once."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}

    def first_use(self, client_id: str, jti: str, exp: float, now: float) -> bool:
        """Record ``jti``; False if it was already used (and has not expired since)."""
        self._seen = {k: until for k, until in self._seen.items() if until > now}
        if (client_id, jti) in self._seen:
            return False
        self._seen[client_id, jti] = exp
        return True


def authenticate(
    clients: Mapping[str, FakeClient],
    request: Request,
    form: Mapping[str, Any],
    *,
    endpoint: str,
    now: float,
    ledger: AssertionLedger,
) -> FakeClient | Refusal:
    """The client a token or revocation request authenticates as, or Okta's refusal.

    ``endpoint`` is the full URL of the endpoint called (what an assertion's ``aud`` must
    be), ``now`` the org's clock.
    """
    header = request.headers.get("authorization")
    basic = _basic_credentials(header) if header is not None else None
    if header is not None and header.partition(" ")[0].lower() == "basic" and basic is None:
        return 401, "invalid_client", AUTH_FAILED  # a malformed Basic header
    assertion = form.get("client_assertion")
    assertion_type = form.get("client_assertion_type")
    secret = form.get("client_secret")
    client_id = form.get("client_id")
    in_form = [v for v in (client_id, secret, assertion) if v is not None]
    if (basic is not None and in_form) or (
        (assertion is not None or assertion_type is not None)
        and (secret is not None or client_id is not None)
    ):
        return 401, "invalid_request", MULTIPLE_CREDENTIALS
    if assertion is not None or assertion_type is not None:
        return _by_assertion(
            clients, str(assertion or ""), str(assertion_type or ""), endpoint, now, ledger
        )
    if basic is not None:
        client_id, secret = basic
    if not client_id:
        return 401, "invalid_client", "No client credentials found."
    client = clients.get(str(client_id))
    if client is None:
        return 401, "invalid_client", AUTH_FAILED
    if _signs(client):
        return 401, "invalid_client", AUTH_FAILED  # the app has no secret to check
    if client.client_secret is not None:
        if not secret:
            return 401, "invalid_client", AUTH_FAILED
        if not _consteq(str(secret), client.client_secret):
            return 401, "invalid_client", WRONG_CLIENT_KEY
    return client


def dpop_refusal(client: FakeClient, request: Request) -> Refusal | None:
    """Okta's answer at ``/v1/token`` for a client that requires DPoP (None: proceed)."""
    if not client.require_dpop:
        return None
    if "dpop" not in request.headers:
        return 400, "invalid_dpop_proof", DPOP_MISSING
    return 400, "invalid_dpop_proof", "The DPoP proof JWT is invalid."


def _by_assertion(
    clients: Mapping[str, FakeClient],
    assertion: str,
    assertion_type: str,
    endpoint: str,
    now: float,
    ledger: AssertionLedger,
) -> FakeClient | Refusal:
    if assertion_type != ASSERTION_TYPE:
        return (
            400,
            "invalid_request",
            f"The 'client_assertion_type' parameter must be '{ASSERTION_TYPE}'.",
        )
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return 401, "invalid_client", "The client_assertion is not a valid JWT."
    iss, sub = unverified.get("iss"), unverified.get("sub")
    client = clients.get(iss) if isinstance(iss, str) else None
    if client is None or sub != iss or not _signs(client):
        return 401, "invalid_client", AUTH_FAILED
    claims = _verified(assertion, header, client)
    if claims is None:
        return 401, "invalid_client", BAD_SIGNATURE
    if claims.get("aud") != endpoint:
        return 401, "invalid_client", WRONG_AUDIENCE
    exp = claims.get("exp")
    if not _number(exp):
        return 401, "invalid_client", "The client_assertion token must have an 'exp' claim."
    if exp <= now:
        return 401, "invalid_client", EXPIRED
    if exp > now + MAX_ASSERTION_LIFETIME:
        return 401, "invalid_client", TOO_LONG
    nbf = claims.get("nbf")
    if _number(nbf) and nbf > now:
        return 401, "invalid_client", "The client_assertion token is not yet valid."
    jti = claims.get("jti")
    if jti is not None and not ledger.first_use(client.client_id, str(jti), exp, now):
        return 401, "invalid_client", REPLAYED
    return client


def _verified(assertion: str, header: Mapping[str, Any], client: FakeClient) -> Any:
    """The claims, if the signature is one of ``client``'s registered keys; else None."""
    alg = header.get("alg")
    if alg not in ASSERTION_ALGORITHMS:
        return None
    kid = header.get("kid")
    candidates = [k for k in client.jwks if kid is None or k.get("kid") == kid]
    for jwk in candidates:
        try:
            key = jwt.PyJWK(jwk, algorithm=str(alg)).key
            return jwt.decode(
                assertion,
                key,
                algorithms=[str(alg)],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError):  # not this key, or not its kind
            continue
    return None


def _signs(client: FakeClient) -> bool:
    """Whether ``client`` authenticates with a private key (``private_key_jwt``)."""
    return client.token_endpoint_auth_method == PRIVATE_KEY_JWT


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote(client_id), unquote(secret)


def _consteq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
