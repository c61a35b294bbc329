"""Refresh tokens, revocation, deactivation, ``sid``, org keys, Universal/Back-Channel Logout."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from okta_magiclink_mw.testing import FakeOkta, FakeUser, s256

from ._servers import bind_free_port, serve
from .conftest import BASE, CALLBACK, CLIENT_ID, SECRET, SECRET_CLIENT_ID, Flow, Org

ISSUER = f"{BASE}/oauth2/default"
TOKEN = "/oauth2/default/v1/token"
USERINFO = "/oauth2/default/v1/userinfo"
REVOKE = "/oauth2/default/v1/revoke"
OFFLINE = ("openid", "profile", "email", "offline_access")
INVALID_REFRESH = {
    "error": "invalid_grant",
    "error_description": "The refresh token is invalid or expired.",
}
ENDPOINT = "http://app.test/.well-known/okta-universal-logout"
BACKCHANNEL = "http://app.test/backchannel-logout"


# -- helpers ---------------------------------------------------------------------------------


def sign_in(
    org: Org,
    client_id: str = CLIENT_ID,
    scopes: tuple[str, ...] = OFFLINE,
    user: FakeUser | None = None,
    **auth: str,
) -> Any:
    """Tokens for a fresh sign-in (of Ada by default): interaction code + /v1/token."""
    verifier = secrets.token_hex(32)
    code = org.fake.issue_interaction_code(
        client_id, user or org.user, s256(verifier), nonce="n-1", scopes=scopes
    )
    r = Flow(org, verifier=verifier, client_id=client_id).token(code, **auth)
    assert r.status_code == 200, r.text
    return r.json()


def refresh(org: Org, token: str, client_id: str = CLIENT_ID, **extra: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    data.update(extra)
    return org.http.post(TOKEN, data=data)


def userinfo(org: Org, access_token: str) -> httpx.Response:
    return org.http.get(USERINFO, headers={"Authorization": f"Bearer {access_token}"})


def revoke(org: Org, token: str, client_id: str = CLIENT_ID, **extra: str) -> httpx.Response:
    return org.http.post(REVOKE, data={"token": token, "client_id": client_id, **extra})


def verify(org: Org, token: str, jwks_path: str, **options: Any) -> dict[str, Any]:
    """Verify ``token`` against the JWKS the fake serves at ``jwks_path``."""
    jwks = jwt.PyJWKSet.from_dict(org.http.get(jwks_path).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, **options},
        audience=options.pop("audience", None),
    )
    return claims


def id_claims(org: Org, id_token: str) -> dict[str, Any]:
    return verify(org, id_token, "/oauth2/default/v1/keys", audience=CLIENT_ID)


@pytest.fixture
def rotating(org: Org) -> str:
    """A client with refresh token rotation (grace 30 s)."""
    client = org.fake.add_web_app(
        CALLBACK, client_id="0oaRotatingClient001", refresh_token_rotation=True
    )
    return client.client_id


# -- refresh tokens --------------------------------------------------------------------------


def test_offline_access_through_the_widget_flow_gives_a_refresh_token(flow: Flow, org: Org) -> None:
    r = org.http.post(
        "/oauth2/default/v1/interact",
        data={
            "client_id": CLIENT_ID,
            "scope": "openid email offline_access",
            "redirect_uri": CALLBACK,
            "code_challenge": s256(flow.verifier),
            "code_challenge_method": "S256",
            "state": flow.state,
        },
    )
    flow.handle = r.json()["interaction_handle"]
    assert flow.introspect().status_code == 200
    assert flow.identify().status_code == 200
    assert flow.challenge().status_code == 200
    answer = flow.answer(org.fake.outbox[-1].otp)
    fields = {
        f["name"]: f.get("value") for f in answer.json()["successWithInteractionCode"]["value"]
    }
    body = flow.token(str(fields["interaction_code"])).json()
    assert body["scope"] == "openid email offline_access"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["refresh_token"])


def test_no_refresh_token_without_offline_access(org: Org) -> None:
    body = sign_in(org, scopes=("openid", "email"))
    assert "refresh_token" not in body
    assert org.fake.refresh_tokens == {}


def test_refresh_mints_new_access_and_id_tokens(org: Org) -> None:
    first = sign_in(org)
    org.clock.advance(600)
    r = refresh(org, first["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-cache, no-store"
    body = r.json()
    assert set(body) == {
        "token_type",
        "expires_in",
        "access_token",
        "scope",
        "refresh_token",
        "id_token",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "openid profile email offline_access"
    assert body["refresh_token"] == first["refresh_token"]  # persistent by default
    assert body["access_token"] != first["access_token"]
    old, new = id_claims(org, first["id_token"]), id_claims(org, body["id_token"])
    assert new["sub"] == org.user.id
    assert new["iat"] == old["iat"] + 600
    assert new["auth_time"] == old["auth_time"]  # no new authentication happened
    assert new["sid"] == old["sid"]
    assert "nonce" not in new  # the nonce belonged to the sign-in request
    digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert new["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert userinfo(org, body["access_token"]).json()["email"] == "ada@example.com"


def test_refresh_may_narrow_the_scope(org: Org) -> None:
    token = sign_in(org)["refresh_token"]
    body = refresh(org, token, scope="openid").json()
    assert body["scope"] == "openid"
    assert "refresh_token" not in body  # no offline_access asked: no refresh token back (Okta)
    assert "email" not in userinfo(org, body["access_token"]).json()
    body = refresh(org, token, scope="email offline_access").json()
    assert "id_token" not in body  # no openid: no ID token
    assert body["refresh_token"] == token
    assert refresh(org, token).json()["scope"] == "openid profile email offline_access"


@pytest.mark.parametrize("scope", ["openid phone offline_access", "", "admin"])
def test_refresh_cannot_widen_the_scope(org: Org, scope: str) -> None:
    token = sign_in(org, scopes=("openid", "email", "offline_access"))["refresh_token"]
    r = refresh(org, token, scope=scope)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_scope"
    assert refresh(org, token).status_code == 200  # the refused call changed nothing


def test_refresh_token_missing_or_unknown(org: Org) -> None:
    r = org.http.post(TOKEN, data={"grant_type": "refresh_token", "client_id": CLIENT_ID})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    r = refresh(org, "not-a-refresh-token")
    assert r.status_code == 400
    assert r.json() == INVALID_REFRESH
    assert r.headers["cache-control"] == "no-cache, no-store"


def test_a_client_cannot_refresh_another_clients_token(org: Org) -> None:
    token = sign_in(org)["refresh_token"]
    r = refresh(org, token, client_id=SECRET_CLIENT_ID, client_secret=SECRET)
    assert r.status_code == 400
    assert r.json() == INVALID_REFRESH
    assert refresh(org, token).status_code == 200


def test_refresh_needs_client_authentication(org: Org) -> None:
    token = sign_in(org, SECRET_CLIENT_ID, client_secret=SECRET)["refresh_token"]
    r = refresh(org, token, client_id=SECRET_CLIENT_ID, client_secret="wrong")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    basic = base64.b64encode(f"{SECRET_CLIENT_ID}:{SECRET}".encode()).decode()
    r = org.http.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200


def test_access_token_expires_on_the_org_clock_then_refresh_recovers(org: Org) -> None:
    body = sign_in(org)
    org.clock.advance(3599)
    assert userinfo(org, body["access_token"]).status_code == 200
    org.clock.advance(1)
    r = userinfo(org, body["access_token"])
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    fresh = refresh(org, body["refresh_token"]).json()
    assert userinfo(org, fresh["access_token"]).status_code == 200


def test_access_token_lifetime_is_per_client(org: Org) -> None:
    org.fake.add_web_app(CALLBACK, client_id="0oaShortLived0000001", access_token_lifetime=300)
    body = sign_in(org, "0oaShortLived0000001")
    assert body["expires_in"] == 300
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 300
    org.clock.advance(299)
    assert userinfo(org, body["access_token"]).status_code == 200
    org.clock.advance(1)
    assert userinfo(org, body["access_token"]).status_code == 401
    assert (
        refresh(org, body["refresh_token"], client_id="0oaShortLived0000001").json()["expires_in"]
        == 300
    )


@pytest.mark.parametrize(
    "settings",
    [{"access_token_lifetime": 0}, {"rotation_grace": -1}, {"rotation_grace": 61}],
)
def test_client_token_settings_are_checked(org: Org, settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"access_token_lifetime|rotation_grace"):
        org.fake.add_client(client_id="0oaBadSettings000001", **settings)
    assert "0oaBadSettings000001" not in org.fake.clients


def test_rotation_and_grace_period(org: Org, rotating: str) -> None:
    first = sign_in(org, rotating)["refresh_token"]
    second = refresh(org, first, client_id=rotating).json()["refresh_token"]
    assert second != first
    org.clock.advance(29)  # the response with `second` got lost: `first` still works
    retry = refresh(org, first, client_id=rotating)
    assert retry.status_code == 200
    third = retry.json()["refresh_token"]
    assert third not in (first, second)
    org.clock.advance(1)  # 30 s after `first` was rotated out
    assert refresh(org, third, client_id=rotating).status_code == 200


def test_reuse_after_the_grace_period_revokes_the_whole_family(org: Org, rotating: str) -> None:
    signed_in = sign_in(org, rotating)
    second = refresh(org, signed_in["refresh_token"], client_id=rotating).json()
    org.clock.advance(30)
    r = refresh(org, signed_in["refresh_token"], client_id=rotating)
    assert r.status_code == 400
    assert r.json() == INVALID_REFRESH
    # Okta's reuse detection: the newest refresh token and the access tokens die too.
    assert refresh(org, second["refresh_token"], client_id=rotating).json() == INVALID_REFRESH
    assert userinfo(org, second["access_token"]).status_code == 401
    assert userinfo(org, signed_in["access_token"]).status_code == 401


def test_grace_counts_from_the_first_rotation(org: Org, rotating: str) -> None:
    first = sign_in(org, rotating)["refresh_token"]
    refresh(org, first, client_id=rotating)
    org.clock.advance(20)
    assert refresh(org, first, client_id=rotating).status_code == 200  # rotates again...
    org.clock.advance(10)
    assert refresh(org, first, client_id=rotating).status_code == 400  # ...but no longer grace


def test_zero_grace_refuses_a_rotated_token_at_once(org: Org) -> None:
    org.fake.add_web_app(
        CALLBACK, client_id="0oaNoGrace0000000001", refresh_token_rotation=True, rotation_grace=0
    )
    first = sign_in(org, "0oaNoGrace0000000001")["refresh_token"]
    assert refresh(org, first, client_id="0oaNoGrace0000000001").status_code == 200
    assert refresh(org, first, client_id="0oaNoGrace0000000001").status_code == 400


def test_narrowed_refresh_without_offline_access_does_not_rotate(org: Org, rotating: str) -> None:
    token = sign_in(org, rotating)["refresh_token"]
    org.clock.advance(60)
    assert "refresh_token" not in refresh(org, token, client_id=rotating, scope="openid").json()
    assert refresh(org, token, client_id=rotating).status_code == 200


def test_refresh_token_expires_after_seven_idle_days(org: Org) -> None:
    token = sign_in(org)["refresh_token"]
    week = 7 * 24 * 3600
    org.clock.advance(week - 1)
    assert refresh(org, token).status_code == 200  # use slides the idle window
    org.clock.advance(week - 1)
    assert refresh(org, token).status_code == 200
    org.clock.advance(week)
    assert refresh(org, token).json() == INVALID_REFRESH


def test_other_grants_stay_unsupported(flow: Flow) -> None:
    r = flow.token(flow.code(), grant_type="authorization_code")
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


# -- revocation ------------------------------------------------------------------------------


@pytest.mark.parametrize("hint", ["refresh_token", "access_token", "device_secret", None])
def test_revoking_a_refresh_token_revokes_its_access_tokens(org: Org, hint: str | None) -> None:
    signed_in = sign_in(org)
    refreshed = refresh(org, signed_in["refresh_token"]).json()
    extra = {"token_type_hint": hint} if hint else {}
    r = revoke(org, signed_in["refresh_token"], **extra)
    assert r.status_code == 200
    assert r.content == b""
    assert refresh(org, signed_in["refresh_token"]).json() == INVALID_REFRESH
    # Okta: "revoking a refresh token does revoke the associated access token".
    assert userinfo(org, signed_in["access_token"]).status_code == 401
    assert userinfo(org, refreshed["access_token"]).status_code == 401


def test_revoking_a_rotated_out_token_ends_the_chain(org: Org, rotating: str) -> None:
    first = sign_in(org, rotating)["refresh_token"]
    second = refresh(org, first, client_id=rotating).json()["refresh_token"]
    assert revoke(org, first, client_id=rotating).status_code == 200
    assert refresh(org, second, client_id=rotating).json() == INVALID_REFRESH


@pytest.mark.parametrize("hint", ["access_token", "refresh_token"])
def test_revoking_an_access_token_leaves_the_refresh_token(org: Org, hint: str) -> None:
    signed_in = sign_in(org)
    assert revoke(org, signed_in["access_token"], token_type_hint=hint).status_code == 200
    assert userinfo(org, signed_in["access_token"]).status_code == 401
    fresh = refresh(org, signed_in["refresh_token"]).json()
    assert userinfo(org, fresh["access_token"]).status_code == 200


def test_revoking_another_clients_tokens_is_ignored(org: Org) -> None:
    signed_in = sign_in(org)
    for token in (signed_in["refresh_token"], signed_in["access_token"]):
        r = revoke(org, token, client_id=SECRET_CLIENT_ID, client_secret=SECRET)
        assert r.status_code == 200
    assert userinfo(org, signed_in["access_token"]).status_code == 200
    assert refresh(org, signed_in["refresh_token"]).status_code == 200


def test_revoke_answers_200_for_unknown_and_expired_tokens(org: Org) -> None:
    signed_in = sign_in(org)
    assert revoke(org, "no-such-token").status_code == 200
    org.clock.advance(3600)
    assert revoke(org, signed_in["access_token"]).status_code == 200
    assert refresh(org, signed_in["refresh_token"]).status_code == 200


def test_revoke_needs_an_authenticated_client_and_a_token(org: Org) -> None:
    token = sign_in(org)["refresh_token"]
    r = org.http.post(REVOKE, data={"token": token})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    r = org.http.post(REVOKE, data={"client_id": CLIENT_ID})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert refresh(org, token).status_code == 200


# -- deactivation ----------------------------------------------------------------------------


def test_deactivate_user_ends_tokens(org: Org) -> None:
    signed_in = sign_in(org)
    bob = sign_in(org, user=org.fake.add_user("bob@example.com"))
    assert userinfo(org, signed_in["access_token"]).status_code == 200
    user = org.fake.deactivate_user("ADA@example.com")
    assert user is org.user
    assert user.status == "DEPROVISIONED"
    assert not user.active
    assert refresh(org, signed_in["refresh_token"]).json() == INVALID_REFRESH
    r = userinfo(org, signed_in["access_token"])
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert userinfo(org, bob["access_token"]).status_code == 200  # only Ada is affected
    assert refresh(org, bob["refresh_token"]).status_code == 200


def test_deactivated_user_cannot_sign_in_and_looks_unknown(flow: Flow, org: Org) -> None:
    assert flow.interact().status_code == 200
    assert flow.introspect().status_code == 200
    unknown = flow.identify("nobody@example.com")
    assert unknown.status_code == 400
    org.fake.deactivate_user("ada@example.com")
    r = flow.identify("ada@example.com")
    assert r.status_code == 400
    assert r.json()["messages"] == unknown.json()["messages"]
    assert r.json()["remediation"]["value"][0]["name"] == "identify"
    assert org.fake.outbox == []


def test_deactivation_voids_an_unredeemed_interaction_code(org: Org) -> None:
    verifier = "v" * 50
    code = org.fake.issue_interaction_code(CLIENT_ID, org.user, s256(verifier))
    org.fake.deactivate_user("ada@example.com")
    r = Flow(org, verifier=verifier).token(code)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_deactivate_unknown_user(org: Org) -> None:
    with pytest.raises(LookupError):
        org.fake.deactivate_user("nobody@example.com")
    assert org.user.active


# -- sid -------------------------------------------------------------------------------------


def test_id_token_carries_an_okta_session_id(org: Org) -> None:
    one = id_claims(org, sign_in(org)["id_token"])["sid"]
    two = id_claims(org, sign_in(org)["id_token"])["sid"]
    assert re.fullmatch(r"idx[A-Za-z0-9_-]{22}", one)
    assert one != two  # one Okta session per sign-in


# -- org authorization server keys -----------------------------------------------------------


def test_org_keys_are_a_separate_key_set(org: Org) -> None:
    r = org.http.get("/oauth2/v1/keys")
    assert r.status_code == 200
    assert "max-age" in r.headers["cache-control"]
    [org_key] = r.json()["keys"]
    [default_key] = org.http.get("/oauth2/default/v1/keys").json()["keys"]
    assert set(org_key) == {"kty", "alg", "kid", "use", "e", "n"}
    assert org_key["kid"] != default_key["kid"]
    assert org_key["n"] != default_key["n"]
    assert org.fake.org_jwks_uri == f"{BASE}/oauth2/v1/keys"


def test_org_keys_fault(org: Org) -> None:
    org.fake.faults.status_5xx["org_keys"] = 503
    assert org.http.get("/oauth2/v1/keys").status_code == 503
    assert org.http.get("/oauth2/default/v1/keys").status_code == 200


def test_sign_org_jwt_and_rotation(org: Org) -> None:
    old = org.fake.org_keys.active.kid
    token = org.fake.sign_org_jwt({"iss": BASE, "x": 1}, headers={"typ": "custom"})
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": old, "typ": "custom"}
    assert verify(org, token, "/oauth2/v1/keys") == {"iss": BASE, "x": 1}
    new = org.fake.rotate_org_keys()
    kids = [k["kid"] for k in org.http.get("/oauth2/v1/keys").json()["keys"]]
    assert kids == [new, old]
    assert jwt.get_unverified_header(org.fake.sign_org_jwt({}))["kid"] == new
    assert org.fake.rotate_org_keys(drop_old=True) not in (new, old)
    assert len(org.http.get("/oauth2/v1/keys").json()["keys"]) == 1


# -- Universal Logout ------------------------------------------------------------------------


class Recorder:
    """An app endpoint (as an httpx mock transport) that records what it receives."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def bearer(request: httpx.Request) -> str:
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def test_universal_logout_by_email(org: Org) -> None:
    app = Recorder()
    with app.client() as client:
        r = org.fake.universal_logout(
            ENDPOINT + "?tenant=1#x", email="ada@example.com", client=client
        )
    assert r.status_code == 204
    [sent] = app.requests
    assert sent.method == "POST"
    assert str(sent.url) == ENDPOINT + "?tenant=1"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {"sub_id": {"format": "email", "email": "ada@example.com"}}
    token = bearer(sent)
    assert jwt.get_unverified_header(token) == {
        "alg": "RS256",
        "kid": org.fake.org_keys.active.kid,
        "typ": "global-token-revocation+jwt",
    }
    claims = verify(org, token, "/oauth2/v1/keys", audience=ENDPOINT)  # aud: no query, fragment
    now = int(org.clock())
    assert claims == {
        "jti": claims["jti"],
        "iss": BASE,
        "sub": CLIENT_ID,
        "aud": ENDPOINT,
        "iat": now,
        "exp": now + 300,
        "nbf": now - 300,
    }
    assert len(claims["jti"]) >= 16


