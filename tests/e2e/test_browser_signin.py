"""A person signs in through the middleware in Chromium, with the real Okta Sign-In Widget
served by FakeOkta: the demo app on uvicorn (ASGI) and a Flask app on waitress (WSGI).

Screenshots of every step go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration._stack import EMAIL, NAME, Stack, running_stack

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT = 15_000


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running_stack(request.param) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROME_ARGS
        )
        yield chromium
        chromium.close()


class Steps:
    """Screenshots named after the scenario and the step."""

    def __init__(self, stack: Stack, scenario: str) -> None:
        self.prefix = f"e2e-{stack.kind}-{scenario}"
        self.count = 0
        ARTIFACTS.mkdir(exist_ok=True)

    def shot(self, page: Any, what: str) -> None:
        self.count += 1
        page.screenshot(path=str(ARTIFACTS / f"{self.prefix}-{self.count}-{what}.png"))


def retry(action: Any, until: Any, attempts: int = 3) -> None:
    """The widget redraws its form when a poll answers, dropping what was typed: retry."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(attempts):
        action()
        try:
            until(5_000)
            return
        except PlaywrightTimeout:
            continue
    until(TIMEOUT)


def ask_for_email(stack: Stack, page: Any, steps: Steps, path: str) -> dict[str, Any]:
    """From a protected page to "check your email"; return the email FakeOkta sent."""
    sent = len(stack.fake.outbox)
    page.goto(f"{stack.app_url}{path}")
    page.wait_for_url(f"{stack.app_url}/login?state=*")
    identifier = page.locator('input[name="identifier"]')
    identifier.wait_for(timeout=TIMEOUT)
    steps.shot(page, "username")
    send = page.locator('input[type="submit"][value="Send me an email"]')
    retry(
        lambda: (identifier.fill(EMAIL), page.locator('input[type="submit"]').click()),
        lambda t: send.wait_for(timeout=t),
    )
    steps.shot(page, "send-me-an-email")
    send.click()
    page.get_by_text("Enter a verification code instead").wait_for(timeout=TIMEOUT)
    steps.shot(page, "check-your-email")
    assert len(stack.fake.outbox) == sent + 1
    return dict(stack.fake.outbox[-1].as_json())


def type_code(page: Any, otp: str, expected_url: str) -> None:
    page.get_by_text("Enter a verification code instead").click()
    passcode = page.locator('input[name="credentials.passcode"]')
    retry(
        lambda: (passcode.fill(otp), page.locator('input[type="submit"]').click()),
        lambda t: page.wait_for_url(expected_url, timeout=t),
    )


def test_magic_link_in_a_new_tab_signs_in_and_lands_on_the_page_asked_for(
    stack: Stack, browser: Any
) -> None:
    steps = Steps(stack, "magic-link")
    context = browser.new_context()
    page = context.new_page()
    email = ask_for_email(stack, page, steps, "/reports?year=2026")
    tab = context.new_page()
    tab.goto(email["magic_link"])
    tab.wait_for_url(f"{stack.app_url}/reports?year=2026", timeout=TIMEOUT)
    steps.shot(tab, "signed-in")
    assert "Reports 2026" in tab.locator("h1").inner_text()
    assert NAME in tab.content()
    cookie_names = {c["name"] for c in context.cookies()}
    assert "omw_session" in cookie_names
    context.close()


def test_link_in_another_browser_shows_the_code_which_finishes_in_the_first_tab(
    stack: Stack, browser: Any
) -> None:
    steps = Steps(stack, "other-browser")
    first = browser.new_context()
    page = first.new_page()
    email = ask_for_email(stack, page, steps, "/reports?year=2026")

    other = browser.new_context()
    elsewhere = other.new_page()
    elsewhere.goto(email["magic_link"])
    steps.shot(elsewhere, "enter-code-page")
    assert elsewhere.locator("#otp").inner_text() == email["otp"]
    assert not [c for c in other.cookies() if c["name"] == "omw_session"]

    type_code(page, email["otp"], f"{stack.app_url}/reports?year=2026")
    steps.shot(page, "signed-in")
    assert "Reports 2026" in page.locator("h1").inner_text()
    first.close()
    other.close()


def test_sign_out(stack: Stack, browser: Any) -> None:
    steps = Steps(stack, "sign-out")
    context = browser.new_context()
    page = context.new_page()
    email = ask_for_email(stack, page, steps, "/")
    type_code(page, email["otp"], f"{stack.app_url}/")
    steps.shot(page, "home")
    page.get_by_role("button", name="Sign out").click()
    # Okta's logout sends the browser back to the app, which asks it to sign in again.
    page.wait_for_url(f"{stack.app_url}/login?state=*", timeout=TIMEOUT)
    page.locator('input[name="identifier"]').wait_for(timeout=TIMEOUT)
    steps.shot(page, "signed-out")
    assert not [c for c in context.cookies() if c["name"] == "omw_session"]
    context.close()
