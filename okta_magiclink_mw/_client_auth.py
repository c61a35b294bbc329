"""How the app proves who it is to Okta's token and revocation endpoints.

Four methods, named as Okta names an app's ``token_endpoint_auth_method`` (the admin
console's Applications > *app* > General > Client Credentials):

``none``
    A public app: only ``client_id`` in the form.
``client_secret_post``
    ``client_id`` and ``client_secret`` in the form.
``client_secret_basic``
    ``Authorization: Basic`` with both, and neither in the form: Okta answers a request
    that carries credentials in two places with ``invalid_request`` ("Cannot supply
    multiple client credentials"), and counts a form ``client_id`` next to a Basic header
    as a second one.
``private_key_jwt``
    A JWT signed with the app's private key (RFC 7523 §2.2, OpenID Connect Core §9) in
    ``client_assertion``: ``iss`` and ``sub`` the client id, ``aud`` the full URL of the
    endpoint called (Okta refuses any other), a fresh ``jti`` (Okta refuses a replayed
    one), ``iat`` now and ``exp`` five minutes on (Okta refuses one more than an hour
    ahead). Signed RS256 with an RSA key (2048 bits or more), ES256 with an EC P-256 key.
    The form carries no ``client_id`` and no secret.

The key is read and checked once, when :class:`~okta_magiclink_mw.Settings` are built
(:func:`credentials_for`); a call to the token or revocation endpoint signs one assertion.
Nothing here runs for a request that does not call Okta.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import quote

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import ConfigurationError

#: The values of ``client_auth``.
METHODS: Final = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
#: ``client_assertion_type`` of a JWT client assertion (RFC 7523 §2.2).
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: How long an assertion is valid, in seconds: short, as it is built for one call.
ASSERTION_LIFETIME: Final = 300
#: Smallest RSA key accepted, in bits (what Okta requires).
MIN_RSA_BITS: Final = 2048

_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
_KEY_VARIABLES = "client_private_key or client_private_key_file (OKTA_MW_CLIENT_PRIVATE_KEY_FILE)"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The app's private key, parsed once, with the JWS ``alg`` it signs with and the
    ``kid`` it is registered under in Okta (None: the header carries no ``kid``)."""

    key: PrivateKey = field(repr=False)
    alg: str
    kid: str | None


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """This app's credentials and the method that sends them (see the module docs)."""

    method: str
    client_id: str
    secret: str | None = field(default=None, repr=False)
    signing_key: SigningKey | None = None

    def apply(
        self, form: dict[str, str], endpoint: str, now: float
    ) -> tuple[dict[str, str], dict[str, str]]:
        """``form`` with the credentials added, and the headers that carry any: what to
        POST to ``endpoint`` (the full URL, the assertion's audience) at time ``now``."""
        if self.method == "client_secret_basic":
            assert self.secret is not None  # checked by credentials_for
            return dict(form), {"Authorization": basic_authorization(self.client_id, self.secret)}
        if self.method == "private_key_jwt":
            assertion = {
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(endpoint, now),
            }
            return {**form, **assertion}, {}
        credentials = {"client_id": self.client_id}
        if self.method == "client_secret_post":
            assert self.secret is not None  # checked by credentials_for
            credentials["client_secret"] = self.secret
        return {**credentials, **form}, {}

    def assertion(self, endpoint: str, now: float) -> str:
        """A signed client assertion for one call to ``endpoint``, valid from ``now`` for
        :data:`ASSERTION_LIFETIME` seconds, with a ``jti`` never used before."""
        signing = self.signing_key
        assert signing is not None  # only for private_key_jwt, which has one
        issued = int(now)
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": endpoint,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
            "jti": secrets.token_urlsafe(32),
        }
        headers = {"kid": signing.kid} if signing.kid is not None else None
        return jwt.encode(claims, signing.key, algorithm=signing.alg, headers=headers)


