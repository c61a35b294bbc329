"""The sans-IO parts of the global logout endpoints: settings, the body parser, the JWT
header and claim checks, and the key lookup, without an adapter (issue 9)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from okta_magiclink_mw import ConfigurationError, Settings
from okta_magiclink_mw._flow import MagicLinkCore
from okta_magiclink_mw._global_logout import (
    MAX_LIFETIME,
    LogoutRefused,
    Subject,
    parse_revocation_body,
    read_bearer,
    read_header,
    signing_key,
    verify_claims,
)
from okta_magiclink_mw._tokens import JWKSCache
from okta_magiclink_mw.stores.memory import MemoryRecordStore
from tests.conftest import make_settings, public_jwk

ORG = "https://org.example"
ISSUERS = frozenset({ORG, "https://org.example/oauth2/default"})
AUD = "https://app.example/.well-known/okta-universal-logout"
TYPES = frozenset({"global-token-revocation+jwt", "jwt"})
NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _outcome(function: Any, *args: Any) -> Any:
    """The function's value, or the LogoutRefused it raised (anything else propagates)."""
    try:
        return function(*args)
    except LogoutRefused as refused:
        return refused


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- settings ---------------------------------------------------------------------------


def test_the_endpoints_are_off_by_default_and_read_from_the_environment() -> None:
    s = make_settings()
    assert s.universal_logout_path is None
    assert s.backchannel_logout_path is None
    assert s.universal_logout_issuer is None
    env = {
        "OKTA_ISSUER": "https://org.example/oauth2/default",
        "OKTA_CLIENT_ID": "cid",
        "OKTA_REDIRECT_URI": "https://app.example/login/callback",
        "OKTA_MW_SECRET_KEYS": "a" * 32,
        "OKTA_MW_UNIVERSAL_LOGOUT_PATH": "/.well-known/okta-universal-logout",
        "OKTA_MW_UNIVERSAL_LOGOUT_ISSUER": "https://login.example",
        "OKTA_MW_BACKCHANNEL_LOGOUT_PATH": "/okta/backchannel",
    }
    s = Settings.from_env(env)
    assert s.universal_logout_path == "/.well-known/okta-universal-logout"
    assert s.universal_logout_issuer == "https://login.example"
    assert s.backchannel_logout_path == "/okta/backchannel"


@pytest.mark.parametrize(
    "path",
    [
        "relative",
        "/",
        "/a?b",
        "/a#b",
        "/a%2Fb",
        "/a\\b",
        "/a//b",
        "/./a",
        "/a/../b",
        "/a/..",
        "/a/.",
        "/a b",
        "/a\x00",
        "/\u00e9",
        "/login",
        "/logout",
        "/login/callback",
        5,
    ],
)
@pytest.mark.parametrize("name", ["universal_logout_path", "backchannel_logout_path"])
def test_endpoint_paths_must_be_clean_and_not_ours(name: str, path: Any) -> None:
    with pytest.raises(ConfigurationError, match=name):
        make_settings(**{name: path})


@pytest.mark.parametrize("path", ["/.well-known/okta-universal-logout", "/a/b/", "/a.b/c-d_e"])
def test_clean_endpoint_paths_are_accepted(path: str) -> None:
    assert make_settings(universal_logout_path=path).universal_logout_path == path


def test_the_two_endpoints_must_differ() -> None:
    with pytest.raises(ConfigurationError, match="must differ"):
        make_settings(universal_logout_path="/x", backchannel_logout_path="/x")


@pytest.mark.parametrize(
    "issuer",
    [
        "org.example",
        "http://org.example",
        "https://org.example/oauth2/default",
        "https://user@org.example",
        "https://org.example?x=1",
        "https://org.example#f",
        "https://org.example:bad",
        "ftp://org.example",
        "https://",
        "https://\u00e9.example",
        5,
    ],
)
def test_the_universal_logout_issuer_must_be_an_origin(issuer: Any) -> None:
    with pytest.raises(ConfigurationError, match="universal_logout_issuer"):
        make_settings(universal_logout_issuer=issuer)


@pytest.mark.parametrize(
    "issuer", ["https://org.example", "https://org.example/", "http://localhost:8080"]
)
def test_good_universal_logout_issuers(issuer: str) -> None:
    assert make_settings(universal_logout_issuer=issuer).universal_logout_issuer == issuer


