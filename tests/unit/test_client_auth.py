"""Client authentication (:mod:`okta_magiclink_mw._client_auth`): the settings, checked at
construction with a clear message each, and what each method puts in a request, the
``private_key_jwt`` assertion above all (RFC 7523; Okta's limits)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from okta_magiclink_mw import ConfigurationError, Settings
from okta_magiclink_mw._client_auth import (
    ASSERTION_LIFETIME,
    ASSERTION_TYPE,
    basic_authorization,
    load_private_key,
)
from okta_magiclink_mw._environment import pem
from okta_magiclink_mw._oidc import DPOP_HINT, OktaConversation
from okta_magiclink_mw._transactions import Transaction
from okta_magiclink_mw.errors import TokenExchangeError
from tests.conftest import (
    CLIENT_ID,
    ISSUER,
    JWKS_URL,
    REDIRECT_URI,
    SECRET_NEW,
    TOKEN_URL,
    FakeClock,
    make_settings,
)

REVOKE_URL = f"{ISSUER}/v1/revoke"
SECRET = "cs-" + "s" * 30


def pem_of(key: Any, password: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    text: str = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()
    return text


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def ec_pem() -> str:
    return pem_of(ec.generate_private_key(ec.SECP256R1()))


def public_of(private_pem: str) -> Any:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key()


# -- which method, and what is refused ------------------------------------------------------


def test_the_default_is_what_the_middleware_always_did() -> None:
    assert make_settings().client_auth == "none"
    assert make_settings(client_secret=SECRET).client_auth == "client_secret_post"


def test_a_private_key_alone_means_private_key_jwt(rsa_pem: str) -> None:
    settings = make_settings(client_private_key=rsa_pem)
    assert settings.client_auth == "private_key_jwt"
    assert settings.client_credentials.signing_key is not None
    assert settings.client_credentials.signing_key.alg == "RS256"


def test_the_key_file_is_read_once_at_construction(tmp_path: Path, ec_pem: str) -> None:
    path = tmp_path / "okta-client.pem"
    path.write_text(ec_pem)
    settings = make_settings(client_auth="private_key_jwt", client_private_key_file=str(path))
    path.unlink()  # signing needs no file any more: the key was loaded
    signing = settings.client_credentials.signing_key
    assert signing is not None
    assert signing.alg == "ES256"
    form, _ = settings.client_credentials.apply({}, TOKEN_URL, 1_800_000_000)
    jwt.decode(
        form["client_assertion"],
        public_of(ec_pem),
        algorithms=["ES256"],
        audience=TOKEN_URL,
        options={"verify_exp": False, "verify_iat": False},
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client_auth": "client_secret_jwt"}, "client_auth must be one of"),
        ({"client_auth": "Basic"}, "client_auth must be one of"),
        ({"client_auth": "private_key_jwt"}, "needs the app's private key"),
        ({"client_auth": "client_secret_basic"}, "needs client_secret (OKTA_CLIENT_SECRET)"),
        ({"client_auth": "client_secret_post"}, "needs client_secret"),
        ({"client_auth": "none", "client_secret": SECRET}, "public app, which has no secret"),
        ({"client_secret": ""}, "client_secret must be a non-empty string"),
        ({"client_key_id": "kid-1"}, "used only with client_auth='private_key_jwt'"),
        (
            {"client_private_key_file": "/nonexistent/okta.pem"},
            "client_private_key_file '/nonexistent/okta.pem' cannot be read",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_settings(**overrides)
    assert message in str(caught.value)


def test_a_secret_with_private_key_jwt_is_refused(rsa_pem: str) -> None:
    with pytest.raises(ConfigurationError, match="remove client_secret"):
        make_settings(
            client_auth="private_key_jwt", client_private_key=rsa_pem, client_secret=SECRET
        )
    with pytest.raises(ConfigurationError, match="both set"):
        make_settings(client_private_key=rsa_pem, client_secret=SECRET)


def test_a_key_with_a_secret_method_is_refused(rsa_pem: str) -> None:
    with pytest.raises(ConfigurationError, match="only with client_auth='private_key_jwt'"):
        make_settings(
            client_auth="client_secret_basic", client_secret=SECRET, client_private_key=rsa_pem
        )


def test_the_key_is_given_once(tmp_path: Path, rsa_pem: str) -> None:
    path = tmp_path / "k.pem"
    path.write_text(rsa_pem)
    with pytest.raises(ConfigurationError, match="not both"):
        make_settings(client_private_key=rsa_pem, client_private_key_file=str(path))


@pytest.mark.parametrize("kid", ["", " padded ", "line\nbreak", "tab\t"])
def test_a_malformed_key_id_is_refused(rsa_pem: str, kid: str) -> None:
    with pytest.raises(ConfigurationError, match="client_key_id must be the KID"):
        make_settings(client_private_key=rsa_pem, client_key_id=kid)


def _bad_keys() -> list[Any]:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    p384 = ec.generate_private_key(ec.SECP384R1())
    edwards = ed25519.Ed25519PrivateKey.generate()
    dsa_key = dsa.generate_private_key(key_size=2048)
    encrypted = pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048), b"pw")
    public = (
        small.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return [
        pytest.param(pem_of(small), "1024-bit RSA key: Okta needs 2048", id="rsa-1024"),
        pytest.param(pem_of(p384), "EC key on secp384r1: use P-256", id="ec-p384"),
        pytest.param(pem_of(edwards), "must be an RSA", id="ed25519"),
        pytest.param(pem_of(dsa_key), "must be an RSA", id="dsa"),
        pytest.param(encrypted, "is encrypted", id="encrypted"),
        pytest.param(public, "public key or certificate", id="public-key"),
        pytest.param('{"kty": "RSA", "d": "..."}', "not a JWK", id="jwk"),
        pytest.param("not a key at all", "must be a PEM private key", id="garbage"),
        pytest.param(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "not a readable PEM private key",
            id="truncated",
        ),
    ]


@pytest.mark.parametrize(("key", "message"), _bad_keys())
def test_keys_okta_cannot_use_are_refused_with_the_reason(key: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_settings(client_private_key=key)
    assert message in str(caught.value)
    assert "client_private_key" in str(caught.value)
    # The message never quotes the key: it is a secret even when malformed.
    body = [line for line in key.splitlines() if line and not line.startswith("-----")]
    assert not any(line in str(caught.value) for line in body if len(line) > 8)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_either_load_or_raise_a_configuration_error(data: bytes) -> None:
    """The PEM parser is total: no exception other than ConfigurationError escapes."""
    try:
        load_private_key(data, "client_private_key")
    except ConfigurationError as exc:
        message = str(exc)
    else:  # pragma: no cover - random bytes are never a usable key
        pytest.fail("random bytes loaded as a key")
    assert message.startswith("client_private_key ")


def test_secrets_stay_out_of_repr(rsa_pem: str) -> None:
    settings = make_settings(client_private_key=rsa_pem, client_key_id="kid-1")
    text = repr(settings) + repr(settings.client_credentials)
    assert "PRIVATE KEY" not in text
    assert rsa_pem.splitlines()[1] not in text
    assert SECRET not in repr(make_settings(client_secret=SECRET).client_credentials)


# -- the environment -------------------------------------------------------------------------


def test_the_variables(tmp_path: Path, rsa_pem: str) -> None:
    path = tmp_path / "k.pem"
    path.write_text(rsa_pem)
    base = {
        "OKTA_ISSUER": ISSUER,
        "OKTA_CLIENT_ID": CLIENT_ID,
        "OKTA_REDIRECT_URI": REDIRECT_URI,
        "OKTA_MW_SECRET_KEYS": SECRET_NEW,
    }
    env = {
        **base,
        "OKTA_MW_CLIENT_AUTH": "private_key_jwt",
        "OKTA_MW_CLIENT_PRIVATE_KEY_FILE": str(path),
        "OKTA_MW_CLIENT_KEY_ID": "kid-9",
    }
    settings = Settings.from_env(env)
    assert settings.client_auth == "private_key_jwt"
    assert settings.client_credentials.signing_key is not None
    assert settings.client_credentials.signing_key.kid == "kid-9"
    # One line, as env files and container settings hold it.
    one_line = rsa_pem.strip().replace("\n", "\\n")
    settings = Settings.from_env({**base, "OKTA_MW_CLIENT_PRIVATE_KEY": one_line})
    assert settings.client_auth == "private_key_jwt"
    env = {**base, "OKTA_CLIENT_SECRET": SECRET, "OKTA_MW_CLIENT_AUTH": "client_secret_basic"}
    assert Settings.from_env(env).client_auth == "client_secret_basic"


@given(st.text(alphabet="ABCDEFGHIJ+/=-\\n\n ", max_size=200))
def test_pem_text_keeps_real_line_breaks_and_unescapes_only_one_liners(raw: str) -> None:
    value = pem("OKTA_MW_CLIENT_PRIVATE_KEY", raw)
    assert value.endswith("\n")
    if "\n" in raw.strip():
        assert value == raw.strip() + "\n"  # real line breaks: taken as they are
    else:
        assert "\\n" not in value


# -- what each method sends --------------------------------------------------------------------


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("plain", "plain"),
        ("with:colon", "with%3Acolon"),
        ("pl+us sp%ce", "pl%2Bus%20sp%25ce"),
    ],
)
def test_basic_form_urlencodes_both_halves(secret: str, expected: str) -> None:
    header = basic_authorization("0oa:id", secret)
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    assert decoded == f"0oa%3Aid:{expected}"
    user, _, password = decoded.partition(":")
    assert (unquote(user), unquote(password)) == ("0oa:id", secret)


def test_each_method_puts_the_credentials_in_one_place(rsa_pem: str) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "rt"}
    none = make_settings().client_credentials.apply(form, TOKEN_URL, NOW)
    assert none == ({"client_id": CLIENT_ID, **form}, {})
    post = make_settings(client_secret=SECRET).client_credentials.apply(form, TOKEN_URL, NOW)
    assert post == ({"client_id": CLIENT_ID, "client_secret": SECRET, **form}, {})
    basic = make_settings(client_secret=SECRET, client_auth="client_secret_basic")
    sent, headers = basic.client_credentials.apply(form, TOKEN_URL, NOW)
    assert sent == form  # no client_id next to the header: Okta counts it as a second one
    assert headers == {"Authorization": basic_authorization(CLIENT_ID, SECRET)}
    keyed = make_settings(client_private_key=rsa_pem).client_credentials
    sent, headers = keyed.apply(form, TOKEN_URL, NOW)
    assert headers == {}
    assert set(sent) == {*form, "client_assertion_type", "client_assertion"}
    assert sent["client_assertion_type"] == ASSERTION_TYPE
    assert "client_id" not in sent
    assert "client_secret" not in sent
    assert form == {"grant_type": "refresh_token", "refresh_token": "rt"}  # not mutated


def test_the_assertion_has_the_claims_okta_requires(rsa_pem: str) -> None:
    credentials = make_settings(client_private_key=rsa_pem, client_key_id="kid-7")
    assertion = credentials.client_credentials.assertion(TOKEN_URL, NOW + 0.9)
    header = jwt.get_unverified_header(assertion)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "kid-7"}
    claims = jwt.decode(
        assertion,
        public_of(rsa_pem),
        algorithms=["RS256"],
        audience=TOKEN_URL,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL  # the full URL of the endpoint called
    assert claims["iat"] == int(NOW)
    assert claims["exp"] == int(NOW) + ASSERTION_LIFETIME
    assert 0 < claims["exp"] - claims["iat"] <= 3600  # Okta: at most an hour ahead
    assert len(claims["jti"]) >= 32
    assert set(claims) == {"iss", "sub", "aud", "iat", "exp", "jti"}


def test_without_a_key_id_the_header_has_no_kid(ec_pem: str) -> None:
    credentials = make_settings(client_private_key=ec_pem).client_credentials
    header = jwt.get_unverified_header(credentials.assertion(TOKEN_URL, NOW))
    assert header == {"alg": "ES256", "typ": "JWT"}


@settings(max_examples=25, deadline=None)
@given(
    now=st.floats(min_value=1e9, max_value=4e9), endpoint=st.sampled_from([TOKEN_URL, REVOKE_URL])
)
def test_every_assertion_is_fresh_and_for_its_endpoint(
    now: float, endpoint: str, ec_key_credentials: Any
) -> None:
    first = jwt.decode(
        ec_key_credentials.assertion(endpoint, now), options={"verify_signature": False}
    )
    second = jwt.decode(
        ec_key_credentials.assertion(endpoint, now), options={"verify_signature": False}
    )
    assert first["jti"] != second["jti"]
    assert first["aud"] == second["aud"] == endpoint
    assert first["iat"] == int(now)
    assert first["exp"] == int(now) + ASSERTION_LIFETIME


@pytest.fixture(scope="module")
def ec_key_credentials(ec_pem: str) -> Any:
    return make_settings(client_private_key=ec_pem).client_credentials


# -- the conversation: each endpoint gets its own assertion ---------------------------------


def _drive(flow: Generator[httpx.Request, httpx.Response, Any], answers: list[Any]) -> Any:
    """Run ``flow``, answering each request with the next callable's response."""
    sent: list[httpx.Request] = []
    request = next(flow)
    try:
        while True:
            sent.append(request)
            request = flow.send(answers.pop(0)(request))
    except StopIteration as stop:
        return stop.value, sent


