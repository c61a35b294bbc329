"""An app that is not Python (a shell script under busybox httpd) behind real nginx, Caddy
and Traefik, each running its example config from examples/forward_auth/ and asking the
forward-auth server (``python -m okta_magiclink_mw serve``) about every request; FakeOkta
on loopback. Over HTTP, as a browser and the Sign-In Widget would talk.

The same assertions for the three proxies: signed out, a page is redirected to the
sign-in and an API call gets 401; signed in, the app greets the person by the email the
proxy passed along; a person outside the allowed group gets the server's 403 page; an
identity header a client makes up never reaches the app; sign-out ends the session.

Without caddy or traefik installed their half is skipped, unless OKTA_MW_REQUIRE_PROXIES
(or OKTA_MW_REQUIRE_REDIS) is set, as .ci/run does: then it fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.integration._stack import EMAIL, Browser

from ._gateway import (
    ALLOWED_GROUP,
    API_HEADERS,
    BROWSER_HEADERS,
    LEGACY_PAGE,
    OUTSIDER,
    PROXIES,
    PUBLIC_PAGE,
    Gateway,
    legacy_fields,
    legacy_headers,
    running_gateway,
)

pytestmark = pytest.mark.integration

IDENTITY = ("HTTP_X_AUTH_REQUEST_EMAIL", "HTTP_X_AUTH_REQUEST_GROUPS", "HTTP_X_AUTH_REQUEST_USER")
FORGED = "mallory@evil.example"

#: Header sets a client could send to pass as someone else. CGI, busybox httpd, PHP and
#: WSGI read every character that is not a letter or a digit as "_": each of these names
#: is HTTP_X_AUTH_REQUEST_EMAIL (or _USER, _GROUPS) to the app.
FORGERIES: dict[str, list[tuple[str, str]]] = {
    "email": [("X-Auth-Request-Email", FORGED)],
    "email lower case": [("x-auth-request-email", FORGED)],
    "email upper case": [("X-AUTH-REQUEST-EMAIL", FORGED)],
    "user": [("X-Auth-Request-User", "mallory")],
    "groups": [("X-Auth-Request-Groups", f"{ALLOWED_GROUP},admins")],
    "duplicated": [
        ("X-Auth-Request-Email", FORGED),
        ("x-auth-request-email", "eve@evil.example"),
        ("X-Auth-Request-User", "mallory"),
        ("X-AUTH-REQUEST-USER", "eve"),
    ],
    **{
        f"alias with {char!r}": [
            (f"X{char}Auth{char}Request{char}Email", FORGED),
            (f"X{char}Auth{char}Request{char}User", "mallory"),
        ]
        for char in "_.~!#$%&'*+^`|"
    },
    "mixed alias": [("X-Auth_Request-Email", FORGED), ("X-Auth-Request_User", "mallory")],
}


@pytest.fixture(scope="module", params=PROXIES)
def gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    with running_gateway(request.param) as running:
        yield running


@pytest.fixture(scope="module")
def ada(gateway: Gateway) -> Browser:
    """Ada, signed in once for the tests that only read pages."""
    return gateway.sign_in()


def forged_values(headers: list[tuple[str, str]]) -> set[str]:
    return {value for _, value in headers}


# -- signed out --------------------------------------------------------------------------


def test_a_signed_out_page_view_goes_to_the_sign_in_page(gateway: Gateway) -> None:
    browser = gateway.browser()
    login = gateway.login_page(browser, f"{LEGACY_PAGE}?report=2026&x=%3Cb%3E")
    page = browser.get(login, headers=BROWSER_HEADERS)
    assert page.status_code == 200
    assert "okta-sign-in-widget" in page.text


def test_a_signed_out_page_view_never_reaches_the_app(gateway: Gateway) -> None:
    before = len(gateway.legacy_requests())
    first = gateway.browser().get(LEGACY_PAGE, headers=BROWSER_HEADERS)
    assert first.status_code == 302
    assert "Hello" not in first.text
    assert len(gateway.legacy_requests()) == before


def test_sign_in_returns_to_the_page_asked_for_with_its_query(gateway: Gateway) -> None:
    path = f"{LEGACY_PAGE}?report=2026&name=a%20b"
    browser = gateway.sign_in(path=path)  # asserts the landing redirect is ``path``
    page = browser.get(path, headers=BROWSER_HEADERS)
    assert page.status_code == 200
    assert legacy_fields(page.text)["email"] == EMAIL


def test_a_signed_out_api_call_gets_401_json(gateway: Gateway) -> None:
    before = len(gateway.legacy_requests())
    answer = gateway.browser().get(LEGACY_PAGE, headers=API_HEADERS)
    assert answer.status_code == 401
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("application/json")
    assert json.loads(answer.text)["error"] == "unauthenticated"
    assert len(gateway.legacy_requests()) == before


def test_a_fetch_from_a_page_is_an_api_call(gateway: Gateway) -> None:
    headers = {"Accept": "*/*", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    assert gateway.browser().get(LEGACY_PAGE, headers=headers).status_code == 401


@pytest.mark.parametrize("forgery", list(FORGERIES), ids=list(FORGERIES))
def test_forged_identity_headers_do_not_get_a_signed_out_client_in(
    gateway: Gateway, forgery: str
) -> None:
    headers = FORGERIES[forgery]
    before = len(gateway.legacy_requests())
    for accept in (BROWSER_HEADERS, API_HEADERS):
        answer = gateway.browser().get(LEGACY_PAGE, headers=[*accept.items(), *headers])
        assert answer.status_code in (302, 401), answer.text[:500]
        assert not forged_values(headers) & set(answer.text.split())
    assert len(gateway.legacy_requests()) == before


@pytest.mark.parametrize("forgery", list(FORGERIES), ids=list(FORGERIES))
def test_forged_identity_headers_never_reach_a_public_page(gateway: Gateway, forgery: str) -> None:
    # Signed out, nothing at all may arrive: whatever the order the proxy writes headers
    # in, and whichever copy the app would believe, a forgery that got through shows.
    headers = FORGERIES[forgery]
    page = gateway.browser().get(PUBLIC_PAGE, headers=[*BROWSER_HEADERS.items(), *headers])
    assert page.status_code == 200, page.text[:500]
    assert legacy_headers(page.text) == {}
    assert "Hello, stranger." in page.text


def test_a_public_page_is_served_signed_out_and_knows_a_signed_in_person(
    gateway: Gateway, ada: Browser
) -> None:
    anonymous = gateway.browser().get(PUBLIC_PAGE, headers=BROWSER_HEADERS)
    assert anonymous.status_code == 200
    assert legacy_fields(anonymous.text) == {"email": "", "user": "", "groups": ""}
    known = ada.get(PUBLIC_PAGE, headers=[*BROWSER_HEADERS.items(), *FORGERIES["duplicated"]])
    assert known.status_code == 200
    assert legacy_fields(known.text)["email"] == EMAIL


def test_a_made_up_host_does_not_turn_the_sign_in_redirect_elsewhere(gateway: Gateway) -> None:
    answer = gateway.browser().get(LEGACY_PAGE, headers={**BROWSER_HEADERS, "Host": "evil.example"})
    location = answer.headers.get("location", "")
    assert "evil.example" not in location
    assert answer.status_code != 200 or "Hello" not in answer.text


def test_the_sign_in_pages_are_the_servers_not_the_apps(gateway: Gateway) -> None:
    before = len(gateway.legacy_requests())
    for path in ("/login", "/login/callback?state=x&interaction_code=y", "/logout"):
        answer = gateway.browser().get(path, headers=BROWSER_HEADERS)
        assert answer.status_code not in (404, 502), (path, answer.status_code)
        assert "Hello" not in answer.text
    assert len(gateway.legacy_requests()) == before


# -- signed in ---------------------------------------------------------------------------


def test_the_app_greets_the_person_by_the_email_the_proxy_passed(
    gateway: Gateway, ada: Browser
) -> None:
    page = ada.get(LEGACY_PAGE, headers=BROWSER_HEADERS)
    assert page.status_code == 200, page.text[:500]
    assert f"Hello, {EMAIL}!" in page.text
    fields = legacy_fields(page.text)
    assert fields["email"] == EMAIL
    assert fields["user"]
    assert ALLOWED_GROUP in fields["groups"].split(",")
    assert set(legacy_headers(page.text)) <= set(IDENTITY)
    assert legacy_headers(page.text)["HTTP_X_AUTH_REQUEST_EMAIL"] == EMAIL


def test_api_calls_of_a_signed_in_person_reach_the_app(gateway: Gateway, ada: Browser) -> None:
    page = ada.get(f"{LEGACY_PAGE}?format=json", headers=API_HEADERS)
    assert page.status_code == 200
    assert legacy_fields(page.text)["email"] == EMAIL


@pytest.mark.parametrize("forgery", list(FORGERIES), ids=list(FORGERIES))
def test_forged_identity_headers_never_reach_the_app_of_a_signed_in_person(
    gateway: Gateway, ada: Browser, forgery: str
) -> None:
    headers = FORGERIES[forgery]
    page = ada.get(LEGACY_PAGE, headers=[*BROWSER_HEADERS.items(), *headers])
    assert page.status_code == 200, page.text[:500]
    received = legacy_headers(page.text)
    assert set(received) <= set(IDENTITY)
    assert received["HTTP_X_AUTH_REQUEST_EMAIL"] == EMAIL
    assert not forged_values(headers) & set(received.values())
    for value in forged_values(headers):
        assert value not in page.text
    groups = received.get("HTTP_X_AUTH_REQUEST_GROUPS", "").split(",")
    assert "admins" not in groups


def test_no_cookie_is_made_up_when_no_renewal_is_due(gateway: Gateway, ada: Browser) -> None:
    # The idle timeout is an hour here: a renewal falls due after five minutes.
    browser = ada
    answer = browser.get(LEGACY_PAGE, headers=BROWSER_HEADERS)
    assert answer.status_code == 200
    assert answer.headers.get_list("set-cookie") == []
    anonymous = gateway.browser().get(PUBLIC_PAGE, headers=BROWSER_HEADERS)
    assert anonymous.status_code == 200
    assert anonymous.headers.get_list("set-cookie") == []


# -- not allowed -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grace(gateway: Gateway) -> Browser:
    """Grace: signed in fine, but not in the allowed group."""
    return gateway.sign_in(OUTSIDER)


def test_a_person_outside_the_allowed_group_gets_the_servers_403_page(
    gateway: Gateway, grace: Browser
) -> None:
    before = len(gateway.legacy_requests())
    page = grace.get(LEGACY_PAGE, headers=BROWSER_HEADERS)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert OUTSIDER in page.text
    assert "does not have access" in page.text
    assert "/logout" in page.text  # sign out, or use another account
    assert "<center>nginx</center>" not in page.text  # not nginx's own error page
    assert "Hello" not in page.text
    assert len(gateway.legacy_requests()) == before


def test_an_api_call_of_a_person_outside_the_group_gets_403_json(
    gateway: Gateway, grace: Browser
) -> None:
    answer = grace.get(LEGACY_PAGE, headers=API_HEADERS)
    assert answer.status_code == 403
    assert json.loads(answer.text)["error"] == "forbidden"


@pytest.mark.parametrize("forgery", ["groups", "alias with '_'", "email", "duplicated"])
def test_forged_headers_do_not_let_an_outsider_in(
    gateway: Gateway, grace: Browser, forgery: str
) -> None:
    headers = [*FORGERIES[forgery], ("X-Auth-Request-Groups", ALLOWED_GROUP)]
    page = grace.get(LEGACY_PAGE, headers=[*BROWSER_HEADERS.items(), *headers])
    assert page.status_code == 403
    assert "Hello" not in page.text


# -- sign-out ----------------------------------------------------------------------------


def test_sign_out_ends_the_session_and_its_cookie_is_no_longer_accepted(
    gateway: Gateway,
) -> None:
    browser = gateway.sign_in()
    assert browser.get(LEGACY_PAGE, headers=BROWSER_HEADERS).status_code == 200
    stolen = httpx.Cookies(browser.http.cookies)

    out = gateway.sign_out(browser)
    assert out.status_code == 303, out.text[:500]
    assert out.headers["location"].startswith(f"{gateway.fake.issuer}/v1/logout?")
    back = browser.get(out.headers["location"])
    assert back.status_code == 302
    assert back.headers["location"] == f"{gateway.app_url}/"
    assert browser.get(LEGACY_PAGE, headers=BROWSER_HEADERS).status_code == 302

    replay = gateway.browser()
    replay.http.cookies = stolen
    before = len(gateway.legacy_requests())
    assert replay.get(LEGACY_PAGE, headers=BROWSER_HEADERS).status_code == 302
    assert replay.get(LEGACY_PAGE, headers=API_HEADERS).status_code == 401
    assert len(gateway.legacy_requests()) == before


def test_a_cross_site_sign_out_is_refused(gateway: Gateway, ada: Browser) -> None:
    refused = ada.http.post(
        "/logout", headers={"Origin": "https://evil.example", **BROWSER_HEADERS}
    )
    assert refused.status_code == 403
    assert ada.get(LEGACY_PAGE, headers=BROWSER_HEADERS).status_code == 200
