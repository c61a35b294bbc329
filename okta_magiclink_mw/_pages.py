"""The HTML pages the middleware serves, and the headers every one of them carries.

Every dynamic value goes through :func:`html.escape` (or, inside ``<script>``,
through :func:`script_json`); pages load nothing from third parties except the
login page's widget, and have no external links (R11, R16).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from html import escape
from string import Template
from typing import Any
from urllib.parse import urlsplit

from .settings import LoginPage, WidgetPage

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f4f5f7;color:#1d1d21}
main{max-width:28rem;margin:12vh auto;background:#fff;border-radius:8px;padding:2rem 2.25rem;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.35rem;margin:0 0 .75rem}
p{margin:.5rem 0 1rem}
.code{font:600 2rem/1.2 ui-monospace,Menlo,Consolas,monospace;letter-spacing:.25em;
background:#f4f5f7;border-radius:6px;padding:.75rem 1rem;text-align:center;margin:1rem 0;
user-select:all}
.ref{color:#6e6e78;font-size:.85rem}
a.button,button{display:inline-block;background:#1662dd;color:#fff;border:0;border-radius:6px;
padding:.6rem 1.2rem;font:inherit;text-decoration:none;cursor:pointer}
button.secondary{background:#e5e7eb;color:#1d1d21}
"""


