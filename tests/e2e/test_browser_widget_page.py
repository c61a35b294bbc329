"""The login page in Chromium with the real Sign-In Widget 7.49 (issue 11): a French
browser gets the widget in French, fetched from where the page's CSP allows, and a magic
link still finishes when the widget's own storage has lost the sign-in.

The widget's files are served by FakeOkta under ``localhost`` while Okta is ``127.0.0.1``
and the app ``localhost:<other port>``: three origins, as with Okta's CDN, so the CSP's
``connect-src`` is put to the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from okta_magiclink_mw import _login_page
from tests.e2e.test_browser_signin import CHROME_ARGS, TIMEOUT, Steps, ask_for_email, type_code
from tests.integration._stack import Stack, running_stack

pytestmark = pytest.mark.e2e

# Collects what the CSP refused, before any of the page's own scripts run.
_RECORD_CSP_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running_stack(request.param, widget_host="localhost") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=[*CHROME_ARGS, "--lang=fr"]
        )
        yield chromium
        chromium.close()


class French:
    """A French browser on the login page, and what it saw: CSP reports, console, fetches."""

    def __init__(self, stack: Stack, browser: Any) -> None:
        self.context = browser.new_context(locale="fr-FR")
        self.context.add_init_script(_RECORD_CSP_VIOLATIONS)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.labels: list[tuple[str, int]] = []
        self.page.on("console", lambda msg: self.console.append(msg.text))
        self.page.on("response", self._saw)
        self.page.goto(f"{stack.app_url}/reports")
        self.page.wait_for_url(f"{stack.app_url}/login?state=*")

    def _saw(self, response: Any) -> None:
        if "/labels/json/" in response.url:
            self.labels.append((response.url, response.status))

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__csp")
        return found + [m for m in self.console if "Content Security Policy" in m]


def test_a_french_browser_gets_the_widget_in_french(stack: Stack, browser: Any) -> None:
    steps = Steps(stack, "french")
    french = French(stack, browser)
    page = french.page
    assert page.evaluate("navigator.language") == "fr-FR"
    page.get_by_text("Nom d'utilisateur").wait_for(timeout=TIMEOUT)  # login_fr.json
    page.locator('input[type="submit"][value="Suivant"]').wait_for(timeout=TIMEOUT)
    steps.shot(page, "username-in-french")
    widget_base = stack.fake.widget_js_url
    assert widget_base is not None
    assets = widget_base.replace("127.0.0.1", "localhost").rsplit("/js/", 1)[0]
    assert sorted(french.labels) == [
        (f"{assets}/labels/json/country_fr.json", 200),
        (f"{assets}/labels/json/login_fr.json", 200),
    ]
    assert french.violations() == []
    french.context.close()


def test_without_the_labels_folder_in_the_csp_the_widget_stays_english(
    stack: Stack, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the page as it was before issue 11 (connect-src without the labels
    folder). Chromium refuses the fetch, and the widget silently falls back to English."""
    monkeypatch.setattr(_login_page, "labels_source", lambda base: None)
    french = French(stack, browser)
    page = french.page
    page.locator('input[name="identifier"]').wait_for(timeout=TIMEOUT)
    page.get_by_text("Username").wait_for(timeout=TIMEOUT)
    assert page.get_by_text("Nom d'utilisateur").count() == 0
    assert any(v.startswith("connect-src") and "/labels/json/" in v for v in french.violations())
    french.context.close()


def test_a_magic_link_finishes_when_the_widget_storage_is_gone(stack: Stack, browser: Any) -> None:
    """The widget finishes a link only with its saved transaction (``emailVerifyCallback``,
    in localStorage); without it, it says to enter the code where the sign-in started. The
    page shows the code outside the widget too (7.49 also shows it inside, from its ``otp``
    option: ``EmailMagicLinkOTPTerminalView.js``), and the first tab finishes with it."""
    steps = Steps(stack, "lost-storage")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    email = ask_for_email(stack, page, steps, "/reports?year=2026")
    page.evaluate("localStorage.clear()")  # cleared, pruned, partitioned: all the same

    tab = context.new_page()
    tab.goto(email["magic_link"])
    tab.wait_for_url(f"{stack.app_url}/login?state=*&otp=*")
    widget = tab.locator("#okta-sign-in-widget")
    widget.get_by_text("Enter the OTP in your original").wait_for(timeout=TIMEOUT)
    steps.shot(tab, "code-beside-the-widget")
    assert tab.locator("#omw-otp-code").inner_text() == email["otp"]
    assert tab.locator("#omw-otp").is_visible()
    # Outside the widget: the box does not depend on the widget's rendering.
    assert tab.locator("#okta-sign-in-widget #omw-otp").count() == 0
    assert not [c for c in context.cookies() if c["name"] == "omw_session"]

    type_code(page, tab.locator("#omw-otp-code").inner_text(), f"{stack.app_url}/reports?year=2026")
    steps.shot(page, "signed-in")
    assert "Reports 2026" in page.locator("h1").inner_text()
    context.close()
