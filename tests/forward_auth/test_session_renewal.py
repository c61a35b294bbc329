"""The session's idle timeout is renewed through each proxy: an allowed check carries a
``Set-Cookie`` now and then (every twelfth of ``OKTA_MW_SESSION_IDLE_TIMEOUT``), and the
proxy must hand it to the browser with the app's answer, or sessions end after the idle
timeout even while in use. (nginx: ``auth_request_set`` + ``add_header``; Traefik:
``addAuthCookiesToResponse``; Caddy: a copied header turned back into a Set-Cookie.)

Run with an idle timeout of 12 s (a renewal due after 1 s) on a gateway of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration._stack import EMAIL

from ._gateway import (
    BROWSER_HEADERS,
    LEGACY_PAGE,
    PROXIES,
    PUBLIC_PAGE,
    Gateway,
    legacy_fields,
    running_gateway,
)

pytestmark = pytest.mark.integration

IDLE_TIMEOUT = 12
RENEWAL_DUE = IDLE_TIMEOUT / 12


@pytest.fixture(scope="module", params=PROXIES)
def gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    env = {"OKTA_MW_SESSION_IDLE_TIMEOUT": str(IDLE_TIMEOUT)}
    with running_gateway(request.param, env=env) as running:
        yield running


def session_cookies(set_cookie: list[str]) -> list[str]:
    return [c for c in set_cookie if c.startswith(("omw_session=", "__Host-omw_session="))]


def test_the_renewed_session_cookie_reaches_the_browser(gateway: Gateway) -> None:
    browser = gateway.sign_in()
    first = browser.get(LEGACY_PAGE, headers=BROWSER_HEADERS)
    assert first.status_code == 200
    before = browser.http.cookies.get("omw_session")

    time.sleep(RENEWAL_DUE + 0.2)  # not a timing assertion: only lets the renewal fall due
    renewed = browser.get(LEGACY_PAGE, headers=BROWSER_HEADERS)
    assert renewed.status_code == 200
    assert legacy_fields(renewed.text)["email"] == EMAIL
    cookies = session_cookies(renewed.headers.get_list("set-cookie"))
    assert len(cookies) == 1, renewed.headers.get_list("set-cookie")
    assert "HttpOnly" in cookies[0]
    after = browser.http.cookies.get("omw_session")
    assert after
    assert after != before
    # The renewed cookie is a valid session.
    again = browser.get(LEGACY_PAGE, headers=BROWSER_HEADERS)
    assert again.status_code == 200
    assert legacy_fields(again.text)["email"] == EMAIL


def test_a_client_cannot_have_the_proxy_set_its_cookies(gateway: Gateway) -> None:
    # Caddy's config carries the renewal in a request header: a client's own is dropped.
    forged = [("X-Okta-Mw-Renewal", "omw_session=forged; Path=/")]
    browser = gateway.sign_in()
    answer = browser.get(LEGACY_PAGE, headers=[*BROWSER_HEADERS.items(), *forged])
    assert answer.status_code == 200
    assert "forged" not in " ".join(answer.headers.get_list("set-cookie"))
    anonymous = gateway.browser().get(PUBLIC_PAGE, headers=[*BROWSER_HEADERS.items(), *forged])
    assert "forged" not in " ".join(anonymous.headers.get_list("set-cookie"))
