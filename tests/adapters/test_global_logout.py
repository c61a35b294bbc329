"""Okta Universal Logout and OIDC Back-Channel Logout through both adapters (issue 9).

Two middlewares sharing one in-process store are two instances of one app. Universal
Logout JWTs are signed with an "org authorization server" key served at
``https://org.example/oauth2/v1/keys`` (another set than the ID tokens'); logout tokens
with the ID-token key the fake Okta already serves. These endpoints are unauthenticated
and face the internet: most tests here are hostile requests that must change nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import secrets
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from okta_magiclink_mw import OktaMagicLink, OktaMagicLinkWSGI
from okta_magiclink_mw._global_logout import MAX_BODY_BYTES
from okta_magiclink_mw.stores import StoreUnavailable
from okta_magiclink_mw.stores.memory import MemoryRecordStore
from tests.conftest import (
    APP_ORIGIN,
    CLIENT_ID,
    ISSUER,
    NAV,
    Browser,
    FakeClock,
    FakeOkta,
    asgi_echo_app,
    callback_url,
    make_settings,
    public_jwk,
    start_login,
    wsgi_echo_app,
)

SESSION = "__Host-omw_session"
UL_PATH = "/.well-known/okta-universal-logout"
BCL_PATH = "/okta/backchannel-logout"
ORG = "https://org.example"
ORG_KEYS = f"{ORG}/oauth2/v1/keys"
AUDIENCE = f"{APP_ORIGIN}{UL_PATH}"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def org_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def store(clock: FakeClock) -> MemoryRecordStore:
    return MemoryRecordStore(clock=clock)


@pytest.fixture
def org_keys(okta: FakeOkta, org_key: rsa.RSAPrivateKey) -> Any:
    """The org authorization server's key set (respx route; call_count is read)."""
    return okta.router.get(ORG_KEYS).mock(
        return_value=httpx.Response(200, json={"keys": [public_jwk(org_key, "org1")]})
    )


@pytest.fixture
def two(make_client: Any, store: MemoryRecordStore, org_keys: Any) -> tuple[Browser, Browser]:
    """Instances A and B of one app with both endpoints on, each with its own browser."""
    s = make_settings(universal_logout_path=UL_PATH, backchannel_logout_path=BCL_PATH)
    return make_client(s, session_store=store), make_client(s, session_store=store)


def sign_in_on(client: Browser, okta: FakeOkta, **claims: Any) -> str:
    config = start_login(client, "/reports")
    r = client.get(callback_url(config, okta.issue_code(config, **claims)), headers=NAV)
    assert r.status_code == 302, r.text
    return next(c.value for c in client.cookies.jar if c.name == SESSION)


def seen_by(client: Browser, value: str) -> int:
    client.cookies.clear()
    return client.get("/reports", headers={**NAV, "cookie": f"{SESSION}={value}"}).status_code