def test_universal_logout_is_not_signed_by_the_default_server(org: Org) -> None:
    app = Recorder()
    with app.client() as client:
        org.fake.universal_logout(ENDPOINT, email="ada@example.com", client=client)
    token = bearer(app.requests[0])
    kids = {k["kid"] for k in org.http.get("/oauth2/default/v1/keys").json()["keys"]}
    assert jwt.get_unverified_header(token)["kid"] not in kids
    default_key = org.fake.keys.active.private_key.public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, default_key, algorithms=["RS256"], options={"verify_aud": False})


def test_universal_logout_by_user_id_and_chosen_client(org: Org) -> None:
    app = Recorder()
    with app.client() as client:
        org.fake.universal_logout(
            ENDPOINT,
            user_id=org.user.id,
            client=client,
            client_id=SECRET_CLIENT_ID,
            subject_member="subject",
        )
    [sent] = app.requests
    assert json.loads(sent.content) == {
        "subject": {"format": "iss_sub", "iss": ISSUER, "sub": org.user.id}
    }
    assert (
        verify(org, bearer(sent), "/oauth2/v1/keys", audience=ENDPOINT)["sub"] == SECRET_CLIENT_ID
    )


def test_universal_logout_jwts_are_unique_and_dated_by_the_org_clock(org: Org) -> None:
    app = Recorder()
    with app.client() as client:
        org.fake.universal_logout(ENDPOINT, email="ada@example.com", client=client)
        org.clock.advance(1000)
        org.fake.universal_logout(ENDPOINT, email="ada@example.com", client=client)
    one, two = (verify(org, bearer(r), "/oauth2/v1/keys", audience=ENDPOINT) for r in app.requests)
    assert one["jti"] != two["jti"]
    assert two["iat"] - one["iat"] == 1000