@pytest.mark.parametrize("name", ["universal_logout_path", "backchannel_logout_path"])
def test_the_endpoints_need_a_session_store(name: str) -> None:
    s = make_settings(**{name: "/okta/logout-hook"})
    with pytest.raises(ConfigurationError, match="need a session_store"):
        MagicLinkCore(s)
    core = MagicLinkCore(s, session_store=MemoryRecordStore())
    assert core.body_paths == {"/okta/logout-hook"}
    assert "/okta/logout-hook" in core._own_paths  # never the app's, never a return target
    assert MagicLinkCore(make_settings()).body_paths == frozenset()


# -- the body parser ----------------------------------------------------------------------


def body(sub_id: Any, name: str = "sub_id", **more: Any) -> bytes:
    return json.dumps({name: sub_id, **more}).encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            body({"format": "email", "email": "ada@example.com"}),
            Subject("email", "ada@example.com"),
        ),
        (body({"format": "iss_sub", "iss": ORG, "sub": "00u1"}), Subject("iss_sub", "00u1")),
        (body({"format": "iss_sub", "iss": f"{ORG}/", "sub": "00u1"}), Subject("iss_sub", "00u1")),
        (
            body({"format": "email", "email": "a@b"}, "subject"),  # Okta's guide: the old name
            Subject("email", "a@b"),
        ),
        (
            body({"format": "email", "email": "a@b"}, future="ignored"),  # top level: tolerant
            Subject("email", "a@b"),
        ),
    ],
)
def test_understood_bodies(raw: bytes, expected: Subject) -> None:
    assert parse_revocation_body("application/json; charset=utf-8", raw, ISSUERS) == expected


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/json", body({"format": "email", "email": "a@b"})),
        ("", body({"format": "email", "email": "a@b"})),
        ("application/json", b"null"),
        ("application/json", b'{"sub_id": {"format": "email", "email": "a@b"}} trailing'),
        ("application/json", body("a@b")),
        ("application/json", body({"format": "email", "email": ""})),
        ("application/json", body({"format": "email", "email": "a@b\n"})),
        ("application/json", body({"format": "email", "email": "a@" + "b" * 320})),
        ("application/json", body({"format": "email"})),
        ("application/json", body({"format": "iss_sub", "iss": ORG})),
        ("application/json", body({"format": "iss_sub", "iss": 1, "sub": "00u1"})),
        ("application/json", body({"format": "iss_sub", "iss": ORG, "sub": "x" * 256})),
        (
            "application/json",
            body({"format": "iss_sub", "iss": "https://evil.example", "sub": "1"}),
        ),
        ("application/json", body({"format": "ISS_SUB", "iss": ORG, "sub": "1"})),
        ("application/json", body({"format": "account", "uri": "acct:a@b"})),
        ("application/json", body({"email": "a@b"})),
        ("application/json", json.dumps({"sub_id": 1, "subject": 2}).encode()),
        ("application/json", b'{"sub_id": {"format": "email", "email": NaN}}'),
    ],
)
def test_bodies_refused_with_400(content_type: str, raw: bytes) -> None:
    with pytest.raises(LogoutRefused) as refused:
        parse_revocation_body(content_type, raw, ISSUERS)
    assert refused.value.status == 400
    assert refused.value.error == "invalid_request"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
sub_ids = st.fixed_dictionaries(
    {"format": st.sampled_from(["email", "iss_sub", "opaque", ""]) | st.text(max_size=8)},
    optional={
        "email": st.text(max_size=30) | json_values,
        "iss": st.sampled_from([ORG, f"{ORG}/", "x"]) | json_values,
        "sub": st.text(max_size=30) | json_values,
        "id": json_values,
    },
)


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    content_type=st.sampled_from(["application/json", "Application/JSON; x=1", "text/plain", ""]),
    raw=st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(st.sampled_from(["sub_id", "subject", "x"]), sub_ids | json_values).map(
        lambda d: json.dumps(d).encode()
    ),
)
@example(
    content_type="application/json", raw=b'{"sub_id": {"format": "email", "email": "\\ud800@x"}}'
)
@example(content_type="application/json", raw=b"[" * 5000 + b"]" * 5000)
@example(content_type="application/json", raw=b'{"sub_id": 1e999999}')
@example(content_type="application/json", raw=b'{"a": ' + b"9" * 5000 + b"}")
def test_the_body_parser_returns_a_subject_or_refuses_with_400(
    content_type: str, raw: bytes
) -> None:
    outcome = _outcome(parse_revocation_body, content_type, raw, ISSUERS)
    if isinstance(outcome, LogoutRefused):
        assert outcome.status == 400
        return
    subject = outcome
    assert subject.format in ("email", "iss_sub")
    assert subject.value
    assert subject.value.isprintable()
    assert subject.value in raw.decode("utf-8")  # exactly what was sent, nothing made up


