"""``python -m okta_magiclink_mw.client_key``: the public JWK of the app's private key, to
paste in Okta. What it prints verifies the middleware's own assertions, FakeOkta takes it
as Okta would, and it never carries a private member."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from okta_magiclink_mw.client_key import main
from okta_magiclink_mw.testing import FakeOkta
from tests.conftest import TOKEN_URL, make_settings

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def _write(tmp_path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> Path:
    path = tmp_path / "okta-client.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.mark.parametrize(
    ("make", "alg"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    ],
)
def test_the_printed_jwk_verifies_the_middleware_assertions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, alg: str
) -> None:
    path = _write(tmp_path, make())  # type: ignore[operator]
    assert main([str(path), "--kid", "app-key-1"]) == 0
    jwk = json.loads(capsys.readouterr().out)
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    assert jwk["kid"] == "app-key-1"
    assert not PRIVATE_MEMBERS & set(jwk)
    assert "key_ops" not in jwk
    settings = make_settings(client_private_key_file=str(path), client_key_id="app-key-1")
    assertion = settings.client_credentials.assertion(TOKEN_URL, 1_800_000_000)
    claims = jwt.decode(
        assertion,
        jwt.PyJWK(jwk).key,
        algorithms=[alg],
        audience=TOKEN_URL,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == settings.client_id
    registered = FakeOkta().add_client(jwks=[jwk])
    assert registered.token_endpoint_auth_method == "private_key_jwt"
    assert registered.jwks[0]["kid"] == "app-key-1"


def test_keys_okta_cannot_use_and_missing_files_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, ec.generate_private_key(ec.SECP384R1()))
    assert main([str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "use P-256" in err
    assert main([str(tmp_path / "nope.pem")]) == 1
    assert "nope.pem" in capsys.readouterr().err


def test_it_runs_as_a_module(tmp_path: Path) -> None:
    path = _write(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    done = subprocess.run(
        [sys.executable, "-m", "okta_magiclink_mw.client_key", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kty"] == "EC"
