"""A person in Chromium, with the real Sign-In Widget, signs in and out through nginx in
front of two uvicorn processes of the demo app; a copy of the old session cookie is then
refused everywhere (that last part needs the shared Redis store of issue 8).

Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_browser_signin import CHROME_ARGS, TIMEOUT, Steps, ask_for_email
from tests.integration._cluster import REDIS, REDIS_MISSING, Cluster, running_cluster
from tests.integration._stack import EMAIL, NAME

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster("asgi", redis=REDIS) as running:
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


def test_sign_in_and_out_through_nginx_then_the_old_cookie_is_refused(
    cluster: Cluster, browser: Any
) -> None:
    steps = Steps(cluster, "cluster")
    context = browser.new_context()
    page = context.new_page()
    email = ask_for_email(cluster, page, steps, "/reports?year=2026")
    tab = context.new_page()
    tab.goto(email["magic_link"])
    tab.wait_for_url(f"{cluster.app_url}/reports?year=2026", timeout=TIMEOUT)
    steps.shot(tab, "signed-in")
    assert "Reports 2026" in tab.locator("h1").inner_text()
    assert NAME in tab.content()
    pids = set()
    for _ in cluster.instances:  # the session works on both instances, through nginx
        tab.goto(f"{cluster.app_url}/whoami")
        seen = tab.evaluate("JSON.parse(document.body.innerText)")
        assert seen["user"] == EMAIL
        pids.add(seen["pid"])
    assert pids == set(cluster.pids())
    old = [c for c in context.cookies() if c["name"] == "omw_session"]
    assert len(old) == 1

    tab.goto(f"{cluster.app_url}/")
    tab.get_by_role("button", name="Sign out").click()
    tab.wait_for_url(f"{cluster.app_url}/login?state=*", timeout=TIMEOUT)
    tab.locator('input[name="identifier"]').wait_for(timeout=TIMEOUT)
    steps.shot(tab, "signed-out")
    assert not [c for c in context.cookies() if c["name"] == "omw_session"]

    # The copied cookie, put back: nginx and each instance directly (cookies ignore ports).
    let_through = []
    for base in (cluster.app_url, *(instance.url for instance in cluster.instances)):
        context.add_cookies(old)
        tab.goto(f"{base}/whoami")
        if tab.url.startswith(f"{base}/login?state="):  # refused: sent to sign in
            continue
        assert tab.url == f"{base}/whoami"
        assert tab.evaluate("JSON.parse(document.body.innerText)")["user"] == EMAIL
        let_through.append(base)
    steps.shot(tab, "old-cookie")
    context.close()
    if REDIS:
        assert let_through == []
    else:
        # The baseline: per-process sign-outs leave the other instance open.
        assert let_through, "refused everywhere without a shared store: turn the Redis tests on"
        pytest.xfail(f"needs Redis to refuse the old cookie everywhere: {REDIS_MISSING}")
