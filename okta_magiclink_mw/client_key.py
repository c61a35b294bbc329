"""Print the public half of a ``client_private_key`` as a JWK, to register it in Okta.

.. code-block:: console

    $ python -m okta_magiclink_mw.client_key okta-client.pem [--kid KID]

Paste the output in the Okta admin console: Applications > Applications > your app >
General > Client Credentials > Edit > Client authentication "Public key / Private key" >
Add key. Only the public key is printed; the file is checked as ``Settings`` checks it
(RSA of 2048 bits or more, or EC P-256; PEM, unencrypted).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ._client_auth import load_private_key
from .errors import ConfigurationError


def public_jwk(pem: bytes, kid: str | None = None) -> dict[str, Any]:
    """The public JWK of the PEM private key ``pem``, with ``alg``, ``use`` and ``kid``.

    :raises ConfigurationError: for a key Okta cannot use.
    """
    key, alg = load_private_key(pem, "the key")
    if isinstance(key, rsa.RSAPrivateKey):
        full = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        members: tuple[str, ...] = ("kty", "e", "n")
    else:
        full = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        members = ("kty", "crv", "x", "y")
    # Only what Okta's dialog takes: no key_ops, and never a private member.
    jwk: dict[str, Any] = {name: full[name] for name in members}
    jwk.update(alg=alg, use="sig")
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def main(argv: Sequence[str] | None = None) -> int:
    """Print the JWK; exit 0, or 1 with the reason on stderr."""
    parser = argparse.ArgumentParser(
        prog="python -m okta_magiclink_mw.client_key",
        description="Print the public JWK of a PEM private key, for Okta's 'Add key'.",
    )
    parser.add_argument("pem_file", help="the private key (client_private_key_file)")
    parser.add_argument("--kid", help="a key id to put in the JWK (then set client_key_id)")
    args = parser.parse_args(argv)
    try:
        pem = Path(args.pem_file).read_bytes()
        jwk = public_jwk(pem, args.kid)
    except OSError as exc:
        print(f"{args.pem_file}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 1
    except ConfigurationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(jwk, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
