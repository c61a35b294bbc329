"""A person opens an app that is not Python (a shell script under busybox httpd) through
real nginx running examples/forward_auth/nginx.conf, signs in with the magic link in
Chromium with the real Okta Sign-In Widget, and the app greets them by the email nginx
passed along. Someone outside the allowed group gets the forward-auth server's 403 page;
sign-out works. (The forged-header tests are HTTP-only: tests/forward_auth.)

Screenshots of every step go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.forward_auth._gateway import LEGACY_PAGE, OUTSIDER, Gateway, running_gateway
from tests.integration._stack import EMAIL

from .test_browser_signin import ARTIFACTS, CHROME_ARGS, TIMEOUT, retry

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with running_gateway("nginx") as running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROME_ARGS
        )
        yield browser
        browser.close()


class Steps:
    """Screenshots named after the scenario and the step."""

    def __init__(self, scenario: str) -> None:
        self.prefix = f"e2e-forward-auth-nginx-{scenario}"
        self.count = 0
        ARTIFACTS.mkdir(exist_ok=True)

    def shot(self, page: Any, what: str) -> None:
        from playwright.sync_api import Error as PlaywrightError

        self.count += 1
        path = str(ARTIFACTS / f"{self.prefix}-{self.count}-{what}.png")
        try:
            page.screenshot(path=path)
        except PlaywrightError:  # a page between two documents: once more, when loaded
            page.wait_for_load_state(timeout=TIMEOUT)
            page.screenshot(path=path)


def sign_in_with_the_magic_link(gateway: Gateway, context: Any, steps: Steps, email: str) -> Any:
    """Open the legacy page, ask for the email, click its link in a new tab: that tab."""
    page = context.new_page()
    sent = len(gateway.fake.outbox)
    page.goto(f"{gateway.app_url}{LEGACY_PAGE}?from=e2e")
    page.wait_for_url(f"{gateway.app_url}/login?*", timeout=TIMEOUT)
    identifier = page.locator('input[name="identifier"]')
    identifier.wait_for(timeout=TIMEOUT)
    steps.shot(page, "username")
    send = page.locator('input[type="submit"][value="Send me an email"]')
    retry(
        lambda: (identifier.fill(email), page.locator('input[type="submit"]').click()),
        lambda t: send.wait_for(timeout=t),
    )
    send.click()
    page.get_by_text("Enter a verification code instead").wait_for(timeout=TIMEOUT)
    steps.shot(page, "check-your-email")
    assert len(gateway.fake.outbox) == sent + 1
    message = gateway.fake.outbox[-1].as_json()
    assert message["to"] == email
    tab = context.new_page()
    tab.goto(message["magic_link"])
    tab.wait_for_url(f"{gateway.app_url}{LEGACY_PAGE}?from=e2e", timeout=TIMEOUT)
    page.close()
    return tab


def test_the_legacy_page_greets_the_person_by_the_email_nginx_passed(
    gateway: Gateway, chromium: Any
) -> None:
    steps = Steps("greeting")
    context = chromium.new_context()
    tab = sign_in_with_the_magic_link(gateway, context, steps, EMAIL)
    steps.shot(tab, "legacy-page")
    assert tab.locator("#greeting").inner_text() == f"Hello, {EMAIL}!"
    assert tab.locator("#email").inner_text() == EMAIL
    assert "omw_session" in {c["name"] for c in context.cookies()}
    context.close()


def test_a_person_outside_the_allowed_group_gets_the_403_page(
    gateway: Gateway, chromium: Any
) -> None:
    steps = Steps("forbidden")
    context = chromium.new_context()
    responses: list[int] = []
    context.on("response", lambda r: responses.append(r.status))
    tab = sign_in_with_the_magic_link(gateway, context, steps, OUTSIDER)
    steps.shot(tab, "forbidden")
    text = tab.locator("body").inner_text()
    assert OUTSIDER in text
    assert "does not have access" in text
    assert "Hello," not in text
    assert 403 in responses
    context.close()


def test_sign_out_from_the_legacy_page(gateway: Gateway, chromium: Any) -> None:
    steps = Steps("sign-out")
    context = chromium.new_context()
    tab = sign_in_with_the_magic_link(gateway, context, steps, EMAIL)
    steps.shot(tab, "signed-in")
    tab.get_by_role("button", name="Sign out").click()
    # Okta's logout sends the browser back to the app, which asks it to sign in again.
    tab.wait_for_url(f"{gateway.app_url}/login?*", timeout=TIMEOUT)
    tab.locator('input[name="identifier"]').wait_for(timeout=TIMEOUT)
    steps.shot(tab, "signed-out")
    assert not [c for c in context.cookies() if c["name"] == "omw_session"]
    tab.goto(f"{gateway.app_url}{LEGACY_PAGE}")
    tab.wait_for_url(f"{gateway.app_url}/login?*", timeout=TIMEOUT)
    context.close()


@pytest.mark.parametrize(
    ("who", "button"),
    [
        (OUTSIDER, "Use another account"),  # the 403 page's two buttons
        (OUTSIDER, "Sign out"),
        (EMAIL, "Sign out"),  # the middleware's own sign-out page, GET /logout
    ],
    ids=["403-use-another-account", "403-sign-out", "logout-page"],
)
def test_the_sign_out_buttons_of_the_servers_pages(
    gateway: Gateway, chromium: Any, who: str, button: str
) -> None:
    steps = Steps(f"buttons-{button.lower().replace(' ', '-')}-{who.split('@')[0]}")
    context = chromium.new_context()
    tab = sign_in_with_the_magic_link(gateway, context, steps, who)
    if who == EMAIL:
        tab.goto(f"{gateway.app_url}/logout")
    steps.shot(tab, "before-click")
    blocked: list[str] = []
    tab.on("console", lambda m: blocked.append(m.text) if "form-action" in m.text else None)
    tab.get_by_role("button", name=button).click()
    # Whichever comes first: the sign-in page, or Chromium saying it blocked the way there
    # (waiting for the page alone would take the whole timeout when it is blocked).
    signed_out = f"{gateway.app_url}/login?"
    for _ in range(TIMEOUT // 100):
        if blocked or tab.url.startswith(signed_out):
            break
        tab.wait_for_timeout(100)
    assert not blocked, blocked
    tab.locator('input[name="identifier"]').wait_for(timeout=TIMEOUT)
    # After the page is drawn: a screenshot taken mid-navigation can fail in Chromium.
    steps.shot(tab, "after-click")
    assert not [c for c in context.cookies() if c["name"] == "omw_session"]
    context.close()
