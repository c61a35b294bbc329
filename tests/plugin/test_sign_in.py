"""The sign_in fixture, with every kind of test client."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from starlette.testclient import TestClient
from werkzeug.test import Client

from okta_magiclink_mw import OktaMagicLink, Settings
from okta_magiclink_mw.testing import FakeOkta, SignInFixture, sign_in_with_magic_link
from okta_magiclink_mw.testing import sign_in as sign_in_with

from . import _apps


def test_starlette_test_client(okta_settings: Settings, sign_in: SignInFixture) -> None:
    with TestClient(_apps.starlette_app(okta_settings)) as client:
        assert client.get("/", follow_redirects=False).status_code == 302
        user = sign_in(client)
        assert user.email == "ada@example.com"
        page = client.get("/")
        assert page.status_code == 200
        assert page.text == "Hello, Ada Lovelace! <ada@example.com>"


def test_fastapi_app(okta_settings: Settings, sign_in: SignInFixture) -> None:
    with TestClient(_apps.fastapi_app(okta_settings)) as client:
        sign_in(client, email="grace@example.com", name="Grace Hopper")
        assert client.get("/").json() == {
            "greeting": "Hello, Grace Hopper!",
            "email": "grace@example.com",
        }


@pytest.mark.anyio
async def test_httpx_async_client(okta_settings: Settings, sign_in: SignInFixture) -> None:
    transport = httpx.ASGITransport(app=_apps.starlette_app(okta_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        user = await sign_in(client)
        assert user.name == "Ada Lovelace"
        page = await client.get("/")
        assert page.text == "Hello, Ada Lovelace! <ada@example.com>"


def test_httpx_wsgi_client(okta_settings: Settings, sign_in: SignInFixture) -> None:
    transport = httpx.WSGITransport(app=_apps.wsgi_app(okta_settings))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        sign_in(client)
        assert client.get("/").text == "Hello, Ada Lovelace! <ada@example.com>"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class TestFlaskClient:
    @pytest.fixture
    def okta_app_url(self) -> str:
        return "http://localhost"  # Flask's test client's

    def test_flask_test_client(self, okta_settings: Settings, sign_in: SignInFixture) -> None:
        client = _apps.flask_app(okta_settings).test_client()
        assert client.get("/").status_code == 302
        sign_in(client)
        page = client.get("/")
        assert page.status_code == 200
        assert page.get_data(as_text=True) == "Hello, Ada Lovelace! <ada@example.com>"


def test_werkzeug_test_client(okta_settings: Settings, sign_in: SignInFixture) -> None:
    client = Client(_apps.wsgi_app(okta_settings))
    assert client.get("/").status_code == 302
    sign_in(client)
    assert client.get("/").get_data(as_text=True) == "Hello, Ada Lovelace! <ada@example.com>"


def test_a_custom_login_page(okta_settings: Settings, sign_in: SignInFixture) -> None:
    page = (
        "<!doctype html><title>Our sign-in</title><div id=w></div>"
        '<script nonce="$script_nonce">window.cfg = $widget_config;</script>'
    )
    settings = dataclasses.replace(okta_settings, login_page=page)
    with TestClient(_apps.starlette_app(settings)) as client:
        sign_in(client)
        assert client.get("/").status_code == 200


def test_sign_in_without_the_fixtures() -> None:
    """The public functions, with a FakeOkta that is not served: in-process transports."""
    fake = FakeOkta(base_url="https://okta.example")
    fake.add_user(email="ada@example.com", name="Ada Lovelace")
    fake.add_web_app("https://app.example/login/callback", client_id="0oaInProcess")
    settings = Settings(
        issuer=fake.issuer,
        client_id="0oaInProcess",
        redirect_uri="https://app.example/login/callback",
        secret_keys=["a-secret-key-for-this-test-of-32-bytes"],
    )
    okta = httpx.AsyncClient(transport=fake.async_transport())
    app = OktaMagicLink(_apps.bare_starlette(), settings, http_client=okta)
    with TestClient(app, base_url="https://app.example") as client:
        user = sign_in_with(client, fake, groups=["staff"])
        assert user.groups == ["staff"]
        assert client.get("/").text == "Hello, Ada Lovelace! <ada@example.com>"
        other = TestClient(app, base_url="https://app.example")
        done = sign_in_with_magic_link(
            other, fake, same_browser=False, okta_transport=fake.sync_transport()
        )
        assert done.email.otp in (done.other_browser_page or "")
        assert other.get("/").status_code == 200
