"""What sign_in gives is the middleware's own session, nothing a test could forge."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from starlette.testclient import TestClient

from okta_magiclink_mw import Settings
from okta_magiclink_mw.testing import FakeOkta, SignInFixture

from . import _apps


def test_a_second_client_is_not_signed_in(okta_settings: Settings, sign_in: SignInFixture) -> None:
    app = _apps.starlette_app(okta_settings)
    first, second = TestClient(app), TestClient(app)
    sign_in(first)
    assert first.get("/", follow_redirects=False).status_code == 200
    assert second.get("/", follow_redirects=False).status_code == 302
    api = second.get("/", headers={"accept": "application/json"}, follow_redirects=False)
    assert api.status_code == 401


def test_the_cookie_is_the_middleware_session(
    okta_settings: Settings, fake_okta: FakeOkta, sign_in: SignInFixture
) -> None:
    client = TestClient(_apps.starlette_app(okta_settings))
    sign_in(client)
    assert okta_settings.session_cookie_name in client.cookies
    # The middleware redeemed a code at FakeOkta's token endpoint, over the network.
    assert fake_okta.request_count("/oauth2/default/v1/token", "POST") == 1


def test_a_tampered_cookie_is_refused(okta_settings: Settings, sign_in: SignInFixture) -> None:
    client = TestClient(_apps.starlette_app(okta_settings))
    sign_in(client)
    name = okta_settings.session_cookie_name
    value = client.cookies[name]
    flipped = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    thief = TestClient(client.app)
    thief.cookies.set(name, flipped)
    assert thief.get("/", follow_redirects=False).status_code == 302
    thief.cookies.set(name, value)  # the real one, copied: it is a bearer cookie
    assert thief.get("/", follow_redirects=False).status_code == 200


def test_another_app_does_not_take_the_session(
    okta_settings: Settings, sign_in: SignInFixture
) -> None:
    client = TestClient(_apps.starlette_app(okta_settings))
    sign_in(client)
    other_keys = dataclasses.replace(okta_settings, secret_keys=["another-secret-key-" * 3])
    elsewhere = TestClient(_apps.starlette_app(other_keys))
    elsewhere.cookies = client.cookies
    assert elsewhere.get("/", follow_redirects=False).status_code == 302


def test_groups_reach_the_app(
    okta_settings: Settings, fake_okta: FakeOkta, sign_in: SignInFixture
) -> None:
    settings = dataclasses.replace(okta_settings, allowed_groups=["admins"])
    app = _apps.starlette_app(settings)
    admin, outsider = TestClient(app), TestClient(app)
    user = sign_in(admin, email="root@example.com", groups=["admins"])
    assert user.groups == ["admins"]
    assert admin.get("/").status_code == 200
    sign_in(outsider)  # Ada, in no group: signed in, but refused here
    refused = outsider.get("/", follow_redirects=False)
    assert refused.status_code == 403
    # Groups change in Okta: a new sign-in carries them.
    again = TestClient(app)
    sign_in(again, groups=["admins"])
    assert again.get("/").status_code == 200


def test_sign_in_then_sign_out(
    okta_settings: Settings, fake_okta: FakeOkta, sign_in: SignInFixture
) -> None:
    client = TestClient(_apps.starlette_app(okta_settings))
    sign_in(client)
    assert client.get("/").status_code == 200
    kept = dict(client.cookies)
    out = client.post("/logout", headers={"origin": "http://testserver"}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"].startswith(f"{fake_okta.issuer}/v1/logout?")
    assert client.get("/", follow_redirects=False).status_code == 302
    replay = TestClient(client.app)
    replay.cookies.update(kept)
    assert replay.get("/", follow_redirects=False).status_code == 302  # the session was revoked
    okta = httpx.get(out.headers["location"], trust_env=False)  # Okta's end of it
    assert (okta.status_code, okta.headers["location"]) == (302, "http://testserver/")


@pytest.mark.parametrize("name", ["Grace Hopper", "<script>x</script>"])
def test_name_is_the_one_okta_says(
    okta_settings: Settings, sign_in: SignInFixture, name: str
) -> None:
    client = TestClient(_apps.starlette_app(okta_settings))
    sign_in(client, email="grace@example.com", name=name)
    assert client.get("/").text == f"Hello, {name}! <grace@example.com>"
