"""The sign_in_with_magic_link fixture: the whole sign-in a person makes."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from starlette.testclient import TestClient

from okta_magiclink_mw import Settings
from okta_magiclink_mw.testing import FakeOkta, MagicLinkSignInFixture

from . import _apps


def test_same_browser(
    okta_settings: Settings, fake_okta: FakeOkta, sign_in_with_magic_link: MagicLinkSignInFixture
) -> None:
    with TestClient(_apps.starlette_app(okta_settings)) as client:
        done = sign_in_with_magic_link(client, next="/reports")
        assert done.user.email == "ada@example.com"
        assert done.email.to == "ada@example.com"
        assert done.other_browser_page is None
        assert client.get("/reports").text == "Hello, Ada Lovelace! <ada@example.com>"
    assert len(fake_okta.outbox) == 1


def test_other_browser_shows_the_code_and_the_first_tab_finishes(
    okta_settings: Settings, sign_in_with_magic_link: MagicLinkSignInFixture
) -> None:
    with TestClient(_apps.starlette_app(okta_settings)) as client:
        done = sign_in_with_magic_link(client, same_browser=False)
        assert done.other_browser_page is not None
        assert "Enter this code in your first tab" in done.other_browser_page
        assert done.email.otp in done.other_browser_page
        assert client.get("/").text == "Hello, Ada Lovelace! <ada@example.com>"


@pytest.mark.anyio
async def test_async_client(
    okta_settings: Settings, sign_in_with_magic_link: MagicLinkSignInFixture
) -> None:
    transport = httpx.ASGITransport(app=_apps.starlette_app(okta_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        done = await sign_in_with_magic_link(client, same_browser=False)
        assert done.email.otp in (done.other_browser_page or "")
        assert (await client.get("/")).text == "Hello, Ada Lovelace! <ada@example.com>"


def test_wsgi_client(
    okta_settings: Settings, sign_in_with_magic_link: MagicLinkSignInFixture
) -> None:
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
        self,
        okta_settings: Settings,
        sign_in_with_magic_link: MagicLinkSignInFixture,
        same_browser: bool,
    ) -> None:
        client = _apps.flask_app(okta_settings).test_client()
        sign_in_with_magic_link(client, same_browser=same_browser)
        assert client.get("/").status_code == 200


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_groups_with_the_magic_link(
    okta_settings: Settings, sign_in_with_magic_link: MagicLinkSignInFixture
) -> None:
    settings = dataclasses.replace(okta_settings, allowed_groups=["admins"])
    app = _apps.starlette_app(settings)
    with TestClient(app) as admin, TestClient(app) as outsider:
        done = sign_in_with_magic_link(admin, email="root@example.com", groups=["admins"])
        assert done.user.groups == ["admins"]
        assert admin.get("/").status_code == 200
        sign_in_with_magic_link(outsider, same_browser=False)
        assert outsider.get("/", follow_redirects=False).status_code == 403


def test_the_magic_link_went_through_okta_and_the_app(
    okta_settings: Settings, fake_okta: FakeOkta, sign_in_with_magic_link: MagicLinkSignInFixture
) -> None:
    with TestClient(_apps.starlette_app(okta_settings)) as client:
        done = sign_in_with_magic_link(client)
        paths = [(r.method, r.path) for r in fake_okta.requests]
        for step in ("interact", "introspect", "identify", "challenge", "challenge/answer"):
            assert any(path.endswith(f"/{step}") for _, path in paths), step
        assert ("GET", done.email.magic_link.split("?")[0].split(fake_okta.base_url)[1]) in paths
        assert ("POST", "/oauth2/default/v1/token") in paths