def _discovery(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "issuer": ISSUER,
            "token_endpoint": TOKEN_URL,
            "jwks_uri": JWKS_URL,
            "revocation_endpoint": REVOKE_URL,
        },
    )


def test_refresh_and_revoke_each_send_an_assertion_for_their_endpoint(
    clock: FakeClock, rsa_pem: str
) -> None:
    okta = OktaConversation(make_settings(client_private_key=rsa_pem), clock)
    refreshed = httpx.Response(200, json={"token_type": "Bearer", "access_token": "at2"})
    _, sent = _drive(okta.refresh("rt-1"), [_discovery, lambda r: refreshed])
    token_call = dict(parse_qsl(sent[-1].content.decode()))
    assert "authorization" not in sent[-1].headers
    assert token_call["grant_type"] == "refresh_token"
    ok, sent = _drive(okta.revoke("rt-1", "refresh_token"), [lambda r: httpx.Response(200)])
    assert ok is True
    revoke_call = dict(parse_qsl(sent[-1].content.decode()))
    assert set(revoke_call) == {
        "token",
        "token_type_hint",
        "client_assertion_type",
        "client_assertion",
    }
    audiences = [
        jwt.decode(c["client_assertion"], options={"verify_signature": False})["aud"]
        for c in (token_call, revoke_call)
    ]
    assert audiences == [TOKEN_URL, REVOKE_URL]


