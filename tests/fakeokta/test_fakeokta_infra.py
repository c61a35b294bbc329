"""CORS, outbox, fault knobs, key rotation, transports, request log, widget files."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest

from okta_magiclink_mw.testing import EmailMessage, FakeOkta

from ._servers import bind_free_port, serve
from .conftest import APP, BASE, Flow, Org

PREFLIGHT_HEADERS = "x-okta-user-agent-extended,content-type,accept,x-device-fingerprint"


@pytest.mark.parametrize(
    "path", ["/oauth2/default/v1/interact", "/idp/idx/introspect", "/oauth2/default/v1/token"]
)
def test_preflight_trusted_origin(org: Org, path: str) -> None:
    r = org.http.options(
        path,
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": PREFLIGHT_HEADERS,
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "POST" in r.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in r.headers["access-control-allow-headers"].split(",")}
    assert allowed == set(PREFLIGHT_HEADERS.split(","))


def test_preflight_untrusted_origin(org: Org) -> None:
    r = org.http.options(
        "/idp/idx/introspect",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in r.headers


def test_simple_request_cors(org: Org) -> None:
    url = "/oauth2/default/.well-known/openid-configuration"
    r = org.http.get(url, headers={"Origin": APP})
    assert r.headers["access-control-allow-origin"] == APP
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in r.headers["vary"]
    r = org.http.get(url, headers={"Origin": "http://evil.test"})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in org.http.get(url).headers


def test_idx_error_responses_carry_cors(flow: Flow, org: Org) -> None:
    r = org.http.post(
        "/idp/idx/introspect", json={"interactionHandle": "x"}, headers={"Origin": APP}
    )
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == APP


def test_outbox_json_and_html(flow: Flow, org: Org) -> None:
    otp = flow.to_challenge()
    [item] = org.http.get("/outbox.json").json()
    assert set(item) == {"to", "subject", "otp", "magic_link", "sent_at"}
    assert item["otp"] == otp
    page = org.http.get("/outbox")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert otp in page.text
    assert 'class="magic-link" href="http://okta.test/email/verify/0oaUnitTestClient001?token=' in (
        page.text
    )


def test_outbox_html_escapes_and_orders(org: Org) -> None:
    evil = "<script>alert(1)</script>@example.com"
    org.fake.outbox.append(
        EmailMessage("first@example.com", "s", "111111", "http://a/?x=1&y=2", 1.0)
    )
    org.fake.outbox.append(EmailMessage(evil, "<b>", "222222", 'http://a/"onmouseover=x', 2.0))
    html = org.http.get("/outbox").text
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;" in html
    assert 'href="http://a/&quot;onmouseover=x"' in html
    assert "x=1&amp;y=2" in html
    assert html.index("222222") < html.index("111111")


def test_fault_status_5xx(org: Org) -> None:
    org.fake.faults.status_5xx["discovery"] = 503
    r = org.http.get("/oauth2/default/.well-known/openid-configuration")
    assert r.status_code == 503
    org.fake.faults.reset()
    assert org.http.get("/oauth2/default/.well-known/openid-configuration").status_code == 200


def test_fault_jwks_down(org: Org) -> None:
    org.fake.faults.jwks_down = True
    assert org.http.get("/oauth2/default/v1/keys").status_code == 503
    assert org.http.get("/oauth2/default/.well-known/openid-configuration").status_code == 200


def test_fault_malformed_body(org: Org) -> None:
    org.fake.faults.malformed_body.add("keys")
    r = org.http.get("/oauth2/default/v1/keys")
    assert r.status_code == 200
    with pytest.raises(ValueError, match="Expecting value"):
        r.json()


def test_fault_latency(org: Org) -> None:
    org.fake.faults.endpoint_latency["keys"] = 0.2
    start = time.monotonic()
    org.http.get("/oauth2/default/v1/keys")
    assert time.monotonic() - start >= 0.2
    start = time.monotonic()
    org.http.get("/oauth2/default/.well-known/openid-configuration")
    assert time.monotonic() - start < 0.2


def test_fault_drop_connection_sync(org: Org) -> None:
    org.fake.faults.drop_connection.add("token")
    with pytest.raises(httpx.RemoteProtocolError):
        org.http.post("/oauth2/default/v1/token", data={})


def test_fault_drop_connection_async(org: Org) -> None:
    org.fake.faults.drop_connection.add("*")

    async def go() -> None:
        async with httpx.AsyncClient(transport=org.fake.async_transport(), base_url=BASE) as client:
            await client.get("/oauth2/default/v1/keys")

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(go())


@pytest.mark.integration
def test_fault_drop_connection_real_socket() -> None:
    sock = bind_free_port()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    fake = FakeOkta(base_url=base)
    fake.faults.drop_connection.add("keys")
    with serve(fake, sock):
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{fake.issuer}/v1/keys")
        assert httpx.get(f"{fake.issuer}/.well-known/openid-configuration").status_code == 200


def test_async_transport(org: Org) -> None:
    async def go() -> int:
        async with httpx.AsyncClient(transport=org.fake.async_transport(), base_url=BASE) as client:
            return (await client.get("/oauth2/default/v1/keys")).status_code

    assert asyncio.run(go()) == 200


def test_sync_transport_inside_running_loop(org: Org) -> None:
    async def go() -> int:
        return org.http.get("/oauth2/default/v1/keys").status_code

    assert asyncio.run(go()) == 200


def test_requests_log(flow: Flow, org: Org) -> None:
    org.http.get("/oauth2/default/.well-known/openid-configuration")
    flow.token(flow.code())
    assert ("GET", "/oauth2/default/.well-known/openid-configuration") in org.fake.requests
    assert org.fake.request_count("/oauth2/default/v1/token") == 1
    assert org.fake.request_count("/oauth2/default/v1/keys", "GET") == 0


def test_key_rotation(flow: Flow, org: Org) -> None:
    old = org.fake.current_kid
    new = org.fake.rotate_keys()
    assert new != old
    kids = [k["kid"] for k in org.http.get("/oauth2/default/v1/keys").json()["keys"]]
    assert kids == [new, old]
    id_token = flow.token(flow.code()).json()["id_token"]
    assert jwt.get_unverified_header(id_token)["kid"] == new
    newest = org.fake.rotate_keys(drop_old=True)
    kids = [k["kid"] for k in org.http.get("/oauth2/default/v1/keys").json()["keys"]]
    assert kids == [newest]


def test_mint_id_token(org: Org) -> None:
    claims = org.fake.id_token_claims(org.user, "0oaX", nonce="n")
    token = org.fake.mint_id_token(claims, kid="someone-else", headers={"typ": "JWT"})
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": "someone-else", "typ": "JWT"}
    assert jwt.decode(token, options={"verify_signature": False})["nonce"] == "n"
    hs = org.fake.mint_id_token({"sub": "x"}, key="k" * 32, alg="HS256")
    assert jwt.get_unverified_header(hs)["alg"] == "HS256"


def test_widget_files(org: Org) -> None:
    if org.fake.widget_dist is None:
        pytest.skip("node_modules/@okta/okta-signin-widget not installed")
    assert org.fake.widget_js_url == f"{BASE}/widget/js/okta-sign-in.min.js"
    r = org.http.get("/widget/js/okta-sign-in.min.js", headers={"Origin": APP})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert org.http.get("/widget/css/okta-sign-in.min.css").status_code == 200


def test_no_widget(tmp_path: object) -> None:
    fake = FakeOkta(base_url=BASE, widget_dist=str(tmp_path))
    assert fake.widget_js_url is None
    assert fake.widget_css_url is None
