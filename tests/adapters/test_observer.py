"""The observer seam (``_observe``): both adapters tell it of sign-ins and Okta calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from okta_magiclink_mw._observe import BaseObserver
from tests.conftest import NAV, Browser, FakeOkta, make_settings, sign_in


class Recorder(BaseObserver):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def signin_started(self) -> None:
        self.events.append(("started",))

    def signin_completed(self) -> None:
        self.events.append(("completed",))

    def signin_failed(self, reason: str) -> None:
        self.events.append(("failed", reason))

    def okta_request(self, endpoint: str, seconds: float, status: int | None) -> None:
        assert seconds >= 0
        self.events.append(("okta", endpoint, status))


def test_a_sign_in_is_observed(make_client: Callable[..., Browser], okta: FakeOkta) -> None:
    recorder = Recorder()
    client = make_client(make_settings(), observer=recorder)
    assert sign_in(client, okta).status_code == 302
    assert recorder.events == [
        ("started",),
        ("okta", "/oauth2/default/.well-known/openid-configuration", 200),
        ("okta", "/oauth2/default/v1/token", 200),
        ("okta", "/oauth2/default/v1/keys", 200),
        ("completed",),
    ]
    # A fresh /login with no sign-in in progress starts one too.
    other = client.other_browser()
    assert other.get("/login", headers=NAV).status_code == 302
    assert recorder.events[-1] == ("started",)
    other.close()


def test_failures_are_observed_by_code(make_client: Callable[..., Browser], okta: FakeOkta) -> None:
    recorder = Recorder()
    client = make_client(make_settings(), observer=recorder)
    okta.fault = "connect_error"
    assert sign_in(client, okta).status_code == 503
    assert ("okta", "/oauth2/default/v1/token", None) in recorder.events
    assert recorder.events[-1] == ("failed", "idp_unreachable")
    okta.fault = "invalid_grant"
    assert sign_in(client, okta).status_code == 400
    assert ("okta", "/oauth2/default/v1/token", 400) in recorder.events
    assert recorder.events[-1] == ("failed", "token_exchange_failed")
    r = client.get("/login/callback?error=access_denied&state=" + "s" * 43, headers=NAV)
    assert r.status_code == 403
    assert recorder.events[-1] == ("failed", "access_denied")


def test_no_observer_is_the_default(make_client: Callable[..., Browser], okta: FakeOkta) -> None:
    client = make_client(make_settings())
    assert client.core.observer is None
    assert sign_in(client, okta).status_code == 302


def test_shared_gets_are_observed_once(make_client: Callable[..., Browser], okta: FakeOkta) -> None:
    """An observer hears of requests that went out: discovery is fetched once for the
    life of the middleware, and a second sign-in asks only for a token."""
    recorder = Recorder()
    client = make_client(make_settings(), observer=recorder)
    sign_in(client, okta)
    other = client.other_browser()
    sign_in(other, okta)
    other.close()
    paths = [event[1] for event in recorder.events if event[0] == "okta"]
    assert paths.count("/oauth2/default/.well-known/openid-configuration") == 1
    assert paths.count("/oauth2/default/v1/token") == 2
