"""A person in Chromium signs in with the magic link (the real Sign-In Widget) through nginx
in front of two uvicorn processes sharing Redis; an Okta admin signs them out everywhere
(FakeOkta sends Universal Logout to the app, as Okta would); the next page the browser
loads is the sign-in page, on whichever instance it lands.

Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_browser_signin import CHROME_ARGS, TIMEOUT, Steps, ask_for_email
from tests.integration._cluster import REDIS, REDIS_MISSING, Cluster, running_cluster
from tests.integration._stack import EMAIL

pytestmark = pytest.mark.e2e

UL_PATH = "/.well-known/okta-universal-logout"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not REDIS:  # Universal Logout needs the shared store
        if os.environ.get("OKTA_MW_REQUIRE_REDIS"):
            pytest.fail(f"OKTA_MW_REQUIRE_REDIS is set but {REDIS_MISSING}")
        pytest.skip(f"needs Redis: {REDIS_MISSING}")
    with running_cluster(
        "asgi", redis=True, env={"OKTA_MW_UNIVERSAL_LOGOUT_PATH": UL_PATH}
    ) as running:
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


def test_after_an_admin_signs_the_person_out_in_okta_the_next_page_is_sign_in(
    cluster: Cluster, browser: Any
) -> None:
    steps = Steps(cluster, "universal-logout")
    context = browser.new_context()
    page = context.new_page()
    email = ask_for_email(cluster, page, steps, "/reports?year=2026")
    tab = context.new_page()
    tab.goto(email["magic_link"])
    tab.wait_for_url(f"{cluster.app_url}/reports?year=2026", timeout=TIMEOUT)
    assert "Reports 2026" in tab.locator("h1").inner_text()
    for _ in cluster.instances:  # both instances know the session
        tab.goto(f"{cluster.app_url}/whoami")
        assert tab.evaluate("JSON.parse(document.body.innerText)")["user"] == EMAIL
    steps.shot(tab, "signed-in")
    old = [c for c in context.cookies() if c["name"] == "omw_session"]
    assert len(old) == 1

    # The admin's "Sign out of all sessions": Okta POSTs to the app, not to the browser.
    answer = cluster.fake.universal_logout(f"{cluster.app_url}{UL_PATH}", email=EMAIL)
    assert answer.status_code == 204, answer.text

    tab.goto(f"{cluster.app_url}/reports?year=2027")
    tab.wait_for_url(f"{cluster.app_url}/login?state=*", timeout=TIMEOUT)
    tab.locator('input[name="identifier"]').wait_for(timeout=TIMEOUT)  # the widget, ready
    steps.shot(tab, "sign-in-again")
    assert not [c for c in context.cookies() if c["name"] == "omw_session"]
    # The old cookie put back, at each instance on its own (the widget runs only on the
    # public origin, so the URL is what tells): sent to sign in there too.
    for instance in cluster.instances:
        context.add_cookies(old)
        tab.goto(f"{instance.url}/reports?year=2027")
        tab.wait_for_url(f"{instance.url}/login?state=*", timeout=TIMEOUT)
    context.close()