def ul_token(
    key: Any, clock: FakeClock, *, header: dict[str, Any] | None = None, **claims: Any
) -> str:
    """A Universal Logout JWT as Okta signs it; ``claims`` override (None drops one)."""
    now = int(clock())
    body: dict[str, Any] = {
        "jti": secrets.token_urlsafe(12),
        "iss": ORG,
        "sub": CLIENT_ID,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now - 300,
        "exp": now + 300,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": "org1", "typ": "global-token-revocation+jwt", **(header or {})}
    headers = {k: v for k, v in headers.items() if v is not None}
    return jwt.encode(body, key, algorithm="RS256", headers=headers)


def logout_token(
    key: Any, clock: FakeClock, *, header: dict[str, Any] | None = None, **claims: Any
) -> str:
    """An OIDC Back-Channel Logout token from the default authorization server."""
    now = int(clock())
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(12),
        "sub": "00u-ada",
        "events": {EVENT: {}},
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": "k1", "typ": "logout+jwt", **(header or {})}
    return jwt.encode(body, key, algorithm="RS256", headers=headers)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    """A JWT built by hand, for what PyJWT refuses to make (HS256 keyed with a PEM)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def iss_sub(sub: str = "00u-ada", iss: str = ORG) -> bytes:
    return json.dumps({"sub_id": {"format": "iss_sub", "iss": iss, "sub": sub}}).encode()


def revoke(
    client: Browser,
    token: str | None,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> httpx.Response:
    sent = dict(JSON)
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    client.cookies.clear()
    return client.request(
        method, UL_PATH, headers=sent, content=iss_sub() if body is None else body
    )


def backchannel(client: Browser, token: str, **kwargs: Any) -> httpx.Response:
    client.cookies.clear()
    kwargs.setdefault("data", {"logout_token": token})
    return client.post(BCL_PATH, **kwargs)


# -- Universal Logout: the success path -------------------------------------------------------


def test_universal_logout_ends_the_persons_sessions_on_every_instance(
    two: tuple[Browser, Browser],
    okta: FakeOkta,
    org_key: Any,
    clock: FakeClock,
    org_keys: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = two
    first = sign_in_on(b, okta)
    second = sign_in_on(b.other_browser(), okta)
    someone_else = sign_in_on(b.other_browser(), okta, sub="00u-bob", email="bob@example.com")
    assert seen_by(b, first) == seen_by(b, second) == 200  # cached on B
    token = ul_token(org_key, clock)
    with caplog.at_level(logging.INFO, logger="okta_magiclink_mw"):
        r = revoke(a, token)  # sent to instance A
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers["cache-control"] == "no-store"
    assert seen_by(b, first) == seen_by(b, second) == 302  # gone on B too
    assert seen_by(a, first) == 302
    assert seen_by(b, someone_else) == 200  # only that person
    assert org_keys.call_count == 1
    assert okta.keys.call_count == 1  # the ID-token keys are another set, fetched once
    done = [r for r in caplog.records if getattr(r, "event", "") == "global_logout.done"]
    assert [d.count for d in done] == [2]  # type: ignore[attr-defined]
    assert token not in caplog.text
    assert "00u-ada" not in caplog.text


def test_a_replayed_jwt_has_no_second_effect(
    two: tuple[Browser, Browser], okta: FakeOkta, org_key: Any, clock: FakeClock
) -> None:
    a, b = two
    assert seen_by(b, sign_in_on(b, okta)) == 200
    token = ul_token(org_key, clock)
    assert revoke(a, token).status_code == 204
    later = sign_in_on(b, okta)  # the person signs in again after the logout
    clock.advance(30)
    for instance in (a, b):  # the same request again, on either instance
        r = revoke(instance, token)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert seen_by(b, later) == seen_by(a, later) == 200  # it survives the replays


def test_an_unknown_subject_is_204_and_ends_nothing(
    two: tuple[Browser, Browser], okta: FakeOkta, org_key: Any, clock: FakeClock
) -> None:
    """No session is "already signed out": 204, not 404, so no oracle of who signed in."""
    a, b = two
    value = sign_in_on(b, okta)
    r = revoke(a, ul_token(org_key, clock), iss_sub("00u-nobody"))
    assert r.status_code == 204
    assert seen_by(b, value) == 200


@pytest.mark.parametrize("iss", [ORG, f"{ORG}/", ISSUER])
def test_iss_sub_may_name_the_org_or_the_authorization_server(
    two: tuple[Browser, Browser], okta: FakeOkta, org_key: Any, clock: FakeClock, iss: str
) -> None:
    a, b = two
    value = sign_in_on(b, okta)
    assert revoke(a, ul_token(org_key, clock), iss_sub(iss=iss)).status_code == 204
    assert seen_by(b, value) == 302


def test_universal_logout_by_email_on_every_instance(
    two: tuple[Browser, Browser], okta: FakeOkta, org_key: Any, clock: FakeClock
) -> None:
    a, b = two
    first = sign_in_on(b, okta)
    second = sign_in_on(b.other_browser(), okta)
    bob = sign_in_on(b.other_browser(), okta, sub="00u-bob", email="bob@example.com")
    nobody = json.dumps({"sub_id": {"format": "email", "email": "eve@example.com"}}).encode()
    assert revoke(a, ul_token(org_key, clock), nobody).status_code == 204
    assert seen_by(b, first) == 200
    ada = json.dumps({"subject": {"format": "email", "email": "Ada@Example.COM"}}).encode()
    assert revoke(a, ul_token(org_key, clock), ada).status_code == 204  # any case
    assert seen_by(b, first) == seen_by(b, second) == 302
    assert seen_by(b, bob) == 200


def test_the_store_keeps_no_readable_email_or_okta_id_in_its_indexes(
    two: tuple[Browser, Browser], okta: FakeOkta, store: MemoryRecordStore
) -> None:
    a, _ = two
    sign_in_on(a, okta, sid="102okta-session")
    dump = repr(vars(store))
    assert "ada@example.com" not in dump
    assert "102okta-session" not in dump
    assert "00u-ada" not in dump


def test_a_custom_issuer_and_its_keys(
    make_client: Any, store: MemoryRecordStore, okta: FakeOkta, org_key: Any, clock: FakeClock
) -> None:
    custom = "https://login.example"
    keys = okta.router.get(f"{custom}/oauth2/v1/keys").mock(
        return_value=httpx.Response(200, json={"keys": [public_jwk(org_key, "org1")]})
    )
    s = make_settings(universal_logout_path=UL_PATH, universal_logout_issuer=custom)
    a = make_client(s, session_store=store)
    value = sign_in_on(a, okta)
    assert revoke(a, ul_token(org_key, clock)).status_code == 401  # iss: the org URL
    assert revoke(a, ul_token(org_key, clock, iss=custom), iss_sub(iss=custom)).status_code == 204
    assert seen_by(a, value) == 302
    assert keys.call_count == 1


# -- Universal Logout: hostile requests change nothing --------------------------------------


def _forged_signature(org_key: Any, other_rsa_key: Any, clock: FakeClock) -> str:
    return ul_token(other_rsa_key, clock)  # same kid, another key


def _unsigned(org_key: Any, other_rsa_key: Any, clock: FakeClock) -> str:
    now = int(clock())
    claims = {"jti": "j", "iss": ORG, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "org1"})


def _hs256_with_the_public_key(org_key: Any, other_rsa_key: Any, clock: FakeClock) -> str:
    pem = org_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(clock())
    claims = {"jti": "j", "iss": ORG, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    header = {"alg": "HS256", "kid": "org1", "typ": "JWT"}
    return hand_made(header, claims, lambda data: hmac.new(pem, data, hashlib.sha256).digest())


def _es256(org_key: Any, other_rsa_key: Any, clock: FakeClock) -> str:
    now = int(clock())
    claims = {"jti": "j", "iss": ORG, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "org1"})


def _claims(**claims: Any) -> Any:
    return lambda org_key, other_rsa_key, clock: ul_token(org_key, clock, **claims)


def _header(**header: Any) -> Any:
    return lambda org_key, other_rsa_key, clock: ul_token(org_key, clock, header=header)


def _relative(**offsets: int) -> Any:
    def make(org_key: Any, other_rsa_key: Any, clock: FakeClock) -> str:
        now = int(clock())
        return ul_token(org_key, clock, **{k: now + v for k, v in offsets.items()})

    return make


HOSTILE_TOKENS = {
    "forged signature": _forged_signature,
    "unsigned (alg none)": _unsigned,
    "HS256 keyed with the public key": _hs256_with_the_public_key,
    "ES256": _es256,
    "no kid": _header(kid=None),
    "a kid not in the keys": _header(kid="org-forged"),
    "an embedded jwk": _header(jwk={"kty": "RSA"}),
    "the typ of a logout token": _header(typ="logout+jwt"),
    "wrong iss": _claims(iss="https://evil.example"),
    "the authorization server as iss": _claims(iss=ISSUER),
    "wrong aud": _claims(aud=f"{APP_ORIGIN}/other"),
    "aud of another origin": _claims(aud=f"https://evil.example{UL_PATH}"),
    "the client id as aud (an ID token)": _claims(aud=CLIENT_ID),
    "another app as sub": _claims(sub="0oa-other-app"),
    "missing jti": _claims(jti=None),
    "empty jti": _claims(jti=""),
    "missing exp": _claims(exp=None),
    "missing iat": _claims(iat=None),
    "expired": _relative(iat=-400, nbf=-700, exp=-61),
    "iat in the future": _relative(iat=120, nbf=-300, exp=300),
    "not yet valid": _relative(nbf=120),
    "exp far in the future": _relative(exp=24 * 3600),
    "iat far in the past": _relative(iat=-3600, nbf=-3600, exp=300),
    "times as strings": _claims(iat="now"),
}


@pytest.mark.parametrize("make_token", HOSTILE_TOKENS.values(), ids=HOSTILE_TOKENS.keys())
def test_hostile_tokens_are_401_and_end_nothing(
    two: tuple[Browser, Browser],
    okta: FakeOkta,
    org_key: Any,
    other_rsa_key: Any,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    make_token: Any,
) -> None:
    a, b = two
    value = sign_in_on(b, okta)
    token = make_token(org_key, other_rsa_key, clock)
    with caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"):
        r = revoke(a, token)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert r.json() == {"error": "invalid_token"}
    assert seen_by(b, value) == 200
    refused = [r for r in caplog.records if getattr(r, "event", "") == "global_logout.refused"]
    assert len(refused) == 1
    assert refused[0].levelno == logging.WARNING
    assert token not in caplog.text


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer a b", "x.y.z"]
)
def test_missing_or_malformed_authorization_is_401(
    two: tuple[Browser, Browser], okta: FakeOkta, authorization: str | None, org_keys: Any
) -> None:
    a, b = two
    value = sign_in_on(b, okta)
    headers = {} if authorization is None else {"authorization": authorization}
    r = revoke(a, None, headers=headers)
    assert r.status_code == 401
    assert seen_by(b, value) == 200
    assert org_keys.call_count == 0  # nothing to look up


BAD_BODIES: dict[str, tuple[bytes, dict[str, str]]] = {
    "wrong content type": (iss_sub(), {"content-type": "text/plain"}),
    "form content type": (b"sub_id=00u-ada", {"content-type": "application/x-www-form-urlencoded"}),
    "malformed JSON": (b'{"sub_id": {"format": "iss_sub", ', {}),
    "not an object": (b'["00u-ada"]', {}),
    "empty": (b"", {}),
    "duplicate keys": (
        b'{"sub_id": {"format": "iss_sub", "iss": "https://org.example", '
        b'"sub": "00u-bob", "sub": "00u-ada"}}',
        {},
    ),
    "duplicate sub_id": (
        b'{"sub_id": {"format": "email", "email": "a@x"}, "sub_id": '
        + iss_sub()[len(b'{"sub_id": ') : -1]
        + b"}",
        {},
    ),
    "both sub_id and subject": (
        json.dumps(
            {
                "sub_id": {"format": "iss_sub", "iss": ORG, "sub": "00u-bob"},
                "subject": {"format": "iss_sub", "iss": ORG, "sub": "00u-ada"},
            }
        ).encode(),
        {},
    ),
    "unknown format": (json.dumps({"sub_id": {"format": "opaque", "id": "00u-ada"}}).encode(), {}),
    "phone number format": (
        json.dumps({"sub_id": {"format": "phone_number", "phone_number": "+1"}}).encode(),
        {},
    ),
    "another issuer": (iss_sub(iss="https://evil.example"), {}),
    "extra member": (
        json.dumps({"sub_id": {"format": "iss_sub", "iss": ORG, "sub": "0", "x": 1}}).encode(),
        {},
    ),
    "sub not a string": (
        json.dumps({"sub_id": {"format": "iss_sub", "iss": ORG, "sub": ["00u-ada"]}}).encode(),
        {},
    ),
    "email without @": (
        json.dumps({"sub_id": {"format": "email", "email": "ada"}}).encode(),
        {},
    ),
    "invalid UTF-8": (b'{"sub_id": "\xff"}', {}),
}


@pytest.mark.parametrize(("body", "headers"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_bodies_with_a_good_jwt_are_400_and_end_nothing(
    two: tuple[Browser, Browser],
    okta: FakeOkta,
    org_key: Any,
    clock: FakeClock,
    body: bytes,
    headers: dict[str, str],
) -> None:
    a, b = two
    value = sign_in_on(b, okta)
    r = revoke(a, ul_token(org_key, clock), body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "invalid_request"}
    assert seen_by(b, value) == 200


def test_a_bad_body_needs_a_good_jwt_first(
    two: tuple[Browser, Browser], org_key: Any, other_rsa_key: Any, clock: FakeClock
) -> None:
    """Okta's guide: authentication is checked first; a stranger learns nothing of bodies."""
    a, _ = two
    assert revoke(a, ul_token(other_rsa_key, clock), b"{not json").status_code == 401


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_other_methods_are_405(
    two: tuple[Browser, Browser], okta: FakeOkta, org_key: Any, clock: FakeClock, method: str
) -> None:
    a, b = two
    value = sign_in_on(b, okta)
    r = revoke(a, ul_token(org_key, clock), method=method)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert seen_by(b, value) == 200


def test_an_oversized_body_is_413(
    two: tuple[Browser, Browser], okta: FakeOkta, org_key: Any, clock: FakeClock
) -> None:
    a, b = two
    value = sign_in_on(b, okta)
    padded = json.dumps(
        {"sub_id": {"format": "iss_sub", "iss": ORG, "sub": "00u-ada"}, "pad": "x" * MAX_BODY_BYTES}
    ).encode()
    r = revoke(a, ul_token(org_key, clock), padded)
    assert r.status_code == 413
    assert seen_by(b, value) == 200
    exactly = iss_sub() + b" " * (MAX_BODY_BYTES - len(iss_sub()))  # at the cap: read
    assert revoke(a, ul_token(org_key, clock), exactly).status_code == 204


def test_store_down_is_422_and_keys_down_is_503(
    two: tuple[Browser, Browser],
    okta: FakeOkta,
    org_key: Any,
    clock: FakeClock,
    store: MemoryRecordStore,
    org_keys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, _ = two

    def down(*args: Any) -> Any:
        raise StoreUnavailable()

    async def adown(*args: Any) -> Any:
        raise StoreUnavailable()

    with monkeypatch.context() as patch:
        patch.setattr(store, "spend", down)
        patch.setattr(store, "aspend", adown)
        assert revoke(a, ul_token(org_key, clock)).status_code == 422
    with monkeypatch.context() as patch:
        patch.setattr(store, "delete_subject", down)
        patch.setattr(store, "adelete_subject", adown)
        assert revoke(a, ul_token(org_key, clock)).status_code == 422
    clock.advance(3601)  # the keys are stale; Okta's key endpoint is down
    org_keys.mock(return_value=httpx.Response(503, text="down"))
    assert revoke(a, ul_token(org_key, clock)).status_code == 204  # the known key still works
    r = revoke(a, ul_token(org_key, clock, header={"kid": "org2"}))
    assert r.status_code == 503  # a key that cannot be checked: no verdict
    assert r.json() == {"error": "temporarily_unavailable"}


def test_a_flood_of_unknown_kids_costs_okta_little(
    two: tuple[Browser, Browser], org_key: Any, clock: FakeClock, org_keys: Any
) -> None:
    a, _ = two
    statuses = [
        revoke(a, ul_token(org_key, clock, header={"kid": f"forged-{i}"})).status_code
        for i in range(10)
    ]
    assert statuses == [401] * 3 + [503] * 7  # the burst looks, then lookups are paced
    assert org_keys.call_count == 3


# -- the body is read bounded, by each adapter -----------------------------------------------


class CountingInput(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked = 0

    def read(self, size: int | None = -1) -> bytes:
        self.asked += size if size is not None and size >= 0 else 10**9
        return super().read(size)


def _wsgi(store: MemoryRecordStore, clock: FakeClock) -> OktaMagicLinkWSGI:
    s = make_settings(universal_logout_path=UL_PATH)
    return OktaMagicLinkWSGI(wsgi_echo_app, s, session_store=store, clock=clock)


def _environ(stream: CountingInput, **extra: Any) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": UL_PATH,
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": stream,
        **extra,
    }


def test_wsgi_refuses_a_large_content_length_without_reading(
    store: MemoryRecordStore, clock: FakeClock
) -> None:
    mw = _wsgi(store, clock)
    stream = CountingInput(b"x" * 10**6)
    statuses: list[str] = []
    mw(_environ(stream, CONTENT_LENGTH=str(10**6)), lambda s, h: statuses.append(s))
    assert statuses == ["413 Content Too Large"]
    assert stream.asked == 0
    for bad in ("-1", "1e3", "0x10"):
        statuses.clear()
        mw(_environ(CountingInput(b""), CONTENT_LENGTH=bad), lambda s, h: statuses.append(s))
        assert statuses == ["413 Content Too Large"]


def test_wsgi_reads_an_unsized_body_only_to_the_cap(
    store: MemoryRecordStore, clock: FakeClock
) -> None:
    mw = _wsgi(store, clock)
    stream = CountingInput(b"x" * 10**6)
    statuses: list[str] = []
    mw(_environ(stream, **{"wsgi.input_terminated": True}), lambda s, h: statuses.append(s))
    assert statuses == ["413 Content Too Large"]
    assert stream.asked == MAX_BODY_BYTES + 1
    # Without CONTENT_LENGTH and without a terminated stream, PEP 3333 says: read nothing.
    stream = CountingInput(b"x" * 10**6)
    statuses.clear()
    mw(_environ(stream), lambda s, h: statuses.append(s))
    assert statuses == ["401 Unauthorized"]  # an empty body; no bearer token either
    assert stream.asked == 0


def test_wsgi_reads_a_body_sent_in_pieces(store: MemoryRecordStore, clock: FakeClock) -> None:
    class Trickle(CountingInput):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(min(size or 1, 3))

    mw = _wsgi(store, clock)
    seen: list[Any] = []
    original = mw.core.decide_rest
    mw.core.decide_rest = lambda facts: seen.append(facts.body) or original(facts)  # type: ignore[method-assign]
    body = iss_sub()
    mw(_environ(Trickle(body), CONTENT_LENGTH=str(len(body))), lambda s, h: None)
    short = Trickle(body[:10])  # the client stopped early
    mw(_environ(short, CONTENT_LENGTH=str(len(body))), lambda s, h: None)
    assert seen == [body, body[:10]]


def _asgi_call(
    mw: OktaMagicLink, portal: Any, messages: list[dict[str, Any]], headers: list[Any]
) -> tuple[list[dict[str, Any]], int]:
    received = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return messages[received - 1]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": UL_PATH,
        "raw_path": UL_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers],
    }
    portal.call(mw, scope, receive, send)
    return sent, received