@pytest.mark.parametrize("who", [{}, {"email": "ada@example.com", "user_id": "00u1"}])
def test_universal_logout_needs_exactly_one_subject(org: Org, who: dict[str, str]) -> None:
    app = Recorder()
    with app.client() as client, pytest.raises(ValueError, match="exactly one"):
        org.fake.universal_logout(ENDPOINT, client=client, **who)
    assert app.requests == []


def test_universal_logout_needs_a_client_id(clock: Any) -> None:
    fake = FakeOkta(base_url=BASE, clock=clock)
    with pytest.raises(LookupError):
        fake.universal_logout(ENDPOINT, email="ada@example.com")


def test_universal_logout_claims_helper_for_forgeries(org: Org) -> None:
    claims = org.fake.universal_logout_claims(ENDPOINT, client_id="0oaOther")
    assert claims["sub"] == "0oaOther"
    assert claims["aud"] == ENDPOINT
    claims["aud"] = "http://evil.test/"
    forged = org.fake.sign_org_jwt(claims, headers={"typ": "global-token-revocation+jwt"})
    assert verify(org, forged, "/oauth2/v1/keys", audience="http://evil.test/")["sub"] == "0oaOther"


def test_auniversal_logout(org: Org) -> None:
    app = Recorder(status=404)

    async def go() -> httpx.Response:
        async with app.async_client() as client:
            return await org.fake.auniversal_logout(ENDPOINT, email="x@example.com", client=client)

    assert asyncio.run(go()).status_code == 404
    [sent] = app.requests
    assert json.loads(sent.content)["sub_id"]["email"] == "x@example.com"
    assert verify(org, bearer(sent), "/oauth2/v1/keys", audience=ENDPOINT)["iss"] == BASE


