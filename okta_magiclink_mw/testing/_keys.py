"""RSA signing keys and the JWKS document of the fake authorization server."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


@dataclass(frozen=True)
class SigningKey:
    """One RSA key pair with the ``kid`` it is published under."""

    kid: str
    private_key: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK, shaped like the keys Okta publishes."""
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {
            "kty": "RSA",
            "alg": "RS256",
            "kid": self.kid,
            "use": "sig",
            "e": jwk["e"],
            "n": jwk["n"],
        }


def new_signing_key(bits: int = 2048) -> SigningKey:
    """Generate a fresh RSA key with a random, Okta-looking ``kid``."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return SigningKey(kid=secrets.token_urlsafe(32), private_key=private_key)


class KeySet:
    """The signing keys of the authorization server; the newest one signs."""

    def __init__(self) -> None:
        self._keys: list[SigningKey] = [new_signing_key()]

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._keys[0]

    @property
    def keys(self) -> list[SigningKey]:
        """All published keys, newest first."""
        return list(self._keys)

    def rotate(self, *, drop_old: bool = False) -> SigningKey:
        """Make a new active key; keep the old ones published unless ``drop_old``."""
        key = new_signing_key()
        self._keys = [key] if drop_old else [key, *self._keys]
        return key

    def find(self, kid: str) -> SigningKey | None:
        """The key published under ``kid``, if any."""
        return next((k for k in self._keys if k.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        """The JWKS document served at ``{issuer}/v1/keys``."""
        return {"keys": [k.public_jwk() for k in self._keys]}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = None,
        key: Any = None,
        alg: str = "RS256",
        headers: dict[str, Any] | None = None,
    ) -> str:
        """Sign ``claims`` as a JWT; by default with the active key and its ``kid``."""
        signer: Any = key if key is not None else self.active.private_key
        header: dict[str, Any] = {"kid": kid if kid is not None else self.active.kid}
        if headers:
            header.update(headers)
        if alg == "none":
            signer = None
        return jwt.encode(claims, signer, algorithm=alg, headers=header)

    def verify(self, token: str, *, audience: str | None, now: float | None = None) -> Any:
        """Verify a token we signed; raise :class:`jwt.InvalidTokenError` if it is not ours.

        Expiry is checked against ``now`` (the fake's clock) when given.
        """
        header = jwt.get_unverified_header(token)
        found = self.find(str(header.get("kid", "")))
        if found is None or header.get("alg") != "RS256":
            raise jwt.InvalidTokenError("unknown signing key")
        claims = jwt.decode(
            token,
            found.private_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            options={
                "verify_aud": audience is not None,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        if now is not None and now >= float(claims.get("exp", 0)):
            raise jwt.ExpiredSignatureError("token expired")
        return claims