def test_asgi_refuses_a_large_content_length_without_reading(
    store: MemoryRecordStore, clock: FakeClock, portal: Any
) -> None:
    s = make_settings(universal_logout_path=UL_PATH)
    mw = OktaMagicLink(asgi_echo_app(), s, session_store=store, clock=clock)
    chunk = {"type": "http.request", "body": b"x" * 4096, "more_body": True}
    sent, received = _asgi_call(mw, portal, [chunk] * 300, [(b"content-length", b"1228800")])
    assert sent[0]["status"] == 413
    assert received == 0
    # Unsized (chunked): reading stops at the first chunk past the cap.
    sent, received = _asgi_call(mw, portal, [chunk] * 300, [])
    assert sent[0]["status"] == 413
    assert received == MAX_BODY_BYTES // 4096 + 1
    # A client that goes away mid-body: an empty body, refused (no token), nothing else.
    gone = [chunk, {"type": "http.disconnect"}]
    sent, received = _asgi_call(mw, portal, gone, [])
    assert sent[0]["status"] == 401
    assert received == 2
    portal.call(mw.aclose)


# -- Back-Channel Logout ------------------------------------------------------------------


def test_backchannel_logout_ends_the_persons_sessions_on_every_instance(
    two: tuple[Browser, Browser], okta: FakeOkta, rsa_key: Any, clock: FakeClock
) -> None:
    a, b = two
    value = sign_in_on(b, okta)
    bob = sign_in_on(b.other_browser(), okta, sub="00u-bob")
    assert seen_by(b, value) == 200
    r = backchannel(a, logout_token(rsa_key, clock))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert seen_by(b, value) == 302
    assert seen_by(b, bob) == 200