# -- the bearer token and the JOSE header ----------------------------------------------------


def test_read_bearer() -> None:
    assert read_bearer("Bearer a.b.c") == "a.b.c"
    assert read_bearer("bearer a.b.c") == "a.b.c"  # the scheme is case-insensitive
    for bad in ("", "Bearer", "Bearer ", "Token a.b.c", "Bearer a b", "Bearera.b.c"):
        with pytest.raises(LogoutRefused) as refused:
            read_bearer(bad)
        assert refused.value.status == 401


def segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


@pytest.mark.parametrize(
    "token",
    [
        "x" * 20_000,
        "\u00e9.a.b",
        "a.b",
        "a.b.c.d",
        "a.b.",  # empty signature
        "a!.b.c",
        f"{b64(b'[1]')}.e30.c2ln",
        f"{b64(b'not json')}.e30.c2ln",
        f"{segment({'alg': 'RS256', 'kid': 'k', 'typ': 5})}.e30.c2ln",
        f"{segment({'alg': 'RS256', 'kid': 'k', 'typ': 'at+jwt'})}.e30.c2ln",
        f"{segment({'alg': 'RS256', 'kid': 'k', 'crit': ['exp']})}.e30.c2ln",
        f"{segment({'alg': 'RS256', 'kid': 'k', 'x5u': 'https://evil'})}.e30.c2ln",
        f"{segment({'alg': 'RS256', 'kid': ''})}.e30.c2ln",
        f"{segment({'alg': 'RS256', 'kid': 'k' * 300})}.e30.c2ln",
        f"{segment({'alg': 'RS256', 'kid': 7})}.e30.c2ln",
        f"{segment({'alg': 'PS256', 'kid': 'k'})}.e30.c2ln",
        f"{segment({'alg': 'rs256', 'kid': 'k'})}.e30.c2ln",
    ],
)
def test_bad_headers_are_401(token: str) -> None:
    with pytest.raises(LogoutRefused) as refused:
        read_header(token, TYPES)
    assert refused.value.status == 401


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "application/global-token-revocation+jwt"])
def test_good_headers(typ: str | None) -> None:
    header: dict[str, Any] = {"alg": "RS256", "kid": "org1"}
    if typ is not None:
        header["typ"] = typ
    assert read_header(f"{segment(header)}.e30.c2ln", TYPES) == "org1"


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=300)
    | st.lists(st.binary(max_size=60), min_size=3, max_size=3).map(
        lambda parts: ".".join(b64(p) for p in parts)
    )
)
def test_read_header_refuses_with_401_only(token: str) -> None:
    outcome = _outcome(read_header, token, TYPES)
    assert isinstance(outcome, str) or outcome.status == 401


# -- the claims ---------------------------------------------------------------------------------


def signed(key: Any, **claims: Any) -> str:
    base: dict[str, Any] = {"iss": ORG, "aud": AUD, "iat": NOW, "exp": NOW + 300, "jti": "j1"}
    base.update(claims)
    payload = json.dumps({k: v for k, v in base.items() if v is not None}).encode()
    return jwt.PyJWS().encode(payload, key, algorithm="RS256")  # no claim checks: any shape


