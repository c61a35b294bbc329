"""fake_okta, okta_settings, okta_env and okta_app_url."""

from __future__ import annotations

import dataclasses
import os

import httpx
import pytest
from starlette.testclient import TestClient

from okta_magiclink_mw import ConfigurationError, Settings
from okta_magiclink_mw.testing import EVERYONE, FakeOkta, SignInFixture

from . import _apps


def test_fake_okta_is_set_up_the_readme_way(fake_okta: FakeOkta, okta_app_url: str) -> None:
    assert okta_app_url == "http://testserver"
    ada = fake_okta.find_user("ada@example.com")
    assert ada is not None
    assert ada.name == "Ada Lovelace"
    app = fake_okta.clients["0oaPytestClient"]
    assert app.redirect_uris == ["http://testserver/login/callback"]
    assert app.email_verify_callback_uri == "http://testserver/login/callback"
    assert app.post_logout_redirect_uris == ["http://testserver/"]
    assert "interaction_code" in app.grant_types
    assert EVERYONE in app.assigned_groups
    assert app.client_secret
    assert fake_okta.is_trusted_origin("http://testserver")


def test_fake_okta_is_served_on_loopback(fake_okta: FakeOkta) -> None:
    assert fake_okta.base_url.startswith("http://127.0.0.1:")
    answer = httpx.get(f"{fake_okta.issuer}/.well-known/openid-configuration", trust_env=False)
    assert answer.status_code == 200
    assert answer.json()["issuer"] == fake_okta.issuer


def test_each_test_has_a_fresh_org(fake_okta: FakeOkta, request: pytest.FixtureRequest) -> None:
    # The server is shared: a FakeOkta kept from a test before this one is not served.
    cache = request.config.stash.setdefault(_SEEN, [])
    for earlier in cache:
        assert earlier is not fake_okta
    cache.append(fake_okta)
    assert fake_okta.outbox == []
    assert [u.email for u in fake_okta.users.values()] == ["ada@example.com"]


_SEEN = pytest.StashKey[list[FakeOkta]]()


@pytest.mark.parametrize("run", [1, 2])
def test_fresh_org_again(fake_okta: FakeOkta, run: int, request: pytest.FixtureRequest) -> None:
    test_each_test_has_a_fresh_org(fake_okta, request)
    fake_okta.add_user(email=f"left-over-{run}@example.com")


def test_okta_settings_point_at_fake_okta(okta_settings: Settings, fake_okta: FakeOkta) -> None:
    assert okta_settings.issuer == fake_okta.issuer
    assert okta_settings.client_id == "0oaPytestClient"
    assert okta_settings.client_secret == fake_okta.clients["0oaPytestClient"].client_secret
    assert okta_settings.redirect_uri == "http://testserver/login/callback"
    assert okta_settings.post_logout_redirect_uri == "http://testserver/"
    assert okta_settings.allow_insecure_http
    assert len(str(okta_settings.secret_keys[0])) >= 32


def test_replace_okta_settings(okta_settings: Settings, sign_in: SignInFixture) -> None:
    settings = dataclasses.replace(okta_settings, public_paths=["/public"])
    with TestClient(_apps.starlette_app(settings)) as client:
        assert client.get("/public", follow_redirects=False).text == "public"
        assert client.get("/", follow_redirects=False).status_code == 302
        sign_in(client, next="/reports")
        assert client.get("/reports").text == "Hello, Ada Lovelace! <ada@example.com>"


def test_replaced_settings_are_still_validated(okta_settings: Settings) -> None:
    with pytest.raises(ConfigurationError):
        dataclasses.replace(okta_settings, redirect_uri="not a url")


def test_okta_env_and_from_env(
    okta_env: dict[str, str], okta_settings: Settings, sign_in: SignInFixture
) -> None:
    assert okta_env["OKTA_ISSUER"] == okta_settings.issuer
    for name, value in okta_env.items():
        assert os.environ[name] == value
    settings = Settings.from_env()
    assert settings.issuer == okta_settings.issuer
    assert settings.client_secret == okta_settings.client_secret
    assert list(settings.secret_keys) == list(okta_settings.secret_keys)
    with TestClient(_apps.starlette_app(settings)) as client:
        sign_in(client)
        assert client.get("/").status_code == 200


@pytest.fixture
def _stray_okta_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKTA_MW_PUBLIC_PATHS", "/")
    monkeypatch.setenv("OKTA_API_TOKEN", "00the-doctor-s-token")


@pytest.mark.usefixtures("_stray_okta_variable")
def test_okta_env_removes_the_variables_of_other_settings(okta_env: dict[str, str]) -> None:
    assert "OKTA_MW_PUBLIC_PATHS" not in os.environ
    assert Settings.from_env().public_paths == ()
    assert os.environ["OKTA_API_TOKEN"] == "00the-doctor-s-token"  # not a setting: kept


class TestOverriddenAppUrl:
    @pytest.fixture
    def okta_app_url(self) -> str:
        return "http://app.test:8080"

    def test_everything_follows_it(
        self, fake_okta: FakeOkta, okta_settings: Settings, okta_env: dict[str, str]
    ) -> None:
        assert fake_okta.clients["0oaPytestClient"].redirect_uris == [
            "http://app.test:8080/login/callback"
        ]
        assert fake_okta.is_trusted_origin("http://app.test:8080")
        assert not fake_okta.is_trusted_origin("http://testserver")
        assert okta_settings.redirect_uri == "http://app.test:8080/login/callback"
        assert okta_env["OKTA_POST_LOGOUT_REDIRECT_URI"] == "http://app.test:8080/"

    def test_sign_in_with_that_base_url(
        self, okta_settings: Settings, sign_in: SignInFixture
    ) -> None:
        app = _apps.starlette_app(okta_settings)
        with TestClient(app, base_url="http://app.test:8080") as client:
            sign_in(client)
            assert client.get("/").status_code == 200
