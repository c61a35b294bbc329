"""The checks without a network: each one fed Okta's answers built by hand."""

from __future__ import annotations

import json
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from okta_magiclink_mw._doctor import _checks as checks
from okta_magiclink_mw._doctor._report import Status
from okta_magiclink_mw._tokens import parse_discovery
from tests.conftest import ISSUER, REDIRECT_URI, make_settings, public_jwk

SETTINGS = make_settings()
ORIGIN = "https://app.example"


def answer(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    base = {"content-type": "application/json"} if body is not None else {}
    return httpx.Response(status, content=content, headers={**base, **(headers or {})})


def discovery_doc(issuer: str = ISSUER, **changes: Any) -> dict[str, Any]:
    doc = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/v1/authorize",
        "token_endpoint": f"{issuer}/v1/token",
        "userinfo_endpoint": f"{issuer}/v1/userinfo",
        "jwks_uri": f"{issuer}/v1/keys",
        "end_session_endpoint": f"{issuer}/v1/logout",
        "revocation_endpoint": f"{issuer}/v1/revoke",
    }
    doc.update(changes)
    return doc


# -- 1. discovery --------------------------------------------------------------------------


def test_discovery_ok_counts_the_endpoints() -> None:
    finding, found = checks.discovery(answer(body=discovery_doc()), SETTINGS)
    assert finding.status is Status.OK, finding
    assert found is not None
    assert found.jwks_uri == f"{ISSUER}/v1/keys"
    assert "6 endpoints are on https://org.example" in finding.message


def test_discovery_issuer_with_a_trailing_slash_names_the_exact_value() -> None:
    settings = make_settings(issuer=ISSUER + "/")
    finding, found = checks.discovery(answer(body=discovery_doc()), settings)
    assert finding.status is Status.FAIL
    assert found is None
    assert f"set OKTA_ISSUER to exactly {ISSUER}" in finding.fixes[0]
    assert "trailing slash" in finding.fixes[1]


def test_discovery_endpoint_elsewhere_is_named() -> None:
    doc = discovery_doc(userinfo_endpoint="https://evil.example/userinfo")
    finding, found = checks.discovery(answer(body=doc), SETTINGS)
    assert finding.status is Status.FAIL
    assert found is None
    assert "userinfo_endpoint not on the issuer's origin" in finding.message


def test_discovery_token_endpoint_on_another_port_is_refused() -> None:
    doc = discovery_doc(token_endpoint="https://org.example:8443/oauth2/default/v1/token")
    finding, _ = checks.discovery(answer(body=doc), SETTINGS)
    assert finding.status is Status.FAIL
    assert "token_endpoint" in finding.message


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (answer(404, {"errorCode": "E0000007"}), "no authorization server at"),
        (answer(302, headers={"location": "https://org.example/login"}), "redirects"),
        (answer(503, {}), "HTTP 503"),
        (httpx.Response(200, text="<html>hi</html>"), "not a JSON document"),
        (checks.Unreachable("https://org.example/x", "timed out"), "no answer"),
        (answer(body=discovery_doc(jwks_uri="not a url")), "jwks_uri"),
    ],
)
def test_discovery_failures_say_what(reply: checks.Answer, words: str) -> None:
    finding, found = checks.discovery(reply, SETTINGS)
    assert finding.status is Status.FAIL
    assert found is None
    assert words in finding.message
    assert finding.fixes


def test_discovery_redirect_target_is_cleaned() -> None:
    reply = answer(302, headers={"location": "https://x.example/\x1b[31mred"})
    finding, _ = checks.discovery(reply, SETTINGS)
    assert "\x1b" not in finding.message
    assert "\\x1b" in finding.message


# -- 2. keys -------------------------------------------------------------------------------


def _found() -> Any:
    raw = json.dumps(discovery_doc()).encode()
    return parse_discovery(200, "application/json", raw, expected_issuer=ISSUER)


def test_jwks_counts_rs256_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    body = {"keys": [public_jwk(rsa_key, "k1"), public_jwk(rsa_key, "k2")]}
    finding = checks.jwks(answer(body=body), _found(), 0.0)
    assert finding.status is Status.OK
    assert finding.message.startswith("2 RS256 signing keys at")


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (answer(body={"keys": []}), "no RS256 signing key"),
        (answer(body={"nope": 1}), "not a key set"),
        (answer(500, {}), "HTTP 500"),
        (checks.Unreachable("https://org.example/k", "ConnectError: refused"), "no answer"),
    ],
)
def test_jwks_failures(reply: checks.Answer, words: str) -> None:
    finding = checks.jwks(reply, _found(), 0.0)
    assert finding.status is Status.FAIL
    assert words in finding.message


