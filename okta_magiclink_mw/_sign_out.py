"""The logout path: a GET offers a sign-out button, its same-origin POST ends the
session here and at Okta. Part of the core (sans-IO), driven by
:class:`~okta_magiclink_mw._flow.MagicLinkCore`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from . import _pages as pages
from ._cookies import read_cookies
from ._decisions import RequestFacts, Respond
from ._effects import Flow
from ._sessions import Session
from .errors import SignInError
from .stores._base import StoreUnavailable

if TYPE_CHECKING:
    from ._flow import MagicLinkCore

logger = logging.getLogger("okta_magiclink_mw")


class SignOut:
    """Answers ``logout_path``."""

    def __init__(self, core: MagicLinkCore) -> None:
        self._core = core

    def logout(self, request: RequestFacts) -> Flow[Respond]:
        core = self._core
        s = core.settings
        cookies = read_cookies(request.cookie_header, core._cookie_names)
        try:
            session, _ = yield from core.sessions.read_flow(
                cookies.get(core.sessions.cookie_name, []), core.clock(), with_id_token=True
            )
            return (yield from self.logout_with(request, session))
        except StoreUnavailable as exc:
            # Never dropped silently: the person is told, and keeps the button to retry.
            logger.warning("sign-out failed: store unavailable", extra={"event": "logout.failed"})
            failed = SignInError(
                "You could not be signed out because the session service is unavailable. "
                "Please try again in a moment.",
                code=exc.code,
                status=503,
            )
            return core.error_response(failed, link=("Try signing out again", s.logout_path))

    def logout_with(self, request: RequestFacts, session: Session | None) -> Flow[Respond]:
        core = self._core
        s = core.settings
        if request.method in ("GET", "HEAD"):
            # A GET changes nothing (#100): it offers a button that POSTs.
            nonce = pages.new_nonce()
            headers = pages.security_headers(pages.strict_csp(nonce, core._sign_out_action))
            headers.append(("content-type", "text/html; charset=utf-8"))
            who = session.user.display_name if session is not None else None
            return Respond(200, headers, pages.logout_page(s.logout_path, nonce, who))
        if request.method != "POST":
            return core._plain(405, "Method not allowed", [("allow", "GET, HEAD, POST")])
        if not self.same_origin(request):
            logger.warning("cross-site logout refused", extra={"event": "logout.cross_site"})
            return core.error_response(
                SignInError("Sign-out must come from this site.", code="cross_site", status=403),
                [("vary", "Sec-Fetch-Site, Origin")],
            )
        # "Use another account" (the 403 page): without a hop through Okta's sign-out, go
        # straight to sign in; with one, Okta sends them to post_logout_redirect_uri.
        switching = request.query_string == pages.SWITCH_ACCOUNT_QUERY
        location = s.login_path if switching else s.post_logout_redirect_uri or "/"
        if session is not None:
            yield from core.sessions.revoke_flow(session)
            yield from self.revoke_at_okta(session)
            id_token = core.sessions.id_token(session)
            if id_token:
                endpoint = core.okta.discovery.end_session_endpoint if core.okta.discovery else None
                params = {"id_token_hint": id_token}
                if s.post_logout_redirect_uri:
                    params["post_logout_redirect_uri"] = s.post_logout_redirect_uri
                location = f"{endpoint or s.logout_endpoint}?{urlencode(params)}"
            logger.info("signed out", extra={"event": "logout"})
        headers = core._redirect_headers(location)
        headers += [
            ("set-cookie", core.sessions.clear_header),
            ("set-cookie", core.transactions.dump({}, 0)),
            ("clear-site-data", '"cookies"'),
            ("vary", "Sec-Fetch-Site, Origin"),
        ]
        return Respond(303, headers)

    def revoke_at_okta(self, session: Session) -> Flow[None]:
        """Revoke the session's tokens at Okta (best effort: a failure is logged at
        WARNING by the conversation, and the local sign-out stands)."""
        core = self._core
        tokens = session.tokens
        if tokens is None:
            return
        if tokens.refresh_token is not None:
            yield from core.okta.revoke(tokens.refresh_token, "refresh_token")
        yield from core.okta.revoke(tokens.access_token, "access_token")

    def same_origin(self, request: RequestFacts) -> bool:
        """R22: Fetch Metadata first, then Origin, then Referer.

        A request with none of the three did not come from a browser page, so it
        cannot be a cross-site forgery.
        """
        app_origin = self._core.settings.app_origin
        if request.sec_fetch_site:
            return request.sec_fetch_site in ("same-origin", "none")
        if request.origin:
            return request.origin == app_origin
        if request.referer:
            parts = urlsplit(request.referer)
            return f"{parts.scheme}://{parts.netloc}" == app_origin
        return True