def test_backchannel_replay_has_no_second_effect(
    two: tuple[Browser, Browser], okta: FakeOkta, rsa_key: Any, clock: FakeClock
) -> None:
    a, b = two
    token = logout_token(rsa_key, clock)
    assert backchannel(a, token).status_code == 200
    later = sign_in_on(b, okta)
    r = backchannel(b, token)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_token"}
    assert seen_by(b, later) == 200


def test_backchannel_sid_ends_that_okta_sessions_sessions_only(
    two: tuple[Browser, Browser], okta: FakeOkta, rsa_key: Any, clock: FakeClock
) -> None:
    a, b = two
    laptop = sign_in_on(b, okta, sid="okta-s1")
    phone = sign_in_on(b.other_browser(), okta, sid="okta-s2")
    assert backchannel(a, logout_token(rsa_key, clock, sid="okta-s1")).status_code == 200
    assert seen_by(b, laptop) == 302
    assert seen_by(b, phone) == 200  # another Okta session of the same person
    r = backchannel(a, logout_token(rsa_key, clock, sub=None, sid="okta-s2"))
    assert r.status_code == 200
    assert seen_by(b, phone) == 302


def test_backchannel_with_an_unknown_sid(
    two: tuple[Browser, Browser], okta: FakeOkta, rsa_key: Any, clock: FakeClock
) -> None:
    """No session under that sid: with a sub, all the person's end (none left running)."""
    a, b = two
    value = sign_in_on(b, okta)  # an ID token without sid
    assert backchannel(a, logout_token(rsa_key, clock, sub=None, sid="x")).status_code == 200
    assert seen_by(b, value) == 200  # a sid alone names nobody here
    assert backchannel(a, logout_token(rsa_key, clock, sid="x")).status_code == 200
    assert seen_by(b, value) == 302