# -- Back-Channel Logout ---------------------------------------------------------------------


def logout_token(request: httpx.Request) -> str:
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.content.decode())
    assert list(form) == ["logout_token"]
    return form["logout_token"][0]


def test_backchannel_logout(org: Org) -> None:
    sid = id_claims(org, sign_in(org)["id_token"])["sid"]
    app = Recorder(status=200)
    with app.client() as client:
        r = org.fake.backchannel_logout(
            BACKCHANNEL, email="ada@example.com", sid=sid, client=client
        )
    assert r.status_code == 200
    [sent] = app.requests
    assert sent.method == "POST"
    assert str(sent.url) == BACKCHANNEL
    token = logout_token(sent)
    assert jwt.get_unverified_header(token) == {
        "alg": "RS256",
        "kid": org.fake.current_kid,
        "typ": "logout+jwt",
    }
    claims = verify(org, token, "/oauth2/default/v1/keys", audience=CLIENT_ID)
    now = int(org.clock())
    assert claims == {
        "iss": ISSUER,
        "sub": org.user.id,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": claims["jti"],
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        "sid": sid,
    }
    assert "nonce" not in claims


def test_backchannel_logout_without_sid_and_async(org: Org) -> None:
    app = Recorder(status=200)

    async def go() -> None:
        async with app.async_client() as client:
            await org.fake.abackchannel_logout(
                BACKCHANNEL, email="ada@example.com", client=client, client_id=SECRET_CLIENT_ID
            )

    asyncio.run(go())
    claims = verify(
        org, logout_token(app.requests[0]), "/oauth2/default/v1/keys", audience=SECRET_CLIENT_ID
    )
    assert "sid" not in claims
    assert claims["sub"] == org.user.id


