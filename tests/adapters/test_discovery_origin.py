"""Discovery that names the right issuer but puts an endpoint on another host (issue 10, R5),
through both adapters: nothing is sent there, the browser is never sent there, the page is a
generic 502 and the log names the endpoint."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.conftest import (
    APP_ORIGIN,
    END_SESSION_URL,
    FakeOkta,
    make_settings,
    set_cookies,
    sign_in,
)

SESSION = "__Host-omw_session"
EVIL = "https://evil.example/oauth2/default"
CLIENT_SECRET = "client-secret-" + "z" * 24


ELSEWHERE = "not on the issuer's origin"


@pytest.mark.parametrize(
    ("field", "url", "reason"),
    [
        pytest.param(
            "token_endpoint", f"{EVIL}/v1/token", f"token_endpoint {ELSEWHERE}", id="token"
        ),
        pytest.param("jwks_uri", f"{EVIL}/v1/keys", f"jwks_uri {ELSEWHERE}", id="jwks"),
        pytest.param(
            "end_session_endpoint",
            f"{EVIL}/v1/logout",
            f"end_session_endpoint {ELSEWHERE}",
            id="end_session",
        ),
        pytest.param(
            "token_endpoint",
            "https://org.example:8443/oauth2/default/v1/token",
            f"token_endpoint {ELSEWHERE}",
            id="other-port",
        ),
        pytest.param(
            "jwks_uri",
            "https://user@org.example/oauth2/default/v1/keys",
            "bad jwks_uri",
            id="userinfo",
        ),
    ],
)
def test_foreign_endpoint_fails_the_sign_in_before_anything_is_sent(
    make_client: Any, okta: FakeOkta, caplog: Any, field: str, url: str, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    elsewhere_post = okta.router.post(url).mock(return_value=httpx.Response(500))
    elsewhere_get = okta.router.get(url).mock(return_value=httpx.Response(500))
    okta.discovery_doc = {**okta.discovery_doc, field: url}
    # A complete configuration: the only WARNING is then the failure (no startup advice).
    settings = make_settings(client_secret=CLIENT_SECRET, post_logout_redirect_uri=APP_ORIGIN)
    client = make_client(settings)
    r = sign_in(client, okta)
    assert r.status_code == 502
    assert "Okta did not answer as expected" in r.text  # generic: no endpoint, no detail
    assert "evil.example" not in r.text
    assert "origin" not in r.text
    assert SESSION not in set_cookies(r)
    # Neither the verifier and secret (token POST) nor a key lookup went anywhere.
    assert elsewhere_post.call_count == elsewhere_get.call_count == 0
    assert okta.token.call_count == okta.keys.call_count == 0
    [record] = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert record.event == "discovery.failed"
    assert record.reason == f"discovery: {reason}"
    assert CLIENT_SECRET not in repr([rec.__dict__ for rec in caplog.records])


def test_logout_never_redirects_to_a_foreign_end_session_endpoint(
    make_client: Any, okta: FakeOkta
) -> None:
    """The browser would carry the ID token (``id_token_hint``) to the other host."""
    first = make_client()
    assert sign_in(first, okta).status_code == 302  # a session, minted by a sound middleware
    okta.discovery_doc = {**okta.discovery_doc, "end_session_endpoint": f"{EVIL}/v1/logout"}
    client = make_client()
    assert sign_in(client, okta).status_code == 502
    for cookie in first.cookies.jar:
        client.cookies.set(cookie.name, cookie.value, domain="app.example")
    r = client.post("/logout", headers={"sec-fetch-site": "same-origin"})
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith(END_SESSION_URL + "?id_token_hint=")
    assert "evil.example" not in location


def test_org_authorization_server_endpoints_are_accepted(make_client: Any, okta: FakeOkta) -> None:
    """Same origin, different path (``https://{org}/oauth2/v1/...``): fine."""
    okta.discovery_doc = {
        **okta.discovery_doc,
        "end_session_endpoint": "https://org.example/oauth2/v1/logout",
    }
    client = make_client()
    assert sign_in(client, okta).status_code == 302
    r = client.post("/logout", headers={"sec-fetch-site": "same-origin"})
    assert r.headers["location"].startswith("https://org.example/oauth2/v1/logout?")