HOSTILE_LOGOUT_TOKENS: dict[str, Any] = {
    "forged signature": lambda k, o, c: logout_token(o, c),
    "unsigned": lambda k, o, c: jwt.encode(
        {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "iat": int(c()),
            "exp": int(c()) + 60,
            "jti": "j",
            "sub": "00u-ada",
            "events": {EVENT: {}},
        },
        None,
        algorithm="none",
        headers={"kid": "k1"},
    ),
    "a nonce (an ID token)": lambda k, o, c: logout_token(k, c, nonce="n"),
    "no events": lambda k, o, c: logout_token(k, c, events=None),
    "another event": lambda k, o, c: logout_token(k, c, events={"urn:other": {}}),
    "event value not an object": lambda k, o, c: logout_token(k, c, events={EVENT: "yes"}),
    "neither sub nor sid": lambda k, o, c: logout_token(k, c, sub=None),
    "sub not a string": lambda k, o, c: logout_token(k, c, sub=7),
    "sid not a string": lambda k, o, c: logout_token(k, c, sid=["s1"]),
    "sid with a newline": lambda k, o, c: logout_token(k, c, sid="s1\nforged"),
    "wrong aud": lambda k, o, c: logout_token(k, c, aud="0oa-other"),
    "wrong iss": lambda k, o, c: logout_token(k, c, iss=ORG),
    "expired": lambda k, o, c: logout_token(k, c, iat=int(c()) - 300, exp=int(c()) - 100),
    "no exp": lambda k, o, c: logout_token(k, c, exp=None),
    "no jti": lambda k, o, c: logout_token(k, c, jti=None),
    "the typ of a Universal Logout": lambda k, o, c: logout_token(
        k, c, header={"typ": "global-token-revocation+jwt"}
    ),
}


