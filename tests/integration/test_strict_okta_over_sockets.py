"""The app against a FakeOkta set up wrong one way at a time, over real sockets: what a
person meets on a real org so set up. Each test breaks one setting and puts it back."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from okta_magiclink_mw.testing import EVERYONE

from ._stack import CLIENT_ID, NAME, Stack, okta_hop, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running_stack(request.param) as running:
        yield running


def test_without_the_email_verify_callback_uri_the_link_ends_at_okta_and_the_tab_finishes(
    stack: Stack,
) -> None:
    client = stack.fake.clients[CLIENT_ID]
    callback, client.email_verify_callback_uri = client.email_verify_callback_uri, None
    try:
        browser = stack.browser()
        widget = browser.open_login("/reports?year=2026")
        email = widget.request_email()
        page = browser.get(email["magic_link"])  # the hop answers itself: Okta's own page
        assert page.status_code == 200
        assert page.url.host == httpx.URL(stack.okta_url).host
        assert "Return to the original tab or window" in page.text
        assert email["otp"] not in page.text
        # The original tab's next poll carries the interaction code; the widget goes on.
        done = widget.poll()
        assert done.status_code == 200, done.text
        landing = browser.get(widget.callback_from(done))
        assert (landing.status_code, landing.headers["location"]) == (302, "/reports?year=2026")
        assert NAME in browser.get("/reports?year=2026").text
    finally:
        client.email_verify_callback_uri = callback


def test_with_it_the_link_reaches_the_app_with_state_and_otp(stack: Stack) -> None:
    browser = stack.browser()
    widget = browser.open_login("/")
    email = widget.request_email()
    target = okta_hop(email["magic_link"])
    assert target == (
        f"{stack.app_url}/login/callback?state={widget.config['state']}&otp={email['otp']}"
    )


def test_a_user_not_assigned_is_told_in_the_widget_and_the_app_sees_nothing(
    stack: Stack,
) -> None:
    client = stack.fake.clients[CLIENT_ID]
    client.assigned_groups.discard(EVERYONE)
    try:
        browser = stack.browser()
        widget = browser.open_login("/")
        sent = len(stack.fake.outbox)
        refused = widget.identify()
        assert refused.status_code == 400
        [message] = refused.json()["messages"]["value"]
        assert message["i18n"]["key"] == "idx.error.user.not.assigned.to.app"
        assert len(stack.fake.outbox) == sent
        assert browser.get("/").status_code == 302  # still not signed in
    finally:
        client.assigned_groups.add(EVERYONE)


def test_an_unregistered_sign_out_uri_ends_on_okta_s_error_page(stack: Stack) -> None:
    client = stack.fake.clients[CLIENT_ID]
    registered = list(client.post_logout_redirect_uris)
    client.post_logout_redirect_uris.clear()
    try:
        browser = stack.browser()
        widget = browser.open_login("/")
        browser.get(widget.finish(widget.request_email()["otp"]))
        out = browser.http.post("/logout", headers={"Origin": stack.app_url})
        assert out.status_code == 303
        okta = browser.get(out.headers["location"])
        assert okta.status_code == 400
        assert "must be a Logout redirect URI in the client app settings" in okta.text
        assert browser.get("/").status_code == 302  # signed out of the app all the same
    finally:
        client.post_logout_redirect_uris[:] = registered
