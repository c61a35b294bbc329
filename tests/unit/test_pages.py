"""The pages the middleware serves and their headers (R8, R11, R12, R16)."""

from __future__ import annotations

import json

from okta_magiclink_mw import WidgetPage
from okta_magiclink_mw._pages import (
    enter_code_page,
    error_page,
    login_page,
    logout_page,
    new_nonce,
    script_json,
    security_headers,
    sign_out_form_action,
    strict_csp,
    widget_csp,
)


def page(config: dict[str, object] | None = None) -> WidgetPage:
    config = config or {"clientId": "cid"}
    return WidgetPage(
        config,
        script_json(config),
        "https://cdn.example/w.js",
        "https://cdn.example/w.css",
        "NONCE",
    )


def test_security_headers() -> None:
    headers = dict(security_headers("csp-value"))
    assert headers == {
        "cache-control": "no-store",
        "pragma": "no-cache",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "content-security-policy": "csp-value",
    }


def test_strict_csp() -> None:
    csp = strict_csp("abc")
    assert "default-src 'none'" in csp
    assert "script-src 'nonce-abc'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "base-uri 'none'" in csp


def test_widget_csp_lists_only_needed_origins() -> None:
    csp = widget_csp(
        "n1",
        issuer="https://org.example/oauth2/default",
        asset_urls=("https://cdn.example/a/w.js", "https://cdn.example/a/w.css"),
    )
    assert "script-src 'nonce-n1' https://cdn.example https://org.example;" in csp
    assert "connect-src 'self' https://org.example;" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp


def test_nonces_are_fresh() -> None:
    assert new_nonce() != new_nonce()
    assert len(new_nonce()) >= 22


def test_script_json_cannot_close_the_script() -> None:
    text = script_json({"x": "</script><script>alert(1)</script>&"})
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert json.loads(text) == {"x": "</script><script>alert(1)</script>&"}


def test_default_login_page() -> None:
    body = login_page(page({"clientId": "c</script>"}), None).decode()
    assert 'src="https://cdn.example/w.js"' in body
    assert 'href="https://cdn.example/w.css"' in body
    assert 'nonce="NONCE"' in body
    assert "c</script>" not in body
    assert ".showSignInAndRedirect()" in body


def test_template_and_callable_login_pages() -> None:
    assert login_page(page(), "[$widget_config|$script_nonce|$other]") == (
        b'[{"clientId":"cid"}|NONCE|$other]'
    )
    assert login_page(page(), lambda p: f"<{p.config['clientId']}>") == b"<cid>"


def test_enter_code_page_escapes() -> None:
    body = enter_code_page("<b>1</b>", "/login", "N").decode()
    assert "&lt;b&gt;1&lt;/b&gt;" in body
    assert "<b>1</b>" not in body
    assert '<script nonce="N">' in body
    assert 'href="/login"' in body
    assert "http" not in body


def test_error_page_escapes() -> None:
    body = error_page("T<", "M<img>", '/login?x="', "ref", "N").decode()
    assert "T&lt;" in body
    assert "M&lt;img&gt;" in body
    assert 'href="/login?x=&quot;"' in body
    assert "Sign in again" in body
    assert "Reference: ref" in body
    assert "<script" not in body


def test_logout_page() -> None:
    body = logout_page("/logout", "N", "<Ada>").decode()
    assert "&lt;Ada&gt;" in body
    assert '<form method=post action="/logout">' in body
    assert "You are not signed in." in logout_page("/logout", "N", None).decode()


def test_sign_out_pages_may_post_to_where_sign_out_redirects() -> None:
    """Browsers check form-action on every redirect of a form's answer: the sign-out
    button's POST goes on to Okta's end-session endpoint, then to the sign-out redirect."""
    action = sign_out_form_action(
        "https://org.okta.example/oauth2/default", "https://www.example/bye?x=1"
    )
    assert action == "'self' https://org.okta.example https://www.example"
    assert sign_out_form_action("https://org.okta.example/oauth2/default", None) == (
        "'self' https://org.okta.example"
    )
    assert f"form-action {action};" in strict_csp("n", action)
    assert "form-action 'self';" in strict_csp("n")


def test_the_core_gives_its_sign_out_pages_that_form_action() -> None:
    from okta_magiclink_mw._flow import MagicLinkCore, RequestFacts
    from tests.conftest import make_settings

    core = MagicLinkCore(make_settings(post_logout_redirect_uri="https://bye.example/done"))
    answer = core.decide(RequestFacts("GET", "/logout", accept="text/html"))
    csp = dict(answer.headers)["content-security-policy"]  # type: ignore[union-attr]
    issuer_origin = "https://" + make_settings().issuer.split("/")[2]
    action = csp.split("form-action ")[1].split(";")[0].split()
    assert sorted(action) == sorted(["'self'", issuer_origin, "https://bye.example"])
