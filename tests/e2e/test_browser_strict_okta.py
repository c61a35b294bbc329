"""The real widget in Chromium against FakeOkta set up wrong one way at a time: what a person
sees on a real org with that mistake. Each test breaks one setting, then puts it back.

The texts are the widget's own (7.49, ``dist/labels/json/login.json``): a blocked CORS
request becomes ``oform.error.unexpected`` (``src/v2/client/formatError.ts``,
``formatIDXError``), an OAuth error from ``/v1/interact`` ``oie.configuration.error``
(``isOIEConfigurationError``), and IDX messages are shown by their i18n key
(``src/v2/ion/i18nUtils.js``, ``getMessage``; ``security.access_denied`` is mapped to
``errors.E0000006``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from okta_magiclink_mw.testing import EVERYONE
from tests.e2e.test_browser_signin import (
    CHROME_ARGS,
    TIMEOUT,
    Steps,
    ask_for_email,
    new_context,
)
from tests.integration._stack import CLIENT_ID, EMAIL, Stack, running_stack

pytestmark = pytest.mark.e2e

INTERACT = "/oauth2/default/v1/interact"
#: The pictures of docs/magic-link.md, by step (OKTA_MW_DOCS_SCREENSHOTS).
OKTA_HOSTED = {"okta-page": "okta-hosted-1-okta-page"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack("asgi") as running:
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


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def widget_says(page: Any, text: str) -> str:
    """Wait for ``text`` inside the widget; return everything the widget shows."""
    widget = page.locator("#okta-sign-in")
    widget.get_by_text(text).wait_for(timeout=TIMEOUT)
    return str(widget.inner_text())


def identify(stack: Stack, page: Any) -> None:
    page.goto(f"{stack.app_url}/reports?year=2026")
    page.locator('input[name="identifier"]').fill(EMAIL)
    page.locator('input[type="submit"]').click()


def test_a_missing_trusted_origin_makes_the_widget_fail_visibly(stack: Stack, page: Any) -> None:
    steps = Steps(stack, "no-trusted-origin")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    entry = stack.fake.trusted_origins[stack.app_url]
    stack.fake.remove_trusted_origin(stack.app_url)
    try:
        page.goto(f"{stack.app_url}/reports?year=2026")
        shown = widget_says(page, "There was an unexpected internal error. Please try again.")
        steps.shot(page, "widget-error")
    finally:
        stack.fake.trusted_origins[stack.app_url] = entry
    assert page.locator('input[name="identifier"]').count() == 0  # no way to go on
    assert "Back to sign in" in shown
    assert any("blocked by CORS policy" in e for e in errors), errors
    assert stack.fake.request_count(INTERACT, "POST") == 0  # the browser never sent it


def test_without_the_interaction_code_grant_the_widget_says_misconfiguration(
    stack: Stack, page: Any
) -> None:
    steps = Steps(stack, "no-interaction-code-grant")
    client = stack.fake.clients[CLIENT_ID]
    client.grant_types.remove("interaction_code")
    try:
        page.goto(f"{stack.app_url}/reports?year=2026")
        widget_says(page, "Potential misconfiguration detected.")
        steps.shot(page, "widget-error")
    finally:
        client.grant_types.append("interaction_code")
    assert page.locator('input[name="identifier"]').count() == 0


def _sees_at_identify(
    stack: Stack, page: Any, scenario: str, breaks: Callable[[], Callable[[], None]], text: str
) -> None:
    steps = Steps(stack, scenario)
    sent = len(stack.fake.outbox)
    restore = breaks()
    try:
        identify(stack, page)
        shown = widget_says(page, text)
        steps.shot(page, "widget-message")
    finally:
        restore()
    assert len(stack.fake.outbox) == sent  # no email
    assert "Send me an email" not in shown
    assert page.url.startswith(f"{stack.app_url}/login?")  # never sent to the callback


def test_a_user_not_assigned_sees_the_widget_s_message(stack: Stack, page: Any) -> None:
    client = stack.fake.clients[CLIENT_ID]

    def unassign() -> Callable[[], None]:
        client.assigned_groups.discard(EVERYONE)
        return lambda: client.assigned_groups.add(EVERYONE)

    _sees_at_identify(
        stack, page, "not-assigned", unassign, "User is not assigned to this application."
    )


def test_a_user_denied_by_the_app_s_policy_sees_the_widget_s_message(
    stack: Stack, page: Any
) -> None:
    client = stack.fake.clients[CLIENT_ID]

    def deny() -> Callable[[], None]:
        stack.fake.deny_access(CLIENT_ID, email=EMAIL)
        return client.denied_users.clear

    _sees_at_identify(
        stack,
        page,
        "access-denied",
        deny,
        "You do not have permission to perform the requested action",
    )


def test_without_the_email_verify_callback_uri_the_link_ends_at_okta_and_the_tab_signs_in(
    stack: Stack, browser: Any
) -> None:
    steps = Steps(stack, "okta-hosted-link", docs=OKTA_HOSTED)
    client = stack.fake.clients[CLIENT_ID]
    callback, client.email_verify_callback_uri = client.email_verify_callback_uri, None
    context = new_context(browser)
    try:
        first = context.new_page()
        email = ask_for_email(stack, first, steps, "/reports?year=2026")
        tab = context.new_page()
        tab.goto(email["magic_link"])
        tab.get_by_text("Return to the original tab or window").wait_for(timeout=TIMEOUT)
        steps.shot(tab, "okta-page")
        assert tab.url.startswith(f"{stack.okta_url}/email/verify/")
        first.wait_for_url(f"{stack.app_url}/reports?year=2026", timeout=TIMEOUT)
        steps.shot(first, "signed-in")
        assert "Reports 2026" in first.locator("h1").inner_text()
    finally:
        client.email_verify_callback_uri = callback
        context.close()
