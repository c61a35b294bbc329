"""A person signs in through the middleware in Chromium, with the real Okta Sign-In Widget
served by FakeOkta: the demo app on uvicorn (ASGI) and a Flask app on waitress (WSGI).

Screenshots of every step go to test-artifacts/. With ``OKTA_MW_DOCS_SCREENSHOTS=<dir>``
(``make docs-screenshots``) the steps that docs/magic-link.md shows are also written to that
folder under stable names, from the ASGI run only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

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
#: A folder for the pictures of docs/magic-link.md (``make docs-screenshots``); unset: none.
DOCS_SCREENSHOTS = "OKTA_MW_DOCS_SCREENSHOTS"
#: Every browser window of these tests: docs-sized, so the pictures are small and stable.
VIEWPORT = {"width": 900, "height": 640}


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


def new_context(browser: Any) -> Any:
    """A browser window of the docs' size at device scale 1: the same pictures on every
    machine, for test-artifacts/ and docs/img/ alike."""
    return browser.new_context(viewport=VIEWPORT, device_scale_factor=1)


# Resolves once the page is drawn: fonts and every image (CSS backgrounds too, such as the
# widget's checkbox and beacon) loaded, then the DOM unchanged for a few frames, since the
# widget grows its beacon in JavaScript, which ``animations="disabled"`` does not stop.
_SETTLED = """async () => {
  await document.fonts.ready;
  const urls = new Set([...document.images].map((img) => img.currentSrc || img.src));
  for (const el of document.querySelectorAll("*")) {
    for (const m of getComputedStyle(el).backgroundImage.matchAll(/url\\("?([^")]+)"?\\)/g)) {
      urls.add(m[1]);
    }
  }
  await Promise.all([...urls].filter(Boolean).map((src) => new Promise((done) => {
    const img = new Image();
    img.onload = img.onerror = done;
    img.src = src;
  })));
  let last = "", calm = 0;
  for (let frame = 0; frame < 300 && calm < 5; frame++) {
    await new Promise((next) => requestAnimationFrame(next));
    const now = document.body ? document.body.outerHTML : "";
    calm = now === last ? calm + 1 : 0;
    last = now;
  }
}"""


def capture(page: Any) -> bytes:
    """A PNG of the page once drawn (``_SETTLED``), with CSS animations run to their end:
    the same picture every time. Chromium cannot capture a page between two documents (a
    redirect or a reload under way): then once more, when the next one has loaded."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.evaluate(_SETTLED)
        return bytes(page.screenshot(type="png", animations="disabled"))
    except PlaywrightError:
        page.wait_for_load_state(timeout=TIMEOUT)
        page.evaluate(_SETTLED)
        return bytes(page.screenshot(type="png", animations="disabled"))


class Steps:
    """Screenshots named after the scenario and the step.

    ``docs`` maps a step to the name of its picture in docs/magic-link.md; those are also
    written to the folder ``OKTA_MW_DOCS_SCREENSHOTS`` names, when it is set, from the
    ASGI run (the WSGI one looks the same).
    """

    def __init__(self, stack: Stack, scenario: str, docs: Mapping[str, str] | None = None) -> None:
        self.prefix = f"e2e-{stack.kind}-{scenario}"
        self.count = 0
        ARTIFACTS.mkdir(exist_ok=True)
        folder = os.environ.get(DOCS_SCREENSHOTS)
        self.docs_folder = Path(folder) if folder and stack.kind == "asgi" else None
        self.docs = dict(docs or {})

    def shot(self, page: Any, what: str) -> None:
        self.count += 1
        png = capture(page)
        (ARTIFACTS / f"{self.prefix}-{self.count}-{what}.png").write_bytes(png)
        if self.docs_folder is not None and what in self.docs:
            self.docs_folder.mkdir(parents=True, exist_ok=True)
            (self.docs_folder / f"{self.docs[what]}.png").write_bytes(png)


#: The pictures of docs/magic-link.md, by step.
SAME_BROWSER = {
    "username": "same-browser-1-sign-in-page",
    "send-me-an-email": "same-browser-2-send-me-an-email",
    "check-your-email": "same-browser-3-check-your-email",
    "the-email": "same-browser-4-the-email",
    "signed-in": "same-browser-5-signed-in",
    "first-tab": "same-browser-6-first-tab",
}
OTHER_BROWSER = {
    "enter-code-page": "other-browser-1-enter-code-page",
    "code-typed": "other-browser-2-code-typed",
}
EXPIRED_LINK = {"widget-says": "expired-link-1-widget-says"}
OKTA_ERROR = {"error-page": "okta-error-1-error-page", "start-again": "okta-error-2-start-again"}


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


def type_code(page: Any, otp: str, expected_url: str, steps: Steps | None = None) -> None:
    page.get_by_text("Enter a verification code instead").click()
    passcode = page.locator('input[name="credentials.passcode"]')

    def type_and_submit() -> None:
        passcode.fill(otp)
        if steps is not None:
            steps.shot(page, "code-typed")
        page.locator('input[type="submit"]').click()

    retry(type_and_submit, lambda t: page.wait_for_url(expected_url, timeout=t))


