"""``check-config`` with the client-authentication variables: the private key is only ever
shown as "(set)", the method in use and the key file's path are shown, and a key Okta
cannot use is refused with the reason, without quoting it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from okta_magiclink_mw.cli import main

from .conftest import ENV


@pytest.fixture(scope="module")
def key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    text: str = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return text


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("OKTA_"):
            monkeypatch.delenv(name)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def _lines(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}


def _key_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if not line.startswith("-----")]


def test_the_private_key_is_shown_only_as_set(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key_pem: str
) -> None:
    environment.setenv("OKTA_MW_CLIENT_PRIVATE_KEY", key_pem.strip().replace("\n", "\\n"))
    environment.setenv("OKTA_MW_CLIENT_KEY_ID", "kid-Zq8")
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = _lines(out)
    assert "(set)" in lines["client_private_key"]
    assert "OKTA_MW_CLIENT_PRIVATE_KEY" in lines["client_private_key"]
    assert "private_key_jwt" in lines["client_auth"]
    assert "(default)" in lines["client_auth"]  # picked because a key is given
    assert "kid-Zq8" in lines["client_key_id"]
    assert "(not set)" in lines["client_secret"]
    assert "PRIVATE KEY" not in out
    assert not any(line in out for line in _key_lines(key_pem))


def test_the_key_file_path_is_shown_and_the_key_is_not(
    environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key_pem: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "okta-client.pem"
    path.write_text(key_pem)
    environment.setenv("OKTA_MW_CLIENT_AUTH", "private_key_jwt")
    environment.setenv("OKTA_MW_CLIENT_PRIVATE_KEY_FILE", str(path))
    assert main(["check-config"]) == 0
    out, _ = capsys.readouterr()
    lines = _lines(out)
    assert str(path) in lines["client_private_key_file"]
    assert "(not set)" in lines["client_private_key"]
    assert "(default)" not in lines["client_auth"]
    assert not any(line in out for line in _key_lines(key_pem))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OKTA_MW_CLIENT_AUTH": "private_key_jwt"}, "needs the app's private key"),
        ({"OKTA_MW_CLIENT_AUTH": "client_secret_basic"}, "needs client_secret"),
        ({"OKTA_MW_CLIENT_AUTH": "secret"}, "client_auth must be one of"),
        ({"OKTA_MW_CLIENT_PRIVATE_KEY_FILE": "/nonexistent/k.pem"}, "cannot be read"),
    ],
)
def test_what_cannot_work_is_refused_with_the_reason(
    environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        environment.setenv(name, value)
    assert main(["check-config"]) == 1
    _out, err = capsys.readouterr()
    assert message in err


def test_a_key_with_a_secret_is_refused_without_quoting_either(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key_pem: str
) -> None:
    environment.setenv("OKTA_MW_CLIENT_PRIVATE_KEY", key_pem)
    environment.setenv("OKTA_CLIENT_SECRET", "cs-Zq8-secret-value")
    assert main(["check-config"]) == 1
    out, err = capsys.readouterr()
    assert "both set" in err
    assert "cs-Zq8-secret-value" not in out + err
    assert not any(line in out + err for line in _key_lines(key_pem))