@pytest.mark.parametrize(
    "make_token", HOSTILE_LOGOUT_TOKENS.values(), ids=HOSTILE_LOGOUT_TOKENS.keys()
)
def test_hostile_logout_tokens_are_400_and_end_nothing(
    two: tuple[Browser, Browser],
    okta: FakeOkta,
    rsa_key: Any,
    other_rsa_key: Any,
    clock: FakeClock,
    make_token: Any,
) -> None:
    a, b = two
    value = sign_in_on(b, okta)
    r = backchannel(a, make_token(rsa_key, other_rsa_key, clock))
    assert r.status_code == 400, r.text
    assert r.headers["cache-control"] == "no-store"
    assert set(r.json()) == {"error"}
    assert seen_by(b, value) == 200


def test_cross_jwt_confusion_is_refused_both_ways(
    two: tuple[Browser, Browser], okta: FakeOkta, rsa_key: Any, org_key: Any, clock: FakeClock
) -> None:
    a, b = two
    value = sign_in_on(b, okta)
    assert backchannel(a, ul_token(org_key, clock)).status_code == 400
    assert revoke(a, logout_token(rsa_key, clock)).status_code == 401
    assert revoke(a, okta.id_tokens[0]).status_code == 401  # an ID token as the bearer
    assert backchannel(a, okta.id_tokens[0]).status_code == 400
    assert seen_by(b, value) == 200