def test_magic_link_in_a_new_tab_signs_in_and_lands_on_the_page_asked_for(
    stack: Stack, browser: Any
) -> None:
    steps = Steps(stack, "magic-link", docs=SAME_BROWSER)
    context = new_context(browser)
    page = context.new_page()
    email = ask_for_email(stack, page, steps, "/reports?year=2026")
    tab = context.new_page()
    tab.goto(f"{stack.okta_url}/outbox")  # FakeOkta's mailbox: the newest email first
    link = tab.locator("a.magic-link").first
    assert link.get_attribute("href") == email["magic_link"]
    assert email["otp"] in tab.locator(".mail").first.inner_text()
    steps.shot(tab, "the-email")
    link.click()
    tab.wait_for_url(f"{stack.app_url}/reports?year=2026", timeout=TIMEOUT)
    steps.shot(tab, "signed-in")
    assert "Reports 2026" in tab.locator("h1").inner_text()
    assert NAME in tab.content()
    cookie_names = {c["name"] for c in context.cookies()}
    assert "omw_session" in cookie_names
    # The first tab's next poll learns that the sign-in went on elsewhere (every 4 s).
    page.get_by_text("Flow continued in a new tab.").wait_for(timeout=TIMEOUT)
    steps.shot(page, "first-tab")
    context.close()


def test_link_in_another_browser_shows_the_code_which_finishes_in_the_first_tab(
    stack: Stack, browser: Any
) -> None:
    steps = Steps(stack, "other-browser", docs=OTHER_BROWSER)
    first = new_context(browser)
    page = first.new_page()
    email = ask_for_email(stack, page, steps, "/reports?year=2026")

    other = new_context(browser)
    elsewhere = other.new_page()
    elsewhere.goto(email["magic_link"])
    steps.shot(elsewhere, "enter-code-page")
    assert elsewhere.locator("#otp").inner_text() == email["otp"]
    assert not [c for c in other.cookies() if c["name"] == "omw_session"]

    type_code(page, email["otp"], f"{stack.app_url}/reports?year=2026", steps)
    steps.shot(page, "signed-in")
    assert "Reports 2026" in page.locator("h1").inner_text()
    first.close()
    other.close()


def test_an_expired_link_in_the_same_browser_signs_nobody_in(stack: Stack, browser: Any) -> None:
    steps = Steps(stack, "expired-link", docs=EXPIRED_LINK)
    context = new_context(browser)
    page = context.new_page()
    email = ask_for_email(stack, page, steps, "/reports?year=2026")
    stack.clock.offset = 6 * 60  # Okta's email codes live 5 minutes
    try:
        tab = context.new_page()
        with tab.expect_response(lambda r: r.url.endswith("/idp/idx/challenge/answer")) as answer:
            tab.goto(email["magic_link"])  # the widget tries the link's code at once
        assert answer.value.status == 400  # Okta refuses it
        # No message: the widget's next poll draws the email challenge again, as before.
        widget = tab.locator("#okta-sign-in")
        widget.get_by_text("Enter a verification code instead").wait_for(timeout=TIMEOUT)
        steps.shot(tab, "widget-says")
    finally:
        stack.clock.offset = 0.0
    assert tab.url.startswith(f"{stack.app_url}/login?")
    assert tab.locator("#omw-otp-code").inner_text() == email["otp"]
    assert not [c for c in context.cookies() if c["name"] == "omw_session"]
    context.close()


def test_an_error_from_okta_shows_a_page_with_a_way_to_start_again(
    stack: Stack, browser: Any
) -> None:
    steps = Steps(stack, "okta-error", docs=OKTA_ERROR)
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{stack.app_url}/reports?year=2026")
    page.wait_for_url(f"{stack.app_url}/login?state=*", timeout=TIMEOUT)
    state = parse_qs(urlsplit(page.url).query)["state"][0]
    query = urlencode(
        {
            "error": "access_denied",
            "error_description": "The resource owner or authorization server denied the request.",
            "state": state,
        }
    )
    answer = page.goto(f"{stack.app_url}/login/callback?{query}")
    assert answer is not None
    assert answer.status == 403  # access_denied
    steps.shot(page, "error-page")
    assert page.locator("h1").inner_text() == "Sign-in could not be completed"
    text = page.locator("body").inner_text()
    assert "Okta did not allow this sign-in." in text
    assert "Okta said: The resource owner or authorization server denied the request." in text
    assert "Reference: " in text
    page.get_by_role("link", name="Sign in again").click()
    page.wait_for_url(f"{stack.app_url}/login?state=*", timeout=TIMEOUT)
    page.locator('input[name="identifier"]').wait_for(timeout=TIMEOUT)
    steps.shot(page, "start-again")
    assert parse_qs(urlsplit(page.url).query)["state"][0] != state  # a fresh sign-in
    assert not [c for c in context.cookies() if c["name"] == "omw_session"]
    context.close()


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
