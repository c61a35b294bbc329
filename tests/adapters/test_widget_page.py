"""The widget page and its guards, through both adapters (issue 11): the code shown beside
the widget on a magic link, the language files' CSP, a custom page that drops the sign-in's
values, the nonce-mismatch hint and the startup advice about the sign-out redirect."""

from __future__ import annotations

import html
import json
import logging
from typing import Any

import pytest

from okta_magiclink_mw import WidgetPage
from okta_magiclink_mw._widget import CDN
from tests.conftest import (
    APP_ORIGIN,
    NAV,
    Browser,
    FakeOkta,
    callback_url,
    make_settings,
    start_login,
    widget_config,
)

OTP = "482913"
WIDGET = "https://assets.example/okta/js/okta-sign-in.min.js"


def csp_directives(csp: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def test_magic_link_page_shows_the_code_beside_the_widget(
    client: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = start_login(client)
    link = client.get(f"/login/callback?state={config['state']}&otp={OTP}", headers=NAV)
    assert link.status_code == 302
    page = client.get(link.headers["location"], headers=NAV)
    assert page.status_code == 200
    # Outside the widget's config, in the page itself, for when the widget's own storage
    # lost the sign-in and it asks for the code in "the original tab".
    before_widget = page.text.split("<div id=okta-sign-in-widget>")[0]
    assert "<strong id=omw-otp-code" in before_widget
    assert f">{OTP}</strong>" in before_widget
    assert "enter this one" in before_widget
    assert widget_config(page.text)["otp"] == OTP
    ours = [rec for rec in caplog.records if rec.name.startswith("okta_magiclink_mw")]
    assert all(OTP not in rec.getMessage() + repr(rec.__dict__) for rec in ours)


def test_sign_in_page_without_a_link_shows_no_code(client: Browser) -> None:
    config = start_login(client)
    page = client.get(f"/login?state={config['state']}", headers=NAV)
    assert "omw-otp" not in page.text
    assert "otp" not in widget_config(page.text)


def test_alphanumeric_code_is_shown_as_it_came(client: Browser) -> None:
    config = start_login(client)
    page = client.get(f"/login?state={config['state']}&otp=Ab3dE9xYz0", headers=NAV)
    assert ">Ab3dE9xYz0</strong>" in page.text


@pytest.mark.parametrize("otp", ["<b>12345</b>", "12345%22%3E", "123456%20x"])
def test_code_that_is_not_a_code_is_refused_not_shown(client: Browser, otp: str) -> None:
    config = start_login(client)
    page = client.get(f"/login?state={config['state']}&otp={otp}", headers=NAV)
    assert page.status_code == 400
    assert "omw-otp" not in page.text
    assert "<b>" not in page.text


def test_custom_template_gets_the_code_box(make_client: Any) -> None:
    template = "<script nonce='$script_nonce'>go($widget_config)</script>$otp_notice"
    client = make_client(make_settings(login_page=template))
    r = client.get("/login", headers=NAV)
    state = r.headers["location"].split("state=")[1]
    page = client.get(f"/login?state={state}&otp={OTP}", headers=NAV)
    assert page.status_code == 200
    assert f">{OTP}</strong>" in page.text


def test_widget_fetches_its_language_files_from_where_the_csp_allows(client: Browser) -> None:
    """Default: Okta's CDN copy of the release; connect-src allows its labels folder only."""
    r = client.get("/reports", headers=NAV)
    page = client.get(r.headers["location"], headers=NAV)
    base = f"{CDN}/7.49.0"
    assert widget_config(page.text)["assets"] == {"baseUrl": base}
    connect = csp_directives(page.headers["content-security-policy"])["connect-src"]
    assert connect == ["'self'", "https://org.example", f"{base}/labels/json/"]
    assert "https://global.oktacdn.com" not in connect  # the folder, not the whole CDN


def test_self_hosted_widget_gets_its_own_assets_folder(make_client: Any) -> None:
    client = make_client(make_settings(widget_js_url=WIDGET))
    r = client.get("/reports", headers=NAV)
    page = client.get(r.headers["location"], headers=NAV)
    assert widget_config(page.text)["assets"] == {"baseUrl": "https://assets.example/okta"}
    directives = csp_directives(page.headers["content-security-policy"])
    assert "https://assets.example/okta/labels/json/" in directives["connect-src"]
    assert "https://assets.example" in directives["script-src"]


def test_widget_config_has_no_deprecated_options(client: Browser) -> None:
    config = start_login(client)
    assert "useInteractionCodeFlow" not in config  # deprecated since widget 7.0
    assert set(config) >= {"state", "nonce", "codeChallenge", "codeChallengeMethod"}


# -- a custom page must hand the widget its config --------------------------------------------


@pytest.mark.parametrize("dropped", ["nonce", "state", "codeChallenge"])
def test_custom_page_that_drops_a_sign_in_value_fails_loudly(
    make_client: Any, caplog: pytest.LogCaptureFixture, dropped: str
) -> None:
    def page(widget: WidgetPage) -> str:
        config = {k: v for k, v in widget.config.items() if k != dropped}
        return f"<script nonce='{widget.script_nonce}'>go({json.dumps(config)})</script>"

    client = make_client(make_settings(login_page=page, post_logout_redirect_uri=APP_ORIGIN))
    caplog.set_level(logging.DEBUG)
    r = client.get("/login", headers=NAV)
    served = client.get(r.headers["location"], headers=NAV)
    assert served.status_code == 500
    assert "not set up correctly" in served.text
    [record] = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert record.event == "login_page.config_dropped"  # type: ignore[attr-defined]
    assert record.keys == [dropped]  # type: ignore[attr-defined]
    assert "config_json" in record.getMessage()


def test_custom_page_cannot_change_the_config_it_is_given(make_client: Any) -> None:
    refused: list[str] = []

    def page(widget: WidgetPage) -> str:
        try:
            widget.config["nonce"] = "mine"  # type: ignore[index]
        except TypeError as exc:
            refused.append(str(exc))
        return f"go({widget.config_json})"

    client = make_client(make_settings(login_page=page))
    r = client.get("/login", headers=NAV)
    served = client.get(r.headers["location"], headers=NAV)
    assert served.status_code == 200
    assert refused
    assert '"nonce":"mine"' not in served.text


# -- the ID token's nonce ---------------------------------------------------------------------


def test_nonce_mismatch_is_logged_with_its_likely_cause(
    client: Browser, okta: FakeOkta, caplog: pytest.LogCaptureFixture
) -> None:
    """What a Gen3 bundle or a page that drops the nonce does: Okta echoes another nonce."""
    caplog.set_level(logging.DEBUG)
    config = start_login(client)
    code = okta.issue_code({**config, "nonce": "made-up-by-the-widget"})
    r = client.get(callback_url(config, code), headers=NAV)
    assert r.status_code == 403
    [record] = [rec for rec in caplog.records if getattr(rec, "event", "") == "id_token.invalid"]
    assert record.levelno == logging.WARNING
    assert record.reason == "id_token: nonce mismatch"  # type: ignore[attr-defined]
    message = record.getMessage()
    assert "okta-sign-in.next.js" in message
    assert "6.8.0" in message
    assert "login_page" in message
    assert "'nonce'" in message
    assert config["nonce"] not in message + repr(record.__dict__)
    assert "made-up-by-the-widget" not in message + repr(record.__dict__)


# -- sign-out redirect --------------------------------------------------------------------------


def _startup_advice(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        rec
        for rec in caplog.records
        if getattr(rec, "event", "") == "startup.no_post_logout_redirect"
    ]


def test_no_sign_out_redirect_is_a_startup_warning(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    make_client(make_settings())
    [record] = _startup_advice(caplog)
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "Okta leaves people on its own sign-in page" in message
    assert "Applications > your app > General > Sign-out redirect URIs" in message
    assert "OKTA_POST_LOGOUT_REDIRECT_URI" in message
    assert f"{APP_ORIGIN}/" in message


def test_sign_out_redirect_set_means_no_warning(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    make_client(make_settings(post_logout_redirect_uri=f"{APP_ORIGIN}/"))
    assert _startup_advice(caplog) == []
    assert [rec for rec in caplog.records if rec.levelno >= logging.WARNING] == []


def test_the_readme_example_page_works(make_client: Any) -> None:
    def my_login_page(page: WidgetPage) -> str:  # as in README.md, "Your own login page"
        return f"""<!doctype html><link rel=stylesheet href="{html.escape(page.widget_css_url)}">
<h1>Example Corp</h1>{page.otp_notice}<div id=w></div>
<script nonce="{page.script_nonce}" src="{html.escape(page.widget_js_url)}"></script>
<script nonce="{page.script_nonce}">
new OktaSignIn(Object.assign({{el: "#w", logo: "/logo.svg"}}, {page.config_json}))
  .showSignInAndRedirect();
</script>"""

    client = make_client(make_settings(login_page=my_login_page))
    r = client.get("/login", headers=NAV)
    page = client.get(r.headers["location"] + f"&otp={OTP}", headers=NAV)
    assert page.status_code == 200
    assert f">{OTP}</strong>" in page.text
    assert 'Object.assign({el: "#w", logo: "/logo.svg"}, {"assets":' in page.text