def basic_authorization(client_id: str, secret: str) -> str:
    """The ``Authorization`` header of ``client_secret_basic``: both values
    form-urlencoded first (RFC 6749 §2.3.1), so a ``:`` in either stays unambiguous."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def credentials_for(
    *,
    client_id: str,
    client_auth: str | None,
    client_secret: str | None,
    private_key: str | bytes | None,
    private_key_file: str | None,
    key_id: str | None,
) -> ClientCredentials:
    """The credentials these settings describe, checked; the key file is read here.

    ``client_auth=None`` picks the method from what is given: ``client_secret_post`` with
    a secret (what the middleware always did), ``private_key_jwt`` with a private key,
    ``none`` with neither.

    :raises ConfigurationError: naming the setting that cannot work.
    """
    if client_auth is not None and client_auth not in METHODS:
        raise ConfigurationError(f"client_auth must be one of {', '.join(METHODS)}")
    if client_secret is not None and (not isinstance(client_secret, str) or not client_secret):
        raise ConfigurationError(
            "client_secret must be a non-empty string (leave it unset for a public app)"
        )
    if private_key is not None and private_key_file is not None:
        raise ConfigurationError(
            "give the private key once: client_private_key or client_private_key_file, not both"
        )
    has_key = private_key is not None or private_key_file is not None
    if client_auth is None and client_secret is not None and has_key:
        raise ConfigurationError(
            "client_secret and a private key are both set: an Okta app authenticates with "
            "one (General > Client Credentials > Client authentication); keep that one"
        )
    method = client_auth or (
        "client_secret_post" if client_secret else "private_key_jwt" if has_key else "none"
    )
    if method == "private_key_jwt":
        if client_secret is not None:
            raise ConfigurationError(
                "client_auth='private_key_jwt' signs with the private key alone: remove "
                "client_secret (OKTA_CLIENT_SECRET); Okta refuses a request that carries "
                "both, and an app set to 'Public key / Private key' has no secret"
            )
        if not has_key:
            raise ConfigurationError(
                f"client_auth='private_key_jwt' needs the app's private key: set {_KEY_VARIABLES}"
            )
        return ClientCredentials(
            method, client_id, signing_key=_signing_key(private_key, private_key_file, key_id)
        )
    if has_key or key_id is not None:
        raise ConfigurationError(
            f"client_private_key, client_private_key_file and client_key_id are used only "
            f"with client_auth='private_key_jwt', not {method!r}"
        )
    if method in _SECRET_METHODS and client_secret is None:
        raise ConfigurationError(
            f"client_auth={method!r} needs client_secret (OKTA_CLIENT_SECRET), the app's "
            "secret under General > Client Credentials in Okta"
        )
    if method == "none" and client_secret is not None:
        raise ConfigurationError(
            "client_auth='none' is for a public app, which has no secret: remove "
            "client_secret, or set client_auth to client_secret_basic or client_secret_post"
        )
    return ClientCredentials(method, client_id, secret=client_secret)


def _signing_key(
    private_key: str | bytes | None, private_key_file: str | None, key_id: str | None
) -> SigningKey:
    if key_id is not None and not (
        isinstance(key_id, str) and key_id and key_id.isprintable() and key_id.strip() == key_id
    ):
        raise ConfigurationError(
            "client_key_id must be the KID Okta shows for the public key (printable, no "
            "surrounding spaces), or unset"
        )
    if private_key_file is not None:
        source = "client_private_key_file"
        if not isinstance(private_key_file, str) or not private_key_file:
            raise ConfigurationError("client_private_key_file must be the path of a PEM file")
        try:
            pem = Path(private_key_file).read_bytes()
        except OSError as exc:
            # The path is not a secret; the OS's reason (missing, permissions) helps.
            raise ConfigurationError(
                f"client_private_key_file {private_key_file!r} cannot be read: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
    else:
        source = "client_private_key"
        if isinstance(private_key, str):
            pem = private_key.encode("utf-8")
        elif isinstance(private_key, bytes):
            pem = private_key
        else:
            raise ConfigurationError("client_private_key must be PEM text")
    key, alg = load_private_key(pem, source)
    return SigningKey(key, alg, key_id)


def load_private_key(pem: bytes, source: str) -> tuple[PrivateKey, str]:
    """Parse a PEM private key and pick its JWS algorithm: RS256 for RSA of
    :data:`MIN_RSA_BITS` or more, ES256 for EC P-256.

    The messages never quote the key: it is a secret even when it is malformed.

    :raises ConfigurationError: naming ``source`` and what is wrong.
    """
    text = pem.strip()
    if text.startswith(b"{"):
        raise ConfigurationError(
            f"{source} must be a PEM private key (-----BEGIN PRIVATE KEY-----), not a JWK: "
            "when Okta generates the key, copy its PEM form"
        )
    if b"-----BEGIN" not in text:
        raise ConfigurationError(
            f"{source} must be a PEM private key (-----BEGIN PRIVATE KEY-----); make one "
            "with: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem"
        )
    if b"PUBLIC KEY-----" in text or b"CERTIFICATE-----" in text:
        raise ConfigurationError(
            f"{source} holds a public key or certificate: it must be the private key (the "
            "public key is what you register in Okta)"
        )
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except TypeError:
        raise ConfigurationError(
            f"{source} is encrypted: give it unencrypted (openssl pkey -in key.pem -out "
            "plain.pem), and protect the file or variable instead"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigurationError(f"{source} is not a readable PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigurationError(
                f"{source} is a {key.key_size}-bit RSA key: Okta needs {MIN_RSA_BITS} bits or more"
            )
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigurationError(
                f"{source} is an EC key on {key.curve.name}: use P-256 (prime256v1), or RSA"
            )
        return key, "ES256"
    raise ConfigurationError(
        f"{source} must be an RSA ({MIN_RSA_BITS} bits or more) or EC P-256 key"
    )
