"""The sign_in_with_magic_link fixture: the whole sign-in a person makes."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from okta_magiclink_mw import Settings
from okta_magiclink_mw.testing import FakeOkta

from . import _apps


def test_same_browser(
    okta_settings: Settings, fake_okta: FakeOkta, sign_in_with_magic_link
) -> None:
    with TestClient(_apps.starlette_app(okta_settings)) as client:
        done = sign_in_with_magic_link(client, next="/reports")
        assert done.user.email == "ada@example.com"
        assert done.email.to == "ada@example.com"
        assert done.other_browser_page is None
        assert client.get("/reports").text == "Hello, Ada Lovelace! <ada@example.com>"
    assert len(fake_okta.outbox) == 1


def test_other_browser_shows_the_code_and_the_first_tab_finishes(
    okta_settings: Settings, sign_in_with_magic_link
) -> None:
    with TestClient(_apps.starlette_app(okta_settings)) as client:
        done = sign_in_with_magic_link(client, same_browser=False)
        assert done.other_browser_page is not None
        assert "Enter this code in your first tab" in done.other_browser_page
        assert done.email.otp in done.other_browser_page
        assert client.get("/").text == "Hello, Ada Lovelace! <ada@example.com>"


@pytest.mark.anyio
async def test_async_client(okta_settings: Settings, sign_in_with_magic_link) -> None:
    transport = httpx.ASGITransport(app=_apps.starlette_app(okta_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        done = await sign_in_with_magic_link(client, same_browser=False)
        assert done.email.otp in (done.other_browser_page or "")
        assert (await client.get("/")).text == "Hello, Ada Lovelace! <ada@example.com>"


def test_wsgi_client(okta_settings: Settings, sign_in_with_magic_link) -> None:
    transport = httpx.WSGITransport(app=_apps.wsgi_app(okta_settings))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        sign_in_with_magic_link(client)
        assert client.get("/").text == "Hello, Ada Lovelace! <ada@example.com>"


class TestFlask:
    @pytest.fixture
    def okta_app_url(self) -> str:
        return "http://localhost"

    @pytest.mark.parametrize("same_browser", [True, False])
    def test_flask_test_client(
        self, okta_settings: Settings, sign_in_with_magic_link, same_browser: bool
    ) -> None:
        client = _apps.flask_app(okta_settings).test_client()
        sign_in_with_magic_link(client, same_browser=same_browser)
        assert client.get("/").status_code == 200


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
