"""FakeOkta misbehaving over real sockets: the middleware answers with a page, never a crash,
and the person can start again once Okta is back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ._stack import Stack, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running_stack(request.param, http_timeout=1.0, http_deadline=2.0) as running:
        yield running


@pytest.fixture(autouse=True)
def _healthy_okta(stack: Stack) -> Iterator[None]:
    yield
    stack.fake.faults.reset()


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ("status_5xx", 502, "Okta did not answer as expected"),
        ("malformed_body", 502, "Okta did not answer as expected"),
        ("drop_connection", 503, "Okta could not be reached"),
    ],
)
def test_token_endpoint_faults_end_on_a_page_with_a_way_back(
    stack: Stack, fault: str, status: int, words: str
) -> None:
    browser = stack.browser()
    widget = browser.open_login("/reports?year=2026")
    callback = widget.finish(widget.request_email()["otp"])
    faults = stack.fake.faults
    if fault == "status_5xx":
        faults.status_5xx["token"] = 503
    elif fault == "malformed_body":
        faults.malformed_body.add("token")
    else:
        faults.drop_connection.add("token")
    page = browser.get(callback)
    assert page.status_code == status
    assert words in page.text
    assert "Sign in again" in page.text
    assert "Traceback" not in page.text
    assert browser.get("/").status_code == 302  # no session

    faults.reset()  # Okta is back: starting again works
    again = browser.open_login("/reports?year=2026")
    landing = browser.get(again.finish(again.request_email()["otp"]))
    assert landing.headers["location"] == "/reports?year=2026"


def test_slow_token_endpoint_ends_on_a_timeout_page(stack: Stack) -> None:
    browser = stack.browser()
    widget = browser.open_login("/")
    callback = widget.finish(widget.request_email()["otp"])
    stack.fake.faults.endpoint_latency["token"] = 3.0  # past this stack's 1 s read timeout
    started = time.monotonic()
    page = browser.get(callback, timeout=30)
    assert page.status_code == 504
    assert "Okta took too long to answer" in page.text
    assert time.monotonic() - started < 2.5