BAD_FORMS: dict[str, dict[str, Any]] = {
    "JSON instead of a form": {"json": {"logout_token": "x"}},
    "no logout_token": {"data": {"token": "x"}},
    "two logout_tokens": {
        "content": b"logout_token=a.b.c&logout_token=a.b.c",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    },
    "not ASCII": {
        "content": "logout_token=\u00e9".encode(),
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    },
    "too many fields": {
        "content": b"&".join(b"f%d=1" % i for i in range(40)),
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    },
}


@pytest.mark.parametrize("kwargs", BAD_FORMS.values(), ids=BAD_FORMS.keys())
def test_bad_backchannel_forms_are_400(
    two: tuple[Browser, Browser], kwargs: dict[str, Any]
) -> None:
    a, _ = two
    a.cookies.clear()
    r = a.post(BCL_PATH, **kwargs)
    assert r.status_code == 400
    assert r.headers["cache-control"] == "no-store"


def test_backchannel_other_methods_are_405_and_other_form_fields_are_ignored(
    two: tuple[Browser, Browser], okta: FakeOkta, rsa_key: Any, clock: FakeClock
) -> None:
    a, b = two
    assert a.get(BCL_PATH).status_code == 405
    value = sign_in_on(b, okta)
    token = logout_token(rsa_key, clock)
    assert backchannel(a, token, data={"logout_token": token, "extra": "1"}).status_code == 200
    assert seen_by(b, value) == 302