def test_backchannel_logout_unknown_user(org: Org) -> None:
    with pytest.raises(LookupError):
        org.fake.backchannel_logout(BACKCHANNEL, email="nobody@example.com")


# -- over a real socket, with the fake's own httpx client -----------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real app endpoint on a loopback socket; yields its URL and what it received."""
    received: list[dict[str, Any]] = []

    async def endpoint(request: Request) -> Response:
        received.append({"headers": dict(request.headers), "body": await request.body()})
        return Response(status_code=204)

    app = Starlette(routes=[Route("/logout", endpoint, methods=["POST"])])
    with serve(app, bind_free_port()) as base:
        yield f"{base}/logout", received


def test_logout_requests_without_a_client(
    org: Org, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    assert org.fake.universal_logout(url, email="ada@example.com").status_code == 204

    async def go() -> list[int]:
        return [
            (await org.fake.auniversal_logout(url, user_id=org.user.id)).status_code,
            (await org.fake.abackchannel_logout(url, email="ada@example.com")).status_code,
        ]

    assert asyncio.run(go()) == [204, 204]
    assert org.fake.backchannel_logout(url, email="ada@example.com").status_code == 204
    assert [json.loads(r["body"])["sub_id"]["format"] for r in received[:2]] == ["email", "iss_sub"]
    assert all(r["body"].startswith(b"logout_token=") for r in received[2:])
    assert len(received) == 4
