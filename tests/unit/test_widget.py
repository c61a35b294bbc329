"""Which Sign-In Widget can finish our sign-in (issue 11), checked at ``Settings``.

Evidence, from the widget 7.49.0 package's source maps (``dist/js/*.js.map``, which carry the
sources): the Gen2 bundle ``okta-sign-in.min.js`` passes the configured ``nonce`` to
``/interact`` (``src/v2/client/startLoginFlow.ts``); the Gen3 ``okta-sign-in.next.js``
starts with ``authClient.idx.start({stateHandle, exchangeCodeForTokens})`` only
(``src/components/Widget/index.tsx``) so auth-js makes one up (``generateNonce()`` in
``lib/oidc/util/defaultTokenParams.ts``); the Classic bundle has no ``src/v2`` at all.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from okta_magiclink_mw import ConfigurationError, Settings
from okta_magiclink_mw._pages import dropped_keys, login_page, otp_notice, script_json, widget_csp
from okta_magiclink_mw._widget import (
    CDN,
    WidgetVersion,
    assets_base,
    check_bundle,
    check_version,
    labels_source,
    parse_version,
)
from okta_magiclink_mw.settings import WidgetPage
from tests.conftest import make_settings

NUMBER = st.integers(min_value=0, max_value=10**6)

# -- the version parser -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("6.7.9", False),
        ("6.7.99", False),
        ("5.16.1", False),
        ("6.8.0-beta.1", False),  # a prerelease comes before 6.8.0
        ("6.8.0", True),
        ("6.8.1", True),
        ("6.10.0", True),  # numbers, not strings: 10 > 8
        ("7.0.0", True),
        ("7.49.0", True),
        ("7.50.0-rc.2", True),
        ("10.0.0", True),
    ],
)
def test_releases_from_6_8_0_on_forward_the_nonce(text: str, ok: bool) -> None:
    assert parse_version(text).forwards_nonce is ok
    assert (check_version(text) is None) is ok


@pytest.mark.parametrize(
    "text",
    [
        "",
        "7",
        "7.49",
        "7.49.0.1",
        "v7.49.0",
        " 7.49.0",
        "7.49.0\n",
        "07.49.0",
        "7.049.0",
        "7.49.0+build.5",
        "7.49.0-",
        "7.49.0-beta..1",
        "latest",
        "7.x",
        "7.49.0/../../evil",
        "7.49.0;script-src *",
        "\u0667.\u0664\u0669.\u0660",  # Arabic-Indic digits: int() takes them, a URL not
        "7.49.0" + "0" * 100,
    ],
)
def test_garbage_versions_are_refused_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match=r"widget_version must be a release number such as"):
        parse_version(text)
    with pytest.raises(ConfigurationError, match="widget_version must be a release number"):
        make_settings(widget_version=text)


@pytest.mark.parametrize("value", [None, 7.49, 749, b"7.49.0", ["7", "49", "0"]])
def test_versions_that_are_not_strings_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="widget_version"):
        parse_version(value)


@given(NUMBER, NUMBER, NUMBER)
@example(6, 8, 0)
@example(6, 7, 10**6)
def test_every_release_number_round_trips_and_orders_like_its_numbers(
    major: int, minor: int, patch: int
) -> None:
    text = f"{major}.{minor}.{patch}"
    version = parse_version(text)
    assert version == WidgetVersion(major, minor, patch)
    assert str(version) == text
    assert version.forwards_nonce is ((major, minor, patch) >= (6, 8, 0))


IDENTIFIER = st.text(alphabet="0123456789abcXYZ-", min_size=1, max_size=8)


@given(NUMBER, NUMBER, NUMBER, st.lists(IDENTIFIER, min_size=1, max_size=4).map(".".join))
def test_prereleases_parse_and_never_count_as_their_release(
    major: int, minor: int, patch: int, pre: str
) -> None:
    version = parse_version(f"{major}.{minor}.{patch}-{pre}")
    assert version.prerelease == pre
    assert version.forwards_nonce is ((major, minor, patch) > (6, 8, 0))


@given(st.text(max_size=80))
@example("7.49.0 ")
@example("7.49.0\x00")
@example("7.49.0")
@example("0.0.0-a-b.0c")
def test_the_parser_accepts_exactly_the_release_grammar(text: str) -> None:
    grammar = re.compile(
        r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
    )
    fits = len(text) <= 64 and text.isascii() and grammar.fullmatch(text) is not None
    if not fits:
        with pytest.raises(ValueError, match="widget_version must be a release number"):
            parse_version(text)
    else:
        version = parse_version(text)
        assert str(version) == text  # what goes into the CDN URL is what was written


# -- the bundle ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"{CDN}/7.49.0/js/okta-sign-in.min.js",
        f"{CDN}/7.49.0/js/okta-sign-in.js",
        f"{CDN}/7.49.0/js/okta-sign-in.no-polyfill.min.js",
        f"{CDN}/7.49.0/js/okta-sign-in.oie.min.js",
        f"{CDN}/6.8.0/js/okta-sign-in.min.js",
        "http://127.0.0.1:8001/widget/js/okta-sign-in.min.js",
        "https://app.example/node_modules/@okta/okta-signin-widget/dist/js/okta-sign-in.min.js",
        "https://app.example/static/okta-sign-in.min.3f9a1c.js",
        "https://app.example/_next/static/okta-sign-in.min.js",  # a Next.js app, not Gen3
    ],
)
def test_gen2_bundles_are_accepted(url: str) -> None:
    assert check_bundle(url) is None
    assert make_settings(widget_js_url=url).widget_js_url == url


@pytest.mark.parametrize(
    "url",
    [
        f"{CDN}/7.49.0/js/okta-sign-in.next.js",
        f"{CDN}/7.49.0/js/okta-sign-in.next.no-polyfill.js",
        "https://app.example/static/OKTA-SIGN-IN.NEXT.JS",
        "https://app.example/static/okta-sign-in.next.abc123.js?v=1",
    ],
)
def test_gen3_bundles_are_refused_naming_the_fix(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"Gen3 Sign-In Widget .*okta-sign-in\.min\.js"):
        make_settings(widget_js_url=url)


def test_classic_engine_bundle_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="Classic Engine"):
        make_settings(widget_js_url=f"{CDN}/7.49.0/js/okta-sign-in.classic.min.js")


@pytest.mark.parametrize(
    "url",
    [f"{CDN}/6.7.9/js/okta-sign-in.min.js", f"{CDN}/5.16.1/css/okta-sign-in.min.css"],
)
def test_an_old_release_named_in_the_url_is_refused(url: str) -> None:
    name = "widget_js_url" if url.endswith(".js") else "widget_css_url"
    with pytest.raises(ConfigurationError, match=rf"{name} loads Sign-In Widget .*6\.8\.0"):
        make_settings(**{name: url})


@pytest.mark.parametrize(
    "url", ["okta-sign-in.min.js", "/static/okta-sign-in.min.js", "ftp://a/x.js", ""]
)
def test_bundle_urls_must_be_absolute(url: str) -> None:
    with pytest.raises(ConfigurationError, match="widget_js_url must be an absolute http"):
        make_settings(widget_js_url=url)


@pytest.mark.parametrize("version", ["6.7.9", "6.8.0-beta.1", "5.0.0"])
def test_settings_refuse_an_old_widget_version(version: str) -> None:
    with pytest.raises(
        ConfigurationError, match=rf"widget_version {re.escape(version)} is too old"
    ):
        make_settings(widget_version=version)


@pytest.mark.parametrize("version", ["6.8.0", "7.49.0", "7.50.0"])
def test_settings_accept_a_recent_widget_version(version: str) -> None:
    assert make_settings(widget_version=version).widget_base_url == f"{CDN}/{version}"


# -- where the language files are -----------------------------------------------------------------


def test_assets_base() -> None:
    assert assets_base(None, None, "7.49.0") == f"{CDN}/7.49.0"
    fake = "http://127.0.0.1:8001/widget/js/okta-sign-in.min.js"
    assert assets_base(None, fake, "7.49.0") == "http://127.0.0.1:8001/widget"
    # A layout other than the npm package's dist/: the release's CDN copy.
    assert assets_base(None, "https://a.example/okta.js", "7.49.0") == f"{CDN}/7.49.0"
    assert assets_base(None, "https://a.example/js/x/okta.js", "7.49.0") == f"{CDN}/7.49.0"
    assert assets_base("https://a.example/w/", fake, "7.49.0") == "https://a.example/w"
    assert labels_source("https://a.example/w") == "https://a.example/w/labels/json/"


def test_widget_assets_url_setting_serves_the_whole_widget() -> None:
    s = make_settings(widget_assets_url="https://app.example/static/okta-signin-widget/")
    assert s.widget_base_url == "https://app.example/static/okta-signin-widget"


@pytest.mark.parametrize(
    "url",
    [
        "/static/okta",
        "https://a.example/w?x=1",
        "https://a.example/w#top",
        "https://user@a.example/w",
        "https://a.example/w; script-src *",
        "https://a.example/w,x",
        "https://a.example/w'",
        "https://a.example/é",
    ],
)
def test_widget_assets_url_must_be_plain(url: str) -> None:
    with pytest.raises(ConfigurationError, match="widget_assets_url must be"):
        make_settings(widget_assets_url=url)


def test_csp_allows_the_labels_folder_only() -> None:
    csp = widget_csp(
        "n",
        issuer="https://org.example/oauth2/default",
        asset_urls=(f"{CDN}/7.49.0/js/okta-sign-in.min.js",),
        labels_url=labels_source(f"{CDN}/7.49.0"),
    )
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src"))
    assert connect == f"connect-src 'self' https://org.example {CDN}/7.49.0/labels/json/"


# -- a custom login page ------------------------------------------------------------------


def page(otp: str | None = None) -> WidgetPage:
    config = {"state": "S" * 43, "nonce": "N" * 43, "codeChallenge": "C" * 43, "clientId": "c"}
    return WidgetPage(
        config, script_json(config), "https://x/w.js", "https://x/w.css", "SN", otp_notice(otp)
    )


@pytest.mark.parametrize(
    "template",
    [
        "<script nonce='$script_nonce'>go()</script>",
        "<script>go($widget_config)</script>",
        "<script nonce='$script_nonce'>go($$widget_config)</script>",  # an escaped $, not the name
    ],
)
def test_a_template_without_the_config_or_the_script_nonce_is_refused(template: str) -> None:
    with pytest.raises(ConfigurationError, match=r"login_page must use \$widget_config"):
        make_settings(login_page=template)


def test_a_template_with_braced_names_is_accepted() -> None:
    template = "<script nonce='${script_nonce}'>go(${widget_config})</script>"
    assert make_settings(login_page=template).login_page == template


def test_dropped_keys_sees_each_missing_value() -> None:
    p = page()
    assert dropped_keys(login_page(p, None), p) == []
    assert dropped_keys(p.config_json.encode(), p) == []
    html_escaped = p.config_json.replace('"', "&quot;").encode()  # e.g. in a data- attribute
    assert dropped_keys(html_escaped, p) == []
    assert dropped_keys(b"<p>nothing</p>", p) == ["state", "nonce", "codeChallenge"]
    without_nonce = p.config_json.replace("N" * 43, "").encode()
    assert dropped_keys(without_nonce, p) == ["nonce"]


def test_otp_notice_is_escaped_and_only_for_links() -> None:
    assert otp_notice(None) == ""
    notice = otp_notice('<img src=x onerror="alert(1)">')
    assert "<img" not in notice
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in notice
    body = login_page(page("123456"), None).decode()
    assert body.index(">123456</strong>") < body.index("<div id=okta-sign-in-widget>")
    assert "omw-otp" not in login_page(page(), None).decode()
    assert (
        ">123456</strong>"
        in login_page(page("123456"), "$widget_config$script_nonce$otp_notice").decode()
    )


def test_widget_settings_from_the_environment() -> None:
    env = {
        "OKTA_ISSUER": "https://org.example/oauth2/default",
        "OKTA_CLIENT_ID": "cid",
        "OKTA_REDIRECT_URI": "https://app.example/login/callback",
        "OKTA_MW_SECRET_KEYS": "a" * 32,
        "OKTA_MW_WIDGET_ASSETS_URL": "https://app.example/static/okta-signin-widget",
    }
    assert Settings.from_env(env).widget_base_url == env["OKTA_MW_WIDGET_ASSETS_URL"]
    with pytest.raises(ConfigurationError, match=r"widget_version 6\.7\.9 is too old"):
        Settings.from_env({**env, "OKTA_MW_WIDGET_VERSION": "6.7.9"})
    with pytest.raises(ConfigurationError, match="Gen3"):
        Settings.from_env({**env, "OKTA_MW_WIDGET_JS_URL": f"{CDN}/7.49.0/js/okta-sign-in.next.js"})
