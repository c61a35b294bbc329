"""FakeOkta's read-only management API: Okta's shapes, SSWS tokens, nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from okta_magiclink_mw.testing import FakeOkta

BASE = "http://127.0.0.1:8001"
TOKEN = "00fake-management-token"
SECRET = "management-test-client-secret"


@pytest.fixture
def fake() -> FakeOkta:
    fake = FakeOkta(base_url=BASE)
    fake.add_web_app("https://app.example/login/callback", client_id="0oaApp", client_secret=SECRET)
    fake.add_api_token(TOKEN)
    return fake


@pytest.fixture
def api(fake: FakeOkta) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=fake.sync_transport(),
        base_url=BASE,
        headers={"Authorization": f"SSWS {TOKEN}", "Accept": "application/json"},
    ) as client:
        yield client


def test_the_app_as_okta_shows_an_oidc_app(api: httpx.Client) -> None:
    reply = api.get("/api/v1/apps/0oaApp")
    assert reply.status_code == 200
    app = reply.json()
    assert app["id"] == "0oaApp"
    assert app["name"] == "oidc_client"
    assert app["signOnMode"] == "OPENID_CONNECT"
    assert app["status"] == "ACTIVE"
    oauth = app["settings"]["oauthClient"]
    assert oauth["redirect_uris"] == ["https://app.example/login/callback"]
    assert oauth["post_logout_redirect_uris"] == ["https://app.example/"]
    assert set(oauth["grant_types"]) >= {"authorization_code", "interaction_code"}
    assert oauth["application_type"] == "web"
    credentials = app["credentials"]["oauthClient"]
    assert credentials["client_id"] == "0oaApp"
    assert credentials["token_endpoint_auth_method"] == "client_secret_basic"
    # Okta shows the secret only when an app is created or updated.
    assert SECRET not in reply.text


def test_the_app_follows_the_knobs(fake: FakeOkta, api: httpx.Client) -> None:
    fake.clients["0oaApp"].grant_types.remove("interaction_code")
    fake.clients["0oaApp"].post_logout_redirect_uris.clear()
    oauth = api.get("/api/v1/apps/0oaApp").json()["settings"]["oauthClient"]
    assert "interaction_code" not in oauth["grant_types"]
    assert oauth["post_logout_redirect_uris"] == []


def test_an_unknown_app_is_okta_s_404(api: httpx.Client) -> None:
    reply = api.get("/api/v1/apps/0oaNope")
    assert reply.status_code == 404
    body = reply.json()
    assert body["errorCode"] == "E0000007"
    assert body["errorSummary"].startswith("Not found")
    assert set(body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "SSWS 00wrong"},
        {"Authorization": f"Bearer {TOKEN}"},
        {"Authorization": f"ssws {TOKEN}"},
        {"Authorization": f"SSWS {TOKEN} "},
        {"Authorization": "SSWS "},
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/apps/0oaApp",
        "/api/v1/trustedOrigins",
        "/api/v1/authorizationServers/default/claims",
    ],
)
def test_every_call_needs_a_token(fake: FakeOkta, headers: dict[str, str], path: str) -> None:
    with httpx.Client(transport=fake.sync_transport(), base_url=BASE) as client:
        reply = client.get(path, headers=headers)
    assert reply.status_code == 401
    assert reply.json()["errorCode"] == "E0000011"
    assert reply.json()["errorSummary"] == "Invalid token provided"


def test_a_token_in_the_query_does_not_count(fake: FakeOkta) -> None:
    with httpx.Client(transport=fake.sync_transport(), base_url=BASE) as client:
        reply = client.get("/api/v1/apps/0oaApp", params={"token": TOKEN})
    assert reply.status_code == 401


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_read_only(api: httpx.Client, method: str) -> None:
    reply = api.request(method, "/api/v1/apps/0oaApp", json={})
    assert reply.status_code == 405


def test_trusted_origins_in_pages(fake: FakeOkta, api: httpx.Client) -> None:
    for port in range(9000, 9004):
        fake.add_trusted_origin(f"https://app.example:{port}", redirect=True)
    first = api.get("/api/v1/trustedOrigins", params={"limit": 2})
    assert first.status_code == 200
    assert len(first.json()) == 2
    seen = [o["origin"] for o in first.json()]
    url = first.links["next"]["url"]
    assert url.startswith(f"{BASE}/api/v1/trustedOrigins?after=")
    while url:
        page = api.get(url)
        seen += [o["origin"] for o in page.json()]
        url = page.links.get("next", {}).get("url")
    assert seen == ["https://app.example"] + [f"https://app.example:{p}" for p in range(9000, 9004)]
    entry = api.get("/api/v1/trustedOrigins").json()[-1]
    assert entry["status"] == "ACTIVE"
    assert entry["scopes"] == [{"type": "CORS"}, {"type": "REDIRECT"}]
    assert entry["id"].startswith("tos")


def test_trusted_origins_default_page_is_twenty(fake: FakeOkta, api: httpx.Client) -> None:
    for port in range(9000, 9025):
        fake.add_trusted_origin(f"https://app.example:{port}")
    reply = api.get("/api/v1/trustedOrigins")
    assert len(reply.json()) == 20
    assert "next" in reply.links
    assert api.get("/api/v1/trustedOrigins", params={"limit": "x"}).status_code == 400


def test_claims_of_the_default_server(fake: FakeOkta, api: httpx.Client) -> None:
    claims = api.get("/api/v1/authorizationServers/default/claims").json()
    groups = [c for c in claims if c["name"] == "groups"]
    assert len(groups) == 1
    assert groups[0]["claimType"] == "IDENTITY"
    assert groups[0]["valueType"] == "GROUPS"
    assert groups[0]["group_filter_type"] == "REGEX"
    assert groups[0]["value"] == ".*"
    assert groups[0]["alwaysIncludeInToken"] is True
    fake.clients["0oaApp"].groups_claim = None
    claims = api.get("/api/v1/authorizationServers/default/claims").json()
    assert [c["name"] for c in claims] == ["sub"]


def test_claims_of_an_unknown_server(api: httpx.Client) -> None:
    reply = api.get("/api/v1/authorizationServers/aus0nope/claims")
    assert reply.status_code == 404
    assert reply.json()["errorCode"] == "E0000007"


def test_add_api_token_makes_one() -> None:
    fake = FakeOkta(base_url=BASE)
    token = fake.add_api_token()
    assert token.startswith("00")
    assert len(token) == 42