def test_backchannel_when_okta_or_the_store_is_down(
    two: tuple[Browser, Browser],
    okta: FakeOkta,
    rsa_key: Any,
    clock: FakeClock,
    store: MemoryRecordStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, _ = two
    okta.discovery.mock(side_effect=None, return_value=httpx.Response(500, text="down"))
    assert backchannel(a, logout_token(rsa_key, clock)).status_code == 400  # §2.8: failed

    def down(*args: Any) -> Any:
        raise StoreUnavailable()

    async def adown(*args: Any) -> Any:
        raise StoreUnavailable()

    okta.discovery.mock(side_effect=lambda request: httpx.Response(200, json=okta.discovery_doc))
    monkeypatch.setattr(store, "delete_subject", down)
    monkeypatch.setattr(store, "adelete_subject", adown)
    r = backchannel(a, logout_token(rsa_key, clock))
    assert r.status_code == 400
    assert r.json() == {"error": "server_error"}


def test_the_endpoints_are_own_paths_not_the_apps(
    two: tuple[Browser, Browser], okta: FakeOkta
) -> None:
    """A signed-in browser's request to them never reaches the app, nor is a return target."""
    a, _ = two
    sign_in_on(a, okta)
    r = a.get(UL_PATH)
    assert r.status_code == 405  # answered by the middleware, with the session cookie sent
    assert "authenticated" not in r.text


# -- Universal Logout revokes the person's refresh tokens at Okta too --------------------------


@pytest.mark.parametrize("by", ["iss_sub", "email"])
def test_universal_logout_revokes_the_persons_refresh_tokens_at_okta(
    make_client: Any,
    store: MemoryRecordStore,
    org_keys: Any,
    okta: FakeOkta,
    org_key: Any,
    clock: FakeClock,
    by: str,
) -> None:
    s = make_settings(
        universal_logout_path=UL_PATH,
        scopes=("openid", "profile", "email", "offline_access"),
        session_store=store,
    )
    a, b = make_client(s), make_client(s)
    sign_in_on(b, okta)
    sign_in_on(b.other_browser(), okta)
    sign_in_on(b.other_browser(), okta, sub="00u-bob", email="bob@example.com")
    all_tokens = set(okta.live_refresh)
    assert len(all_tokens) == 3
    assert not any(t in str(store.__dict__) for t in all_tokens)  # sealed in the index
    body = (
        iss_sub()
        if by == "iss_sub"
        else json.dumps({"sub_id": {"format": "email", "email": "ada@example.com"}}).encode()
    )
    assert revoke(a, ul_token(org_key, clock), body).status_code == 204
    revoked = {f["token"] for f in okta.revoked if f["token_type_hint"] == "refresh_token"}
    assert len(revoked) == 2  # Ada's two, not Bob's
    assert revoked < all_tokens
    assert len(okta.live_refresh) == 1  # Bob's is still good


def test_refresh_tokens_are_indexed_only_when_universal_logout_is_on(
    make_client: Any, store: MemoryRecordStore, okta: FakeOkta
) -> None:
    s = make_settings(scopes=("openid", "offline_access"), session_store=store)
    client = make_client(s)
    sign_in_on(client, okta)
    with pytest.raises(StopIteration) as done:
        client.core.sessions.refresh_tokens_of(sub="00u-ada").send(None)  # type: ignore[union-attr]
    assert done.value.value == []
