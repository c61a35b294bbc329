"""A forward-auth server per test and a browser in front of it, and the proxy's requests.

The browser (``Browser`` of tests/conftest.py, with its cookie jar) plays both parts of a
real deployment: the person's browser, which opens the sign-in pages the proxy passes to
the server, and the proxy itself, which asks ``/auth`` or ``/auth/forward`` about each
request with the person's cookies and the ``X-Original-*`` / ``X-Forwarded-*`` headers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from okta_magiclink_mw.asgi import OktaMagicLink
from okta_magiclink_mw.server import create_app
from tests.conftest import (
    APP_ORIGIN,
    CLIENT_ID,
    ISSUER,
    NAV,
    REDIRECT_URI,
    SECRET_NEW,
    Browser,
    FakeClock,
    FakeOkta,
    callback_url,
    widget_config,
)

ENV = {
    "OKTA_ISSUER": ISSUER,
    "OKTA_CLIENT_ID": CLIENT_ID,
    "OKTA_REDIRECT_URI": REDIRECT_URI,
    "OKTA_MW_SECRET_KEYS": SECRET_NEW,
}
HOST = "app.example"
#: What a browser's API call looks like (fetch with JSON).
API = {"accept": "application/json", "sec-fetch-mode": "cors"}

MakeServer = Callable[..., Browser]


@pytest.fixture
def make_server(okta: FakeOkta, clock: FakeClock, portal: Any) -> Iterator[MakeServer]:
    """``make_server(**env)``: a server from ENV plus ``env``, and a browser in front."""
    made: list[tuple[Browser, OktaMagicLink]] = []

    def make(session_store: Any = None, **env: str) -> Browser:
        app = create_app({**ENV, **env}, clock=clock, session_store=session_store)
        browser = Browser("asgi", app, APP_ORIGIN, portal=portal)
        made.append((browser, app))
        return browser

    yield make
    for browser, app in made:
        browser.close()
        portal.call(app.aclose)


@pytest.fixture
def server(make_server: MakeServer) -> Browser:
    return make_server()


def auth(browser: Browser, uri: str | None, **headers: str) -> httpx.Response:
    """nginx's auth_request subrequest for ``uri`` (its X-Original-URI)."""
    sent = {"x-original-method": "GET", **_names(headers)}
    if uri is not None:
        sent["x-original-uri"] = uri
    return browser.get("/auth", headers=sent)


def forward(
    browser: Browser,
    uri: str | None,
    *,
    host: str | None = HOST,
    proto: str = "https",
    kind: dict[str, str] = NAV,
    query: str = "",
    **headers: str,
) -> httpx.Response:
    """Traefik's forwardAuth request about ``uri`` (its X-Forwarded-* headers)."""
    sent = {"x-forwarded-method": "GET", "x-forwarded-proto": proto, **kind, **_names(headers)}
    if host is not None:
        sent["x-forwarded-host"] = host
    if uri is not None:
        sent["x-forwarded-uri"] = uri
    return browser.get(f"/auth/forward{query}", headers=sent)


def _names(headers: dict[str, str]) -> dict[str, str]:
    return {name.replace("_", "-"): value for name, value in headers.items()}


def sign_in_through_forward(
    browser: Browser, okta: FakeOkta, uri: str = "/reports?id=5", **claims: Any
) -> httpx.Response:
    """The whole sign-in a person makes behind Traefik: the check turns them away to the
    login page, the widget signs them in, the callback answers. Returns the callback's
    response."""
    turned = forward(browser, uri)
    assert turned.status_code == 302, turned.text
    location = turned.headers["location"]
    assert location.startswith(f"{APP_ORIGIN}/login?state=")
    page = browser.get(location, headers=NAV)
    assert page.status_code == 200, page.text
    config = widget_config(page.text)
    code = okta.issue_code(config, **claims)
    return browser.get(callback_url(config, code), headers=NAV)