def test_jwks_is_skipped_without_discovery() -> None:
    assert checks.jwks(answer(body={}), None, 0.0).status is Status.SKIP


# -- 3. clock ------------------------------------------------------------------------------

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("okta_offset", "status", "words"),
    [
        (0, Status.OK, "within 1 s"),
        (-20, Status.WARN, "20 s ahead of Okta's"),
        (90, Status.FAIL, "90 s behind Okta's, more than the leeway of 60 s"),
        (-90, Status.FAIL, "ahead of"),
    ],
)
def test_clock(okta_offset: float, status: Status, words: str) -> None:
    date = formatdate(NOW + okta_offset, usegmt=True)
    finding = checks.clock(date, NOW + 0.2, NOW + 0.4, leeway=60)
    assert finding.status is status, finding
    assert words in finding.message


def test_clock_fail_names_ntp() -> None:
    finding = checks.clock(formatdate(NOW + 400, usegmt=True), NOW, NOW, leeway=300)
    assert finding.status is Status.FAIL
    assert "NTP" in finding.fixes[0]


@pytest.mark.parametrize("date", [None, "yesterday", "Sun, 99 Foo 2026 99:99:99 GMT"])
def test_clock_without_a_usable_date_warns(date: str | None) -> None:
    assert checks.clock(date, NOW, NOW, 60).status is Status.WARN


# -- 4. /v1/interact -----------------------------------------------------------------------


def _oauth(error: str, description: str, status: int = 400) -> httpx.Response:
    return answer(status, {"error": error, "error_description": description})


def test_interact_ok() -> None:
    finding = checks.interact(answer(body={"interaction_handle": "h"}), SETTINGS)
    assert finding.status is Status.OK


@pytest.mark.parametrize(
    ("reply", "problem", "fix"),
    [
        (
            _oauth(
                "unauthorized_client",
                "The client is not authorized to use the provided grant type. Configured "
                "grant types: [authorization_code].",
            ),
            "Interaction Code grant is not enabled",
            "Grant type > Advanced: tick Interaction Code",
        ),
        (
            _oauth("invalid_client", "Invalid value for 'client_id' parameter.", 401),
            "does not know the client id 0oa-test-client",
            "OKTA_CLIENT_ID",
        ),
        (
            _oauth(
                "invalid_request",
                "The 'redirect_uri' parameter must be a Login redirect URI in the client app "
                "settings: https://org.example/admin/app/oidc_client/instance/x#tab-general",
            ),
            f"{REDIRECT_URI} is not a sign-in redirect URI",
            f"Sign-in redirect URIs: add exactly {REDIRECT_URI}",
        ),
        (
            _oauth("invalid_scope", "One or more scopes are not configured."),
            "refuses the scopes openid profile email",
            "OKTA_MW_SCOPES",
        ),
        (
            _oauth(
                "access_denied", "The requested feature is not enabled in this environment.", 403
            ),
            "Interaction Code flow turned off",
            "Embedded widget sign-in support",
        ),
        (
            _oauth("access_denied", "Policy evaluation failed for this request.", 403),
            "policies refuse",
            "Access Policies",
        ),
        (answer(404, {}), "Identity Engine", "Identity Engine"),
        (answer(500, {}), "refuses to start", "above"),
    ],
)
def test_interact_failures_name_the_problem_and_the_fix(
    reply: httpx.Response, problem: str, fix: str
) -> None:
    finding = checks.interact(reply, SETTINGS)
    assert finding.status is Status.FAIL
    assert problem in finding.message
    assert any(fix in f for f in finding.fixes), finding.fixes


def test_interact_grant_on_the_app_but_refused_points_at_the_org_and_server() -> None:
    reply = _oauth(
        "unauthorized_client",
        "The client is not authorized to use the provided grant type. Configured grant "
        "types: [authorization_code, interaction_code].",
    )
    finding = checks.interact(reply, SETTINGS)
    assert finding.status is Status.FAIL
    assert "the app has the Interaction Code grant, but Okta still refuses it" in finding.message
    assert not any("General Settings" in f for f in finding.fixes)
    assert any("Embedded widget sign-in support" in f for f in finding.fixes)
    assert any("Access Policies" in f for f in finding.fixes)


def test_interact_quotes_okta_cleanly() -> None:
    reply = _oauth("unauthorized_client", "bad\r\nX-Injected: 1" + "x" * 1000)
    finding = checks.interact(reply, SETTINGS)
    assert "\r" not in finding.message
    assert "\n" not in finding.message
    assert len(finding.message) < 600