def test_the_token_call_with_basic_carries_no_client_id(clock: FakeClock) -> None:
    settings = make_settings(client_secret=SECRET, client_auth="client_secret_basic")
    okta = OktaConversation(settings, clock)
    txn = Transaction(state="s", nonce="n", code_verifier="v" * 43, return_to="/", created_at=0)
    flow = okta.redeem(txn, "ic-1")
    answers = [_discovery, lambda r: httpx.Response(400, json={"error": "invalid_grant"})]
    with pytest.raises(TokenExchangeError):
        _drive(flow, answers)
    assert not answers


@pytest.mark.parametrize(
    ("status", "body", "hint"),
    [
        (
            400,
            {
                "error": "invalid_dpop_proof",
                "error_description": "The DPoP proof JWT header is missing.",
            },
            "Require Demonstrating Proof of Possession (DPoP) header in token requests",
        ),
        (401, {"error": "invalid_client"}, "'Public key / Private key'"),
    ],
)
def test_configuration_errors_are_logged_with_where_to_fix_them(
    clock: FakeClock,
    rsa_pem: str,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: dict[str, str],
    hint: str,
) -> None:
    okta = OktaConversation(make_settings(client_private_key=rsa_pem), clock)
    with (
        caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"),
        pytest.raises(TokenExchangeError) as caught,
    ):
        _drive(okta.refresh("rt-1"), [_discovery, lambda r: httpx.Response(status, json=body)])
    assert caught.value.status == 502
    assert caught.value.code == body["error"]
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "refresh.failed"]
    assert hint in record.getMessage()
    assert hint in record.hint  # type: ignore[attr-defined]
    assert "header is missing" not in record.getMessage()  # Okta's own text is not logged
    assert DPOP_HINT.startswith("the Okta app requires DPoP")