def security_headers(csp: str) -> list[tuple[str, str]]:
    """Headers for every response the middleware writes itself (R11, R12, R23)."""
    return [
        ("cache-control", "no-store"),
        ("pragma", "no-cache"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("content-security-policy", csp),
    ]


def strict_csp(nonce: str, form_action: str = "'self'") -> str:
    """The CSP of every page but the login page. ``form_action`` is where forms may go:
    browsers check it on every redirect a form's answer makes too, so a sign-out form
    needs Okta's end-session endpoint and the sign-out redirect in it (see
    :func:`sign_out_form_action`)."""
    return (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'nonce-{nonce}'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def sign_out_form_action(issuer: str, post_logout_redirect_uri: str | None) -> str:
    """``form-action`` for pages with a sign-out button: their POST answers with a redirect
    to Okta's end-session endpoint, which redirects to ``post_logout_redirect_uri``."""
    origins = {_origin(issuer)}
    if post_logout_redirect_uri:
        origins.add(_origin(post_logout_redirect_uri))
    return " ".join(["'self'", *sorted(origins)])


def widget_csp(
    nonce: str, *, issuer: str, asset_urls: tuple[str, ...], labels_url: str | None = None
) -> str:
    """The login page runs the widget from its CDN and lets it talk to the Okta org.

    ``labels_url`` is the folder the widget fetches its language files from (its
    ``assets.baseUrl`` + ``/labels/json/``, ``src/util/Bundles.ts``): ``connect-src``
    allows that folder only, not the rest of its origin.
    """
    okta = _origin(issuer)
    assets = " ".join(sorted({_origin(u) for u in asset_urls} | {okta}))
    connect = f"'self' {okta}" + (f" {labels_url}" if labels_url else "")
    return (
        f"default-src 'self'; script-src 'nonce-{nonce}' {assets}; "
        f"style-src 'self' 'unsafe-inline' {assets}; img-src 'self' data: {assets}; "
        f"font-src 'self' data: {assets}; connect-src {connect}; frame-src {okta}; "
        f"form-action 'self' {okta}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def script_json(value: Mapping[str, Any]) -> str:
    """JSON that can sit inside ``<script>``: ``<``, ``>`` and ``&`` cannot end the element."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(title: str, body: str, nonce: str, script: str = "") -> bytes:
    script_tag = f'<script nonce="{nonce}">{script}</script>' if script else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<meta name=referrer content=no-referrer><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><main>{body}</main>{script_tag}</body></html>"
    ).encode()


_DEFAULT_LOGIN_PAGE = Template(
    """<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width,initial-scale=1">
<meta name=referrer content=no-referrer><title>Sign in</title>
<link rel=stylesheet href="$widget_css_url">
<style>body{margin:0;background:#f4f5f7;font-family:system-ui,sans-serif}
#okta-sign-in-widget{margin-top:8vh}</style></head><body>
$otp_notice<div id=okta-sign-in-widget></div>
<script nonce="$script_nonce" src="$widget_js_url"></script>
<script nonce="$script_nonce">
new OktaSignIn(Object.assign({el: "#okta-sign-in-widget"}, $widget_config)).showSignInAndRedirect()
  .catch(function (err) { console.error("Okta Sign-In Widget:", err && err.name); });
</script></body></html>"""
)


def otp_notice(otp: str | None) -> str:
    """The magic link's code, shown beside the widget: the widget finishes the link only
    when its own storage still holds the sign-in (``emailVerifyCallback.ts``); when it
    does not (cleared, partitioned, pruned), it asks for the code in the original tab."""
    if otp is None:
        return ""
    return (
        # Inline styles, so the box looks the same in a custom template ($otp_notice).
        '<p id=omw-otp role=status style="max-width:25rem;margin:4vh auto -4vh;'
        "background:#fff;border-radius:6px;padding:.75rem 1rem;font:15px/1.5 system-ui,"
        'sans-serif;box-shadow:0 1px 3px rgba(0,0,0,.12)">Your code: <strong '
        'id=omw-otp-code style="font:600 1.25rem ui-monospace,Menlo,Consolas,monospace;'
        f'letter-spacing:.15em;user-select:all">{escape(otp)}</strong><br>If the sign-in '
        "box asks for a code, or says to go back to where you started, enter this one "
        "there.</p>"
    )


#: The sign-in's own values in the widget config: a page that leaves one out cannot work.
SIGN_IN_KEYS = ("state", "nonce", "codeChallenge")


def login_page(page: WidgetPage, custom: LoginPage | None) -> bytes:
    """The page that hosts the Okta Sign-In Widget, built-in or the app's own."""
    if callable(custom):
        return custom(page).encode()
    template = _DEFAULT_LOGIN_PAGE if custom is None else Template(custom)
    return template.safe_substitute(
        widget_config=page.config_json,
        widget_js_url=escape(page.widget_js_url),
        widget_css_url=escape(page.widget_css_url),
        script_nonce=page.script_nonce,
        otp_notice=page.otp_notice,
    ).encode()


def dropped_keys(body: bytes, page: WidgetPage) -> list[str]:
    """The sign-in values of ``page.config`` that a custom page's HTML does not contain.

    They are random URL-safe strings, which HTML, JSON and URL escaping all leave as they
    are, so a page that hands the widget its config contains each of them verbatim.
    """
    return [key for key in SIGN_IN_KEYS if str(page.config[key]).encode() not in body]


_COPY_SCRIPT = """
document.getElementById("copy").addEventListener("click", function () {
  var code = document.getElementById("otp").textContent;
  navigator.clipboard.writeText(code).then(function () {
    document.getElementById("copy").textContent = "Copied";
  });
});
"""


def enter_code_page(otp: str, login_url: str, nonce: str) -> bytes:
    """The magic link was opened in a browser that did not start this sign-in."""
    body = (
        "<h1>Finish signing in in your first tab</h1>"
        "<p>This link was opened in a different browser from the one where you started "
        "signing in. Go back to the tab where you started and enter this code:</p>"
        f'<div class=code id=otp aria-label="Verification code">{escape(otp)}</div>'
        "<p><button id=copy type=button class=secondary>Copy code</button></p>"
        "<p class=ref>The code works for a few minutes and only once. "
        f'Want to sign in here instead? <a href="{escape(login_url)}">Start again in this '
        "browser</a>.</p>"
    )
    return _page("Enter this code in your first tab", body, nonce, _COPY_SCRIPT)


def error_page(
    title: str,
    message: str,
    link_url: str,
    reference: str,
    nonce: str,
    link_text: str = "Sign in again",
) -> bytes:
    body = (
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
        f'<p><a class=button href="{escape(link_url)}">{escape(link_text)}</a></p>'
        f"<p class=ref>Reference: {escape(reference)}</p>"
    )
    return _page(title, body, nonce)


def logout_page(logout_path: str, nonce: str, signed_in_as: str | None) -> bytes:
    if signed_in_as:
        intro = f"<p>You are signed in as <strong>{escape(signed_in_as)}</strong>.</p>"
    else:
        intro = "<p>You are not signed in.</p>"
    body = (
        f"<h1>Sign out</h1>{intro}"
        f'<form method=post action="{escape(logout_path)}">'
        "<button type=submit>Sign out</button></form>"
    )
    return _page("Sign out", body, nonce)


#: The query string of "Use another account": sign out, then straight to sign in.
SWITCH_ACCOUNT_QUERY = "then=login"


def forbidden_page(
    signed_in_as: str, logout_path: str, nonce: str, note: str | None = None
) -> bytes:
    """A signed-in person may not have this page (403): who they are, and two ways on.
    Both are POSTs to the logout path, like the logout page's button (a GET changes
    nothing); "Use another account" then goes to sign in."""
    action = escape(logout_path)
    body = (
        "<h1>You do not have access to this page</h1>"
        f"<p>You are signed in as <strong>{escape(signed_in_as)}</strong>, which does not "
        "have access to this page.</p>"
        + (f"<p>{escape(note)}</p>" if note else "")
        + "<p>If you have another account that does, sign in with it.</p>"
        f'<form method=post action="{action}?{SWITCH_ACCOUNT_QUERY}">'
        "<button type=submit>Use another account</button></form>"
        f'<form method=post action="{action}">'
        "<p><button type=submit class=secondary>Sign out</button></p></form>"
    )
    return _page("You do not have access to this page", body, nonce)
