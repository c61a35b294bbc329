"""The sign_in fixture, with every kind of test client."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from okta_magiclink_mw import Settings

from . import _apps


def test_starlette_test_client(okta_settings: Settings, sign_in) -> None:
    with TestClient(_apps.starlette_app(okta_settings)) as client:
        assert client.get("/", follow_redirects=False).status_code == 302
        user = sign_in(client)
        assert user.email == "ada@example.com"
        page = client.get("/")
        assert page.status_code == 200
        assert page.text == "Hello, Ada Lovelace! <ada@example.com>"


def test_fastapi_app(okta_settings: Settings, sign_in) -> None:
    with TestClient(_apps.fastapi_app(okta_settings)) as client:
        sign_in(client, email="grace@example.com", name="Grace Hopper")
        assert client.get("/").json() == {
            "greeting": "Hello, Grace Hopper!",
            "email": "grace@example.com",
        }


@pytest.mark.anyio
async def test_httpx_async_client(okta_settings: Settings, sign_in) -> None:
    transport = httpx.ASGITransport(app=_apps.starlette_app(okta_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        user = await sign_in(client)
        assert user.name == "Ada Lovelace"
        page = await client.get("/")
        assert page.text == "Hello, Ada Lovelace! <ada@example.com>"


def test_httpx_wsgi_client(okta_settings: Settings, sign_in) -> None:
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

    def test_flask_test_client(self, okta_settings: Settings, sign_in) -> None:
        client = _apps.flask_app(okta_settings).test_client()
        assert client.get("/").status_code == 302
        sign_in(client)
        page = client.get("/")
        assert page.status_code == 200
        assert page.get_data(as_text=True) == "Hello, Ada Lovelace! <ada@example.com>"
