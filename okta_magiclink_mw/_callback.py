"""The callback path: Okta's answer to a sign-in (an interaction code, or an error), and
the magic link in the email. Part of the core (sans-IO), driven by
:class:`~okta_magiclink_mw._flow.MagicLinkCore`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from ._access_tokens import stored_tokens
from ._decisions import Headers, Respond
from ._effects import Flow
from ._login_page import enter_code_page
from ._query import ERROR_CODE, INTERACTION_CODE, OTP, STATE, valid
from ._redirects import safe_return_target
from ._sessions import Session
from ._transactions import Transaction
from .errors import BadRequest, SignInError, StateMismatch
from .stores._base import StoreCall, StoreUnavailable

if TYPE_CHECKING:
    from ._flow import MagicLinkCore

logger = logging.getLogger("okta_magiclink_mw")

# OAuth error codes Okta may put on the callback (protocol.md §9.1), with what to tell
# the person. Anything else is shown as a generic failure (R8).
_KNOWN_ERRORS: dict[str, tuple[int, str]] = {
    "access_denied": (403, "Okta did not allow this sign-in."),
    "user_canceled_request": (400, "The sign-in was cancelled."),
    "login_required": (400, "Okta needs you to sign in again."),
    "interaction_required": (400, "Okta needs you to sign in again."),
    "invalid_request": (400, "Okta rejected the sign-in request."),
    "invalid_scope": (400, "Okta rejected the requested permissions."),
    "invalid_client": (502, "This app is not set up correctly in Okta."),
    "unauthorized_client": (502, "This app is not set up correctly in Okta."),
    "unsupported_response_type": (502, "This app is not set up correctly in Okta."),
    "unsupported_response_mode": (502, "This app is not set up correctly in Okta."),
    "server_error": (502, "Okta had a problem. Please try again in a moment."),
    "temporarily_unavailable": (503, "Okta is busy. Please try again in a moment."),
}


def _printable(text: str, limit: int = 200) -> str:
    """Text shown as-is (then HTML-escaped): printable characters only, bounded."""
    kept = "".join(ch for ch in text[: limit * 2] if ch.isprintable())
    return kept if len(kept) <= limit else f"{kept[: limit - 1]}…"


class Callback:
    """Answers GETs of ``callback_path`` (the ``redirect_uri`` registered in Okta)."""

    def __init__(self, core: MagicLinkCore) -> None:
        self._core = core

    def callback(self, query: dict[str, str], cookies: dict[str, list[str]]) -> Flow[Respond]:
        s = self._core.settings
        state = query.get("state")
        if state is not None and not valid(STATE, state):
            raise BadRequest()
        if "iss" in query and query["iss"] != s.issuer:  # RFC 9207 (R5, #29)
            raise StateMismatch(
                "This sign-in answer came from an unexpected issuer.", code="issuer_mismatch"
            )
        if "error" in query:
            return self.callback_error(query, state, cookies)
        otp, code = query.get("otp"), query.get("interaction_code")
        if otp is not None and code is not None:
            raise BadRequest(code="ambiguous_callback")
        if otp is not None:
            return (yield from self.magic_link(state, otp, cookies))
        if code is not None:
            return (yield from self.interaction_code(state, code, cookies))
        raise BadRequest(code="unknown_callback")

    def magic_link(
        self, state: str | None, otp: str, cookies: dict[str, list[str]]
    ) -> Flow[Respond]:
        core = self._core
        if state is None or not valid(OTP, otp):
            raise BadRequest()
        now = core.clock()
        if core.transactions.find(core._held(cookies, now), state, now) is not None:
            # Same browser: let the widget finish with the code (protocol.md §7, R15).
            return Respond(302, core._redirect_headers(core._login_url(state=state, otp=otp)))
        if (yield from core._session_of(cookies, now)) is not None:
            return Respond(302, core._redirect_headers("/"))  # already signed in (#15)
        logger.info(
            "magic link opened in another browser", extra={"event": "magic_link.other_browser"}
        )
        return enter_code_page(otp, core.settings.login_path)

    def callback_error(
        self, query: dict[str, str], state: str | None, cookies: dict[str, list[str]]
    ) -> Respond:
        core = self._core
        error = query["error"]
        now = core.clock()
        held = core._held(cookies, now)
        txn = core.transactions.find(held, state, now) if state is not None else None
        if error == "interaction_required" and txn is not None:
            return Respond(302, core._redirect_headers(core._login_url(state=txn.state)))
        status, message = _KNOWN_ERRORS.get(error, (400, "Okta could not complete the sign-in."))
        code = error if valid(ERROR_CODE, error) and error in _KNOWN_ERRORS else "unknown_error"
        logger.info("okta returned an error", extra={"event": "callback.error", "error": code})
        extra: Headers = []
        if txn is not None:  # only the sign-in this error belongs to is dropped (R8, #34)
            del held[txn.state]
            extra.append(("set-cookie", core.transactions.dump(held, now)))
            # Okta's own words help, but anyone can write a link with any text: show them
            # only for this browser's sign-in, and only for known codes (a forged link
            # cannot know the state). Escaped, short. (Policy denials, such as a user not
            # assigned to the app, never come here: Okta tells the widget, in the page.)
            description = _printable(query.get("error_description", ""))
            if description and error in _KNOWN_ERRORS:
                message = f"{message} Okta said: {description}"
        return core.error_response(SignInError(message, code=code, status=status), extra)

    def interaction_code(
        self, state: str | None, code: str, cookies: dict[str, list[str]]
    ) -> Flow[Respond]:
        core = self._core
        if state is None or not valid(INTERACTION_CODE, code):
            raise BadRequest()
        now = core.clock()
        held = core._held(cookies, now)
        txn = core.transactions.find(held, state, now)
        if txn is None:
            if (yield from core._session_of(cookies, now)) is not None:
                return Respond(302, core._redirect_headers("/"))  # a reload after success (#27)
            expired = state in held
            logger.info("callback state not held", extra={"event": "callback.state_mismatch"})
            raise StateMismatch(
                "This sign-in took too long. Please start again." if expired else None,
                code="transaction_expired" if expired else "state_mismatch",
            )
        # The transaction is spent whatever happens next (R1): a code is single-use. The
        # browser is told to drop it, and the spent state is remembered (in the shared
        # store when there is one), so a copy of the cookie sent again is refused here,
        # on any instance, without a call to Okta.
        del held[txn.state]
        txn_cookie = core.transactions.dump(held, now)
        if not (yield from self.spend(txn.state, now)):
            logger.info("callback state already used", extra={"event": "callback.replayed"})
            if (yield from core._session_of(cookies, now)) is not None:
                return Respond(302, core._redirect_headers("/"))
            replayed = StateMismatch(
                "This sign-in was already used. Please start again.", code="state_replayed"
            )
            return core.error_response(replayed, [("set-cookie", txn_cookie)])
        previous = yield from core._session_of(cookies, now)
        return (yield from self.finish(txn, code, txn_cookie, previous))

    def finish(
        self, txn: Transaction, code: str, txn_cookie: str, previous: Session | None
    ) -> Flow[Respond]:
        core = self._core
        try:
            claims, tokens = yield from core.okta.redeem(txn, code)
            if core.settings.require_verified_email and claims.get("email_verified") is not True:
                logger.info("email not verified", extra={"event": "signin.email_unverified"})
                raise SignInError(
                    "Your email address is not verified in Okta, so this app cannot sign "
                    "you in. Verify it in Okta, then start again.",
                    code="email_unverified",
                    status=403,
                )
            now = core.clock()
            kept = None
            if core.tokens is not None:
                kept = stored_tokens(tokens, now)
                if kept.refresh_token is None and "offline_access" in core.settings.scopes:
                    logger.warning(
                        "okta issued no refresh token: allow the Refresh Token grant for "
                        "this app in Okta (Applications > General > Grant type)",
                        extra={"event": "signin.no_refresh_token"},
                    )
            _, session_cookie = yield from core.sessions.mint_flow(
                claims, tokens.id_token, now, kept
            )
            if previous is not None:  # the new session replaces it for good (R19)
                yield from core.sessions.revoke_flow(previous)
        except (SignInError, StoreUnavailable) as exc:
            return core.error_response(exc, [("set-cookie", txn_cookie)])
        target = safe_return_target(txn.return_to, forbidden_paths=core._own_paths)
        logger.info("sign-in completed", extra={"event": "signin.success"})
        if core.observer is not None:
            core.observer.signin_completed()
        headers = core._redirect_headers(target)
        headers += [("set-cookie", session_cookie), ("set-cookie", txn_cookie)]
        return Respond(302, headers)

    def spend(self, state: str, now: float) -> Flow[bool]:
        """Mark a sign-in's state used; False when it already was (a replay)."""
        core = self._core
        if core.record_store is None:
            return core.spent.spend(state, now)
        key = hashlib.sha256(f"{core._deployment}\0{state}".encode()).hexdigest()
        fresh: bool = yield StoreCall("spend", (key, core.settings.transaction_ttl + 120))
        return fresh