def check(key: Any, token: str) -> dict[str, Any]:
    return verify_claims(token, key.public_key(), issuer=ORG, audience=AUD, now=NOW, leeway=60)


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"aud": [AUD, "https://other.example"]},
        {"nbf": NOW - 300},
        {"iat": NOW + 60, "exp": NOW + 120},  # skew within leeway
        {"iat": NOW - 100, "exp": NOW - 59},
        {"iat": NOW - MAX_LIFETIME - 60, "exp": NOW + 10},
        {"exp": NOW + MAX_LIFETIME + 60},
    ],
)
def test_good_claims(key: Any, claims: dict[str, Any]) -> None:
    assert check(key, signed(key, **claims))["jti"] == "j1"


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": f"{ORG}/"},
        {"iss": [ORG]},
        {"aud": [f"{AUD}/"]},
        {"aud": f"{AUD}?x"},
        {"jti": 5},
        {"jti": "j" * 257},
        {"jti": "a\nb"},
        {"exp": NOW - 60},
        {"iat": NOW + 61},
        {"nbf": NOW + 61},
        {"nbf": "soon"},
        {"exp": True},
        {"iat": NOW - MAX_LIFETIME - 61},
        {"exp": NOW + MAX_LIFETIME + 61},
        {"iat": NOW + 50, "exp": NOW + 40},
        {"aud": None},
        {"iss": None},
    ],
)
def test_bad_claims_are_401(key: Any, claims: dict[str, Any]) -> None:
    with pytest.raises(LogoutRefused) as refused:
        check(key, signed(key, **claims))
    assert refused.value.status == 401


def test_a_wrong_key_is_401(key: Any) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(LogoutRefused, match="signature"):
        check(other, signed(key))


# -- the key lookup ---------------------------------------------------------------------------


def drive(flow: Any, answer: Any) -> Any:
    """Run a flow whose effects are JWKS GETs, answering each with ``answer(request)``."""
    try:
        request = next(flow)
        while True:
            try:
                response = answer(request)
            except httpx.HTTPError as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as done:
        return done.value


def test_signing_key_fetches_once_then_paces_unknown_kids(key: Any) -> None:
    cache = JWKSCache(burst=1, refill=5.0)
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json={"keys": [public_jwk(key, "org1")]})

    url = "https://org.example/oauth2/v1/keys"
    found = drive(signing_key(cache, url, "org1", lambda: NOW), answer)
    assert found.public_numbers() == key.public_key().public_numbers()
    assert drive(signing_key(cache, url, "org1", lambda: NOW), answer) is found  # cached
    assert calls == [url]
    with pytest.raises(LogoutRefused) as paced:
        drive(signing_key(cache, url, "forged", lambda: NOW), answer)
    assert paced.value.status == 503  # no token left to look: no verdict
    assert calls == [url]


def test_signing_key_keeps_known_keys_when_the_fetch_fails(key: Any) -> None:
    cache = JWKSCache(burst=3, refill=5.0)
    url = "https://org.example/oauth2/v1/keys"
    good = httpx.Response(200, json={"keys": [public_jwk(key, "org1")]})
    drive(signing_key(cache, url, "org1", lambda: NOW), lambda r: good)
    later = NOW + 7200  # stale: a refetch is due

    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    assert drive(signing_key(cache, url, "org1", lambda: later), fail) is not None
    with pytest.raises(LogoutRefused) as unknown:
        drive(signing_key(cache, url, "org2", lambda: later + 10), fail)
    assert unknown.value.status == 503
    garbage = httpx.Response(200, text="<html>")
    with pytest.raises(LogoutRefused) as still:
        drive(signing_key(cache, url, "org3", lambda: later + 20), lambda r: garbage)
    assert still.value.status == 503


# -- the indexes a sign-in keeps -----------------------------------------------------------------


def mint_effects(core: MagicLinkCore, claims: dict[str, Any]) -> list[str]:
    """The store operations one sign-in makes."""
    store = core.record_store
    flow = core.sessions.mint_flow(claims, None, NOW)
    operations: list[str] = []
    try:
        effect = next(flow)
        while True:
            operations.append(effect.operation)
            effect = flow.send(getattr(store, effect.operation)(*effect.args))
    except StopIteration:
        return operations


def test_a_sign_in_keeps_the_indexes_only_when_global_logout_is_on() -> None:
    claims = {"sub": "00u1", "email": "a@b", "sid": "okta-s1"}
    plain = MagicLinkCore(make_settings(), session_store=MemoryRecordStore())
    assert mint_effects(plain, claims) == ["create"]  # no extra round trip by default
    on = MagicLinkCore(
        make_settings(backchannel_logout_path="/bcl"), session_store=MemoryRecordStore()
    )
    assert mint_effects(on, claims) == ["create", "link", "link"]
    assert mint_effects(on, {"sub": "00u1", "email": ""}) == ["create"]
