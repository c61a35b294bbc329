"""The login path: the page with Okta's sign-in widget, and the "enter this code" page
for a magic link opened in another browser. Part of the core (sans-IO), driven by
:class:`~okta_magiclink_mw._flow.MagicLinkCore`.
"""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import _pages as pages
from ._decisions import Respond
from ._effects import Flow
from ._query import OTP, STATE, valid
from ._transactions import Transaction
from ._widget import labels_source
from .errors import BadRequest, SignInError
from .settings import WidgetPage

if TYPE_CHECKING:
    from ._flow import MagicLinkCore

logger = logging.getLogger("okta_magiclink_mw")


def enter_code_page(otp: str, login_path: str) -> Respond:
    """The page that shows a magic link's code to type into the browser that asked for it
    (a link opened elsewhere never finishes a sign-in there, R15)."""
    nonce = pages.new_nonce()
    headers = pages.security_headers(pages.strict_csp(nonce))
    headers.append(("content-type", "text/html; charset=utf-8"))
    return Respond(200, headers, pages.enter_code_page(otp, login_path, nonce))


class LoginPage:
    """Answers GETs of ``login_path``: the widget page for this browser's sign-in."""

    def __init__(self, core: MagicLinkCore) -> None:
        self._core = core
        s = core.settings
        #: The widget's bundle and style sheet; the widget page's CSP allows exactly these.
        self.widget_js = s.widget_js_url or f"{s.widget_base_url}/js/okta-sign-in.min.js"
        self.widget_css = s.widget_css_url or f"{s.widget_base_url}/css/okta-sign-in.min.css"

    def login(self, query: dict[str, str], cookies: dict[str, list[str]]) -> Flow[Respond]:
        core = self._core
        state, otp = query.get("state"), query.get("otp")
        if (state is not None and not valid(STATE, state)) or (
            otp is not None and not (valid(OTP, otp) and state is not None)
        ):
            raise BadRequest("This sign-in link is malformed.")
        now = core.clock()
        held = core._held(cookies, now)
        txn = core.transactions.find(held, state, now) if state is not None else None
        if txn is None:
            session = yield from core._session_of(cookies, now)
            if session is not None:
                return Respond(302, core._redirect_headers("/"))
            if otp is not None:  # another browser's sign-in: never finish it here (R15)
                return enter_code_page(otp, core.settings.login_path)
            # Start afresh and put the new state in the address bar, so a reload reuses it.
            txn = Transaction.start("/", now)
            if core.observer is not None:
                core.observer.signin_started()
            held[txn.state] = txn
            headers = core._redirect_headers(core._login_url(state=txn.state))
            headers.append(("set-cookie", core.transactions.dump(held, now)))
            if core.sessions.cookie_name in cookies:  # stale, forged or revoked: clear it (R19)
                headers.append(("set-cookie", core.sessions.clear_header))
            return Respond(302, headers)
        return self.widget_page(txn, otp)

    def widget_page(self, txn: Transaction, otp: str | None) -> Respond:
        s = self._core.settings
        config: dict[str, Any] = {
            "issuer": s.issuer,
            "clientId": s.client_id,
            "redirectUri": s.redirect_uri,
            "state": txn.state,
            # Okta echoes it in the ID token, which must carry it (R5, #73); only the Gen2
            # widget from 6.8.0 on forwards it (checked by Settings).
            "nonce": txn.nonce,
            "scopes": list(s.scopes),
            "codeChallenge": txn.code_challenge,
            "codeChallengeMethod": "S256",
            # Where the widget fetches its language files; the CSP allows exactly that.
            "assets": {"baseUrl": s.widget_base_url},
        }
        if otp is not None:
            config["otp"] = otp
        nonce = pages.new_nonce()
        page = WidgetPage(
            MappingProxyType(config),
            pages.script_json(config),
            self.widget_js,
            self.widget_css,
            nonce,
            pages.otp_notice(otp),
        )
        body = pages.login_page(page, s.login_page)
        if s.login_page is not None and (dropped := pages.dropped_keys(body, page)):
            logger.error(
                "login_page does not pass the widget config unchanged: %s missing, so Okta's "
                "answer could never match this sign-in (hand config_json to new OktaSignIn "
                "as it is)",
                ", ".join(dropped),
                extra={"event": "login_page.config_dropped", "keys": dropped},
            )
            raise SignInError(
                "The sign-in page is not set up correctly.",
                code="login_page_misconfigured",
                status=500,
            )
        csp = pages.widget_csp(
            nonce,
            issuer=s.issuer,
            asset_urls=(self.widget_js, self.widget_css),
            labels_url=labels_source(s.widget_base_url),
        )
        headers = pages.security_headers(csp)
        headers.append(("content-type", "text/html; charset=utf-8"))
        return Respond(200, headers, body)
