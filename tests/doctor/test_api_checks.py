"""Checks 6, 8 and 9 on management API answers built by hand (Okta's documented shapes)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from okta_magiclink_mw import AccessRule
from okta_magiclink_mw._doctor import _api as api
from okta_magiclink_mw._doctor import _checks as checks
from okta_magiclink_mw._doctor._report import Report, Status
from tests.conftest import APP_ORIGIN, CLIENT_ID, REDIRECT_URI, make_settings

SECRET = "app-client-secret-Zq8-in-the-app-object"
SETTINGS = make_settings(post_logout_redirect_uri=f"{APP_ORIGIN}/")


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )


def app_doc(**oauth: Any) -> dict[str, Any]:
    """An OIDC app as ``GET /api/v1/apps/{id}`` returns it (OpenidConnectResponseEx)."""
    client = {
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [f"{APP_ORIGIN}/"],
        "response_types": ["code"],
        "grant_types": ["authorization_code", "interaction_code", "refresh_token"],
        "application_type": "web",
    }
    client.update(oauth)
    return {
        "id": CLIENT_ID,
        "name": "oidc_client",
        "label": "My app",
        "status": "ACTIVE",
        "signOnMode": "OPENID_CONNECT",
        "credentials": {
            "oauthClient": {
                "autoKeyRotation": True,
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "token_endpoint_auth_method": "none",
                "pkce_required": True,
            }
        },
        "settings": {"app": {}, "oauthClient": client},
    }


def origin_doc(origin: str = APP_ORIGIN, *scopes: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "id": "tos1",
        "name": origin,
        "origin": origin,
        "status": status,
        "scopes": [{"type": s} for s in (scopes or ("CORS",))],
    }


def read_app(doc: dict[str, Any], status: int = 200) -> api.App | api.ApiFailure:
    return api.read_app(answer(status, doc), CLIENT_ID)


def origins(*docs: dict[str, Any]) -> list[api.TrustedOrigin] | api.ApiFailure:
    return api.read_origins([answer(200, list(docs))])


# -- 6. the app ----------------------------------------------------------------------------


def test_app_ok_notes_the_email_verify_callback_it_cannot_read() -> None:
    finding = api.app_settings(SETTINGS, read_app(app_doc()), origins(origin_doc()))
    assert finding.status is Status.OK, finding
    assert "EMAIL VERIFICATION EXPERIENCE > Callback URI" in finding.notes[0]
    assert "not in Okta's API" in finding.notes[0]


@pytest.mark.parametrize(
    ("doc", "problem", "fix"),
    [
        (
            app_doc(grant_types=["authorization_code", "refresh_token"]),
            "lack interaction_code",
            "tick Interaction Code",
        ),
        (
            app_doc(redirect_uris=["https://app.example/other"]),
            f"{REDIRECT_URI} is not one of its sign-in redirect URIs (https://app.example/other)",
            f"Sign-in redirect URIs: add exactly {REDIRECT_URI}",
        ),
        (
            {**app_doc(), "status": "INACTIVE"},
            "the app is INACTIVE",
            "Activate",
        ),
    ],
)
def test_app_problems(doc: dict[str, Any], problem: str, fix: str) -> None:
    finding = api.app_settings(SETTINGS, read_app(doc), origins(origin_doc()))
    assert finding.status is Status.FAIL
    assert problem in finding.message
    assert any(fix in f for f in finding.fixes)


def test_app_of_another_client_id() -> None:
    doc = app_doc()
    doc["credentials"]["oauthClient"]["client_id"] = "0oaSomeoneElse"
    finding = api.app_settings(SETTINGS, read_app(doc), origins(origin_doc()))
    assert finding.status is Status.FAIL
    assert "has client id 0oaSomeoneElse, not OKTA_CLIENT_ID" in finding.message


def test_offline_access_needs_the_refresh_token_grant() -> None:
    settings = make_settings(scopes=("openid", "offline_access"), session_store="redis://r")
    doc = app_doc(grant_types=["interaction_code"])
    finding = api.app_settings(settings, read_app(doc), origins(origin_doc()))
    assert finding.status is Status.FAIL
    assert "lack refresh_token" in finding.message


def test_a_confidential_app_needs_its_secret() -> None:
    doc = app_doc()
    doc["credentials"]["oauthClient"]["token_endpoint_auth_method"] = "client_secret_basic"
    finding = api.app_settings(SETTINGS, read_app(doc), origins(origin_doc()))
    assert finding.status is Status.FAIL
    assert "no client credentials" in finding.message
    assert "OKTA_CLIENT_SECRET" in finding.fixes[0]


def test_a_public_app_given_a_secret_warns() -> None:
    settings = make_settings(client_secret="s" * 40)
    finding = api.app_settings(settings, read_app(app_doc()), origins(origin_doc()))
    assert finding.status is Status.WARN
    assert "the app is public" in finding.message


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ((), f"{APP_ORIGIN} is not a trusted origin"),
        ((origin_doc("https://other.example"),), "is not a trusted origin"),
        ((origin_doc(APP_ORIGIN, "REDIRECT"),), "with REDIRECT, not an active CORS origin"),
        ((origin_doc(APP_ORIGIN, status="INACTIVE"),), "INACTIVE"),
    ],
)
def test_trusted_origin_problems(entries: tuple[dict[str, Any], ...], problem: str) -> None:
    finding = api.app_settings(SETTINGS, read_app(app_doc()), origins(*entries))
    assert finding.status is Status.FAIL
    assert problem in finding.message
    assert any("Security > API > Trusted Origins" in f for f in finding.fixes)


def test_trusted_origin_with_a_trailing_slash_counts() -> None:
    entries = origins(origin_doc(APP_ORIGIN + "/", "CORS", "REDIRECT"))
    assert api.app_settings(SETTINGS, read_app(app_doc()), entries).status is Status.OK


@pytest.mark.parametrize(
    ("status", "body", "words", "fix"),
    [
        (
            401,
            {"errorCode": "E0000011", "errorSummary": "Invalid token provided"},
            "refuses",
            "Tokens",
        ),
        (
            403,
            {"errorCode": "E0000006", "errorSummary": "You do not have permission"},
            "may not read",
            "Read-only",
        ),
        (
            404,
            {"errorCode": "E0000007", "errorSummary": "Not found"},
            "no app with id",
            "OKTA_APP_ID",
        ),
        (
            429,
            {"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit"},
            "rate limit",
            "again",
        ),
    ],
)
def test_api_errors(status: int, body: dict[str, str], words: str, fix: str) -> None:
    app = read_app(body, status)
    assert isinstance(app, api.ApiFailure)
    finding = api.app_settings(SETTINGS, app, None)
    assert finding.status is Status.FAIL
    assert words in finding.message
    assert any(fix in f for f in finding.fixes)


def test_no_token_skips_and_says_how_to_get_one() -> None:
    finding = api.app_settings(SETTINGS, None, None)
    assert finding.status is Status.SKIP
    assert "Security > API > Tokens" in finding.fixes[0]
    assert "EMAIL VERIFICATION EXPERIENCE" in finding.notes[0]


def test_not_an_oidc_app() -> None:
    app = read_app({"id": CLIENT_ID, "name": "bookmark", "settings": {"app": {}}})
    assert isinstance(app, api.ApiFailure)
    assert "not an OpenID Connect app" in app.message


def test_next_page_stays_on_the_org() -> None:
    org = "https://org.example"
    here = answer(200, [], {"link": f'<{org}/api/v1/trustedOrigins?after=x>; rel="next"'})
    away = answer(200, [], {"link": '<https://evil.example/api/v1/trustedOrigins>; rel="next"'})
    assert api.next_page(here, org) == f"{org}/api/v1/trustedOrigins?after=x"
    assert api.next_page(away, org) is None
    assert api.next_page(answer(200, []), org) is None


# -- 8. sign-out ---------------------------------------------------------------------------


def test_post_logout_registered() -> None:
    assert api.post_logout(SETTINGS, read_app(app_doc())).status is Status.OK


def test_post_logout_unregistered_fails() -> None:
    app = read_app(app_doc(post_logout_redirect_uris=["https://app.example/bye"]))
    finding = api.post_logout(SETTINGS, app)
    assert finding.status is Status.FAIL
    assert f"{APP_ORIGIN}/ is not one of the app's sign-out redirect URIs" in finding.message
    assert f"Sign-out redirect URIs: add exactly {APP_ORIGIN}/" in finding.fixes[0]


def test_post_logout_without_a_token_warns_and_explains() -> None:
    finding = api.post_logout(SETTINGS, None)
    assert finding.status is Status.WARN
    assert "cannot be verified without OKTA_API_TOKEN" in finding.message
    assert "Sign-out redirect URIs" in finding.fixes[0]


def test_post_logout_unset_warns() -> None:
    finding = api.post_logout(make_settings(), read_app(app_doc()))
    assert finding.status is Status.WARN
    assert "OKTA_POST_LOGOUT_REDIRECT_URI is not set" in finding.message


# -- 9. the groups claim -------------------------------------------------------------------

GROUP_RULES = make_settings(access_rules=[AccessRule("/admin", groups=["admins"])])


def claim(**changes: Any) -> dict[str, Any]:
    doc = {
        "id": "ocl1",
        "name": "groups",
        "status": "ACTIVE",
        "claimType": "IDENTITY",
        "valueType": "GROUPS",
        "value": ".*",
        "group_filter_type": "REGEX",
        "conditions": {"scopes": []},
        "system": False,
        "alwaysIncludeInToken": True,
    }
    doc.update(changes)
    return doc


def claims(*docs: dict[str, Any]) -> list[api.Claim] | api.ApiFailure:
    sub = {"name": "sub", "claimType": "RESOURCE", "valueType": "EXPRESSION", "system": True}
    return api.read_claims(answer(200, [sub, *docs]), "default")


def test_groups_not_needed() -> None:
    finding = api.groups_claim(SETTINGS, None, False)
    assert finding.status is Status.OK
    assert "not needed" in finding.message


def test_groups_claim_ok() -> None:
    finding = api.groups_claim(GROUP_RULES, claims(claim()), True)
    assert finding.status is Status.OK, finding
    assert "lets admins through" in finding.message


@pytest.mark.parametrize(
    ("docs", "status", "words"),
    [
        ((), Status.FAIL, "puts none in ID tokens (none named 'groups')"),
        ((claim(name="roles"),), Status.FAIL, "none named 'groups'"),
        ((claim(claimType="RESOURCE"),), Status.FAIL, "none named"),
        ((claim(status="INACTIVE"),), Status.FAIL, "inactive named 'groups'"),
        ((claim(alwaysIncludeInToken=False),), Status.FAIL, "not always in the ID token"),
        ((claim(conditions={"scopes": ["groups"]}),), Status.FAIL, "only with the scopes groups"),
        ((claim(value="ops.*"),), Status.WARN, "leaves out groups the rules name: admins"),
        ((claim(group_filter_type="STARTS_WITH", value="ADM"),), Status.OK, "lets admins"),
        ((claim(group_filter_type="EQUALS", value="other"),), Status.WARN, "leaves out"),
        ((claim(valueType="EXPRESSION", value="Groups.startsWith('OKTA','a',10)"),), Status.OK, ""),
    ],
)
def test_groups_claim_problems(
    docs: tuple[dict[str, Any], ...], status: Status, words: str
) -> None:
    finding = api.groups_claim(GROUP_RULES, claims(*docs), True)
    assert finding.status is status, finding
    assert words in finding.message
    if status is Status.FAIL:
        assert finding.fixes


def test_groups_without_a_token_warns() -> None:
    finding = api.groups_claim(GROUP_RULES, None, False)
    assert finding.status is Status.WARN
    assert "cannot be verified without OKTA_API_TOKEN" in finding.message
    assert "Claims > Add Claim" in finding.fixes[0]


def test_groups_with_the_org_authorization_server_says_how_to_check() -> None:
    settings = make_settings(issuer="https://org.example", allowed_groups=["admins"])
    finding = api.groups_claim(settings, None, True)
    assert finding.status is Status.WARN
    assert "Groups claim filter" in finding.fixes[0]


def test_groups_unknown_server() -> None:
    found = api.read_claims(answer(404, {"errorCode": "E0000007"}), "aus404")
    finding = api.groups_claim(GROUP_RULES, found, True)
    assert finding.status is Status.FAIL
    assert "no authorization server 'aus404'" in finding.message


# -- property: whatever the API answers, a finding and no exception ------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "settings",
        "oauthClient",
        "credentials",
        "grant_types",
        "redirect_uris",
        "status",
        "post_logout_redirect_uris",
        "client_id",
        "origin",
        "scopes",
        "type",
        "name",
        "claimType",
        "valueType",
        "conditions",
        "value",
        "alwaysIncludeInToken",
    ]
)
SHAPED = st.recursive(
    JSON,
    lambda inner: st.dictionaries(KEYS, inner, max_size=6) | st.lists(inner, max_size=3),
    max_leaves=30,
)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=SHAPED, status=st.sampled_from([200, 200, 200, 401, 404, 500]))
def test_any_answer_gives_a_finding(body: Any, status: int) -> None:
    reply = answer(status, body)
    app = api.read_app(reply, CLIENT_ID)
    found = api.read_origins([reply])
    claim_list = api.read_claims(reply, "default")
    findings = [
        api.app_settings(SETTINGS, app, found),
        api.post_logout(SETTINGS, app),
        api.groups_claim(GROUP_RULES, claim_list, True),
        checks.discovery(reply, SETTINGS)[0],
        checks.interact(reply, SETTINGS),
    ]
    text = Report(findings).as_text() + Report(findings).as_json()
    assert SECRET not in text
    # Nothing from the network reaches the terminal as a control character.
    assert not any(ch in text for ch in "\x1b\r\x07\x00\x85\u2028")
    for finding in findings:
        assert finding.status in Status
        assert finding.status is Status.OK or finding.message
