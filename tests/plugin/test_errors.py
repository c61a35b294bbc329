"""SignInError: what a failed test sign-in says."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from starlette.testclient import TestClient

from okta_magiclink_mw import Settings
from okta_magiclink_mw.testing import (
    FakeOkta,
    MagicLinkSignInFixture,
    SignInError,
    SignInFixture,
)

from . import _apps


@pytest.fixture
def client(okta_settings: Settings) -> TestClient:
    return TestClient(_apps.starlette_app(okta_settings))


def test_an_unprotected_next(okta_settings: Settings, sign_in: SignInFixture) -> None:
    settings = dataclasses.replace(okta_settings, public_paths=["/public"])
    client = TestClient(_apps.starlette_app(settings))
    with pytest.raises(SignInError, match="did not send this browser to sign in") as failed:
        sign_in(client, next="/public")
    assert failed.value.status == 200
    assert "answer: 200" in str(failed.value)
    assert isinstance(failed.value, AssertionError)  # pytest shows it as a failure


def test_next_must_be_a_path(client: TestClient, sign_in: SignInFixture) -> None:
    for bad in ("https://evil.example/", "//evil.example/", "reports"):
        with pytest.raises(ValueError, match="next must be a path"):
            sign_in(client, next=bad)


def test_already_signed_in(client: TestClient, sign_in: SignInFixture) -> None:
    sign_in(client)
    with pytest.raises(SignInError, match="signed in already"):
        sign_in(client)


def test_a_user_denied_by_the_sign_in_policy(
    client: TestClient, fake_okta: FakeOkta, sign_in: SignInFixture
) -> None:
    fake_okta.deny_access("0oaPytestClient", email="ada@example.com")
    with pytest.raises(SignInError, match="may not sign in") as failed:
        sign_in(client)
    assert failed.value.step == "Okta"
    assert client.get("/", follow_redirects=False).status_code == 302


def test_a_user_not_assigned(
    client: TestClient, fake_okta: FakeOkta, sign_in_with_magic_link: MagicLinkSignInFixture
) -> None:
    fake_okta.clients["0oaPytestClient"].assigned_groups.clear()
    with pytest.raises(SignInError, match="not assigned to this application") as failed:
        sign_in_with_magic_link(client)
    assert failed.value.step == "Okta: identify"
    assert fake_okta.outbox == []


def test_a_user_denied_with_the_magic_link(
    client: TestClient, fake_okta: FakeOkta, sign_in_with_magic_link: MagicLinkSignInFixture
) -> None:
    fake_okta.add_user(email="mallory@example.com", groups=["contractors"])
    fake_okta.deny_access("0oaPytestClient", group="contractors")
    with pytest.raises(SignInError, match="permission"):
        sign_in_with_magic_link(client, email="mallory@example.com")


def test_okta_down_at_the_token_endpoint(
    client: TestClient, fake_okta: FakeOkta, sign_in: SignInFixture
) -> None:
    fake_okta.faults.status_5xx["token"] = 503
    with pytest.raises(SignInError, match="at the callback") as failed:
        sign_in(client)
    assert failed.value.status is not None
    assert failed.value.status >= 500
    assert "Traceback" not in (failed.value.body or "")


def test_an_untrusted_origin(
    client: TestClient, fake_okta: FakeOkta, sign_in_with_magic_link: MagicLinkSignInFixture
) -> None:
    fake_okta.remove_trusted_origin("http://testserver")
    with pytest.raises(SignInError, match="a browser would block it"):
        sign_in_with_magic_link(client)


def test_another_app_client_id(okta_settings: Settings, sign_in: SignInFixture) -> None:
    settings = dataclasses.replace(okta_settings, client_id="0oaSomeOtherApp")
    with pytest.raises(SignInError, match="not FakeOkta's app"):
        sign_in(TestClient(_apps.starlette_app(settings)))


def test_an_unknown_kind_of_client(sign_in: SignInFixture) -> None:
    with pytest.raises(TypeError, match="cannot sign in a str"):
        sign_in("http://testserver")  # type: ignore[call-overload]


def test_an_async_client_with_a_sync_transport(fake_okta: FakeOkta) -> None:
    from okta_magiclink_mw.testing import sign_in

    with pytest.raises(TypeError, match="async okta_transport"):
        sign_in(httpx.AsyncClient(), fake_okta, okta_transport=fake_okta.sync_transport())