def test_interact_server_name_in_the_fix() -> None:
    settings = make_settings(issuer="https://org.example/oauth2/aus123")
    reply = _oauth("unauthorized_client", "no")
    finding = checks.interact(reply, settings)
    assert any("Authorization Servers > aus123 > Access Policies" in f for f in finding.fixes)


# -- 5. CORS -------------------------------------------------------------------------------

GOOD = {
    "access-control-allow-origin": ORIGIN,
    "access-control-allow-credentials": "true",
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": "content-type, x-okta-user-agent-extended",
}


def _preflight(status: int = 200, **headers: str | None) -> checks.Preflight:
    changes = {k.replace("_", "-"): v for k, v in headers.items()}
    merged = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    reply = httpx.Response(status, headers=merged)
    return checks.Preflight(
        "https://org.example/idp/idx/introspect",
        ("content-type", "x-okta-user-agent-extended"),
        reply,
    )


def test_cors_ok() -> None:
    finding = checks.cors([_preflight(), _preflight()], ORIGIN)
    assert finding.status is Status.OK
    assert "/idp/idx/introspect" in finding.message


@pytest.mark.parametrize(
    ("preflight", "words"),
    [
        (_preflight(403, access_control_allow_origin=None), "preflight refused (HTTP 403)"),
        (_preflight(access_control_allow_origin=None), "no Access-Control-Allow-Origin"),
        (_preflight(access_control_allow_origin="*"), "Access-Control-Allow-Origin is '*'"),
        (_preflight(access_control_allow_credentials=None), "Allow-Credentials"),
        (_preflight(access_control_allow_headers="content-type"), "x-okta-user-agent-extended"),
        (_preflight(access_control_allow_methods="GET"), "POST"),
    ],
)
def test_cors_failures_point_at_trusted_origins(preflight: checks.Preflight, words: str) -> None:
    finding = checks.cors([preflight], ORIGIN)
    assert finding.status is Status.FAIL
    assert words in finding.message
    assert "Security > API > Trusted Origins > Add Origin" in finding.fixes[0]
    assert f"Origin URL {ORIGIN}" in finding.fixes[0]


# -- 7. the widget -------------------------------------------------------------------------

JS = httpx.Response(200, headers={"content-type": "application/javascript"})
CSS = httpx.Response(200, headers={"content-type": "text/css; charset=utf-8"})
LABELS = httpx.Response(200, headers={"content-type": "application/json"})


def test_widget_from_the_cdn() -> None:
    finding = checks.widget(SETTINGS, JS, CSS, LABELS)
    assert finding.status is Status.OK
    assert "Gen2 okta-sign-in.min.js 7.49.0" in finding.message
    js, _css, labels = checks.widget_urls(SETTINGS)
    assert js == "https://global.oktacdn.com/okta-signin-widget/7.49.0/js/okta-sign-in.min.js"
    assert labels.endswith("/7.49.0/labels/json/login_fr.json")


def test_widget_self_hosted_without_a_release_has_a_note() -> None:
    settings = make_settings(widget_js_url="https://cdn.app.example/js/okta-sign-in.min.js")
    finding = checks.widget(settings, JS, CSS, LABELS)
    assert finding.status is Status.OK
    assert "names no release" in finding.notes[0]


def test_widget_unreachable_bundle_fails() -> None:
    finding = checks.widget(SETTINGS, httpx.Response(404), CSS, LABELS)
    assert finding.status is Status.FAIL
    assert "HTTP 404, so the browser cannot load the widget" in finding.message


def test_widget_bundle_served_as_html_fails() -> None:
    page = httpx.Response(200, headers={"content-type": "text/html"})
    finding = checks.widget(SETTINGS, page, CSS, LABELS)
    assert finding.status is Status.FAIL
    assert "served as 'text/html'" in finding.message


def test_widget_without_language_files_warns() -> None:
    finding = checks.widget(SETTINGS, JS, CSS, httpx.Response(404))
    assert finding.status is Status.WARN
    assert "OKTA_MW_WIDGET_ASSETS_URL" in finding.fixes[0]


def test_widget_redirected_warns() -> None:
    moved = httpx.Response(301, headers={"location": "https://cdn2.example/okta-sign-in.min.js"})
    finding = checks.widget(SETTINGS, moved, CSS, LABELS)
    assert finding.status is Status.WARN
    assert "redirects to https://cdn2.example/okta-sign-in.min.js" in finding.message
    assert "final URLs" in finding.fixes[0]
