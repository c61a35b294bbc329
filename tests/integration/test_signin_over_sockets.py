"""The whole magic-link sign-in over real sockets: FakeOkta and the app in real servers
(uvicorn for the ASGI demo app, waitress for a Flask app), a client playing the browser
and the widget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._stack import NAME, Browser, Stack, okta_hop, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running_stack(request.param) as running:
        yield running


@pytest.fixture(autouse=True)
def _real_time(stack: Stack) -> Iterator[None]:
    yield
    stack.clock.offset = 0.0


def signed_in(browser: Browser, path: str = "/reports?year=2026") -> str:
    page = browser.get(path)
    assert page.status_code == 200, page.text
    assert NAME in page.text or "ada@example.com" in page.text
    return page.text


def test_typed_code_signs_in_and_returns_to_the_page_asked_for(stack: Stack) -> None:
    browser = stack.browser()
    widget = browser.open_login("/reports?year=2026")
    email = widget.request_email()
    posts = stack.token_posts()
    landing = browser.get(widget.finish(email["otp"]))
    assert landing.status_code == 302
    assert landing.headers["location"] == "/reports?year=2026"
    assert stack.token_posts() == posts + 1
    assert "Reports 2026" in signed_in(browser)


def test_magic_link_in_the_same_browser_hands_the_code_to_the_widget(stack: Stack) -> None:
    browser = stack.browser()
    widget = browser.open_login("/reports?year=2026")
    email = widget.request_email()
    state = widget.config["state"]
    link = okta_hop(email["magic_link"])
    assert link.startswith(f"{stack.app_url}/login/callback?")

    click = browser.get(link)
    assert click.status_code == 302
    assert click.headers["location"] == f"/login?state={state}&otp={email['otp']}"
    second_tab = browser.widget_at(click.headers["location"])
    assert second_tab.config["otp"] == email["otp"]
    assert second_tab.config["state"] == state
    assert second_tab.config["codeChallenge"] == widget.config["codeChallenge"]
    second_tab.resume(widget.interaction_handle)
    landing = browser.get(second_tab.finish(second_tab.config["otp"]))
    assert landing.headers["location"] == "/reports?year=2026"
    signed_in(browser)


def test_magic_link_in_another_browser_shows_the_code_and_the_first_tab_finishes(
    stack: Stack,
) -> None:
    first = stack.browser()
    widget = first.open_login("/reports?year=2026")
    email = widget.request_email()

    other = stack.browser()
    page = other.get(okta_hop(email["magic_link"]))
    assert page.status_code == 200
    assert email["otp"] in page.text
    assert "first tab" in page.text
    assert "set-cookie" not in page.headers
    assert other.get("/reports").status_code == 302  # the other browser is not signed in

    landing = first.get(widget.finish(email["otp"]))
    assert landing.status_code == 302
    signed_in(first)


def test_expired_code_is_refused_by_okta_and_nobody_is_signed_in(stack: Stack) -> None:
    browser = stack.browser()
    widget = browser.open_login("/")
    email = widget.request_email()
    stack.clock.offset = 6 * 60  # Okta's email codes live 5 minutes
    answer = widget.answer(email["otp"])
    assert answer.status_code >= 400
    assert "successWithInteractionCode" not in answer.json()
    assert browser.get("/").status_code == 302


def test_replayed_magic_link_after_sign_in(stack: Stack) -> None:
    browser = stack.browser()
    widget = browser.open_login("/reports?year=2026")
    email = widget.request_email()
    browser.get(widget.finish(email["otp"]))
    signed_in(browser)

    link = okta_hop(email["magic_link"])
    again = browser.get(link)  # the sign-in is over: just go home
    assert (again.status_code, again.headers["location"]) == (302, "/")
    elsewhere = stack.browser().get(link)
    assert elsewhere.status_code == 200  # the "type the code" page, which Okta will refuse
    assert "set-cookie" not in elsewhere.headers
    replay = stack.browser().open_login("/")
    replay.request_email()
    assert replay.answer(email["otp"]).status_code >= 400  # single use at Okta


def test_replayed_interaction_code(stack: Stack) -> None:
    browser = stack.browser()
    widget = browser.open_login("/reports?year=2026")
    callback = widget.finish(widget.request_email()["otp"])
    assert browser.get(callback).status_code == 302
    posts = stack.token_posts()

    # Another browser replaying the URL holds no such sign-in: refused before Okta is asked.
    stolen = stack.browser().get(callback)
    assert stolen.status_code == 403
    assert stack.token_posts() == posts
    # The same browser reloading it is already signed in.
    reload = browser.get(callback)
    assert (reload.status_code, reload.headers["location"]) == (302, "/")
    assert stack.token_posts() == posts

    # The code grafted onto a new sign-in of an attacker's browser: Okta refuses it.
    attacker = stack.browser()
    fresh = attacker.open_login("/")
    grafted = callback.replace(widget.config["state"], fresh.config["state"])
    refused = attacker.get(grafted)
    assert refused.status_code == 400
    assert "Sign in again" in refused.text
    assert stack.token_posts() == posts + 1
    assert attacker.get("/").status_code == 302


def test_logout_ends_the_session_here_and_at_okta(stack: Stack) -> None:
    browser = stack.browser()
    widget = browser.open_login("/")
    browser.get(widget.finish(widget.request_email()["otp"]))
    signed_in(browser, "/")
    stolen_cookies = dict(browser.http.cookies)

    out = browser.http.post("/logout", headers={"Origin": stack.app_url})
    assert out.status_code == 303
    assert out.headers["location"].startswith(f"{stack.fake.issuer}/v1/logout?id_token_hint=")
    assert out.headers["clear-site-data"] == '"cookies"'
    okta = browser.get(out.headers["location"])
    assert okta.status_code == 302
    assert okta.headers["location"] == f"{stack.app_url}/"
    assert browser.get("/").status_code == 302

    replayed = stack.browser()
    replayed.http.cookies.update(stolen_cookies)
    assert replayed.get("/").status_code == 302  # the session id was revoked


def test_cross_site_logout_is_refused(stack: Stack) -> None:
    browser = stack.browser()
    widget = browser.open_login("/")
    browser.get(widget.finish(widget.request_email()["otp"]))
    refused = browser.http.post("/logout", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    signed_in(browser, "/")
