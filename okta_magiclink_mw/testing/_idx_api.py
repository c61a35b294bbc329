"""IDX endpoints (``{base_url}/idp/idx/...``) of a password-optional email sign-in.

Flow: introspect -> identify -> (authenticator-verification-data) challenge ->
poll / resend -> answer -> ``successWithInteractionCode``.

After the transaction succeeded, a poll (the original tab, when the magic
link was opened in another tab) gets the terminal "Flow continued in a new
tab." document (``idx.transferred.to.new.tab``), as Okta does; introspect
returns the success document again; any other remediation gets
``idx.session.expired`` because the state handle is spent.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._endpoint import JSON, with_faults
from ._ids import state_handle
from ._idx import (
    INVALID_PASSCODE,
    INVALID_REQUEST,
    ION_JSON,
    TOO_MANY_REQUESTS,
    UNKNOWN_USER,
    USER_NOT_ASSIGNED,
    Json,
    access_denied_document,
    challenge_document,
    identify_document,
    session_expired_document,
    success_document,
    transferred_document,
    verification_data_document,
)
from ._model import Interaction, Step
from ._org import Org


def idx_response(body: Json, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An IDX document with Okta's content type."""
    return JSON(body, status, media_type=ION_JSON, headers=headers)


class IdxEndpoints:
    """Handlers for ``/idp/idx/*``."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def routes(self) -> list[Route]:
        """Starlette routes, wrapped with the fault knobs."""
        table = [
            ("introspect", "introspect", self.introspect),
            ("identify", "identify", self.identify),
            ("challenge", "challenge", self.challenge),
            ("challenge/poll", "poll", self.poll),
            ("challenge/resend", "resend", self.resend),
            ("challenge/answer", "answer", self.answer),
            ("cancel", "cancel", self.cancel),
        ]
        return [
            Route(
                f"/idp/idx/{path}",
                with_faults(self.org.faults, name, fn),
                methods=["POST"],
                name=f"idx-{name}",
            )
            for path, name, fn in table
        ]

    # -- helpers ----------------------------------------------------------------------------

    async def _body(self, request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _expired(self, ix: Interaction | None, handle: str | None) -> Response:
        expires = ix.expires_at if ix is not None else self.org.clock()
        return idx_response(session_expired_document(handle, expires), 401)

    async def _load(self, request: Request) -> tuple[Interaction, dict[str, Any]] | Response:
        body = await self._body(request)
        handle = body.get("stateHandle")
        if not isinstance(handle, str) or not handle:
            return idx_response(_bare(INVALID_REQUEST), 400)
        ix = self.org.by_state_handle.get(handle)
        if ix is None or self.org.is_expired(ix):
            return self._expired(ix, handle)
        return ix, body

    def _document(self, ix: Interaction) -> Json:
        info = self.org.info
        if ix.step is Step.IDENTIFY:
            return identify_document(info, ix)
        if ix.step is Step.VERIFY_DATA:
            return verification_data_document(info, ix)
        if ix.step is Step.CHALLENGE:
            return challenge_document(info, ix)
        return success_document(info, ix)

    def current(self, ix: Interaction) -> Response:
        """The document for where ``ix`` stands."""
        return idx_response(self._document(ix))

    def _wrong_step(self, ix: Interaction) -> Response:
        if ix.step is Step.SUCCESS:
            return self._expired(ix, ix.state_handle)
        body = self._document(ix)
        body["messages"] = {"type": "array", "value": [INVALID_REQUEST]}
        return idx_response(body, 400)

    # -- endpoints --------------------------------------------------------------------------

    async def introspect(self, request: Request) -> Response:
        """``{"interactionHandle"}`` or ``{"stateToken"}`` -> current state."""
        body = await self._body(request)
        ix: Interaction | None = None
        handle = body.get("interactionHandle")
        token = body.get("stateToken")
        if isinstance(handle, str):
            ix = self.org.interactions.get(handle)
        elif isinstance(token, str):
            ix = self.org.by_state_handle.get(token)
        else:
            return idx_response(_bare(INVALID_REQUEST), 400)
        if ix is None or self.org.is_expired(ix):
            return self._expired(ix, ix.state_handle if ix else None)
        return self.current(ix)

    async def identify(self, request: Request) -> Response:
        """``{"identifier", "stateHandle"}`` -> email verification step."""
        loaded = await self._load(request)
        if isinstance(loaded, Response):
            return loaded
        ix, body = loaded
        if ix.step is not Step.IDENTIFY:
            return self._wrong_step(ix)
        identifier = body.get("identifier")
        user = self.org.find_user(identifier) if isinstance(identifier, str) else None
        self.org.touch(ix)
        # A deactivated user gets exactly the unknown-user answer: nothing tells them apart.
        if user is None or not user.active:
            return idx_response(identify_document(self.org.info, ix, error=UNKNOWN_USER), 400)
        # Assignment and the app's sign-in policy answer here, inside the widget: a real
        # org never turns them into an ``?error=`` on the app's callback.
        if not ix.client.is_assigned(user):
            doc = identify_document(self.org.info, ix, error=USER_NOT_ASSIGNED)
            return idx_response(doc, 400)
        if ix.client.is_denied(user):
            return idx_response(access_denied_document(ix), 403)
        ix.user = user
        ix.step = Step.VERIFY_DATA
        return self.current(ix)

    async def challenge(self, request: Request) -> Response:
        """``{"authenticator": {"id", "methodType"}}`` -> send the email, challenge state."""
        loaded = await self._load(request)
        if isinstance(loaded, Response):
            return loaded
        ix, body = loaded
        if ix.step not in (Step.VERIFY_DATA, Step.CHALLENGE):
            return self._wrong_step(ix)
        authenticator = body.get("authenticator")
        if (
            not isinstance(authenticator, dict)
            or authenticator.get("id") != self.org.info.email_authenticator_id
            or authenticator.get("methodType", "email") != "email"
        ):
            return self._wrong_step(ix)
        self.org.touch(ix)
        self.org.send_email_challenge(ix)
        ix.step = Step.CHALLENGE
        ix.last_poll_at = None
        return self.current(ix)

    async def poll(self, request: Request) -> Response:
        """Pending challenge -> same document; 429 if polled too fast."""
        loaded = await self._load(request)
        if isinstance(loaded, Response):
            return loaded
        ix, _ = loaded
        if ix.step is Step.SUCCESS:
            return idx_response(transferred_document(ix))
        if ix.step is not Step.CHALLENGE:
            return self._wrong_step(ix)
        now = self.org.clock()
        if ix.last_poll_at is not None and now - ix.last_poll_at < self.org.poll_min_interval:
            doc = challenge_document(self.org.info, ix, error=TOO_MANY_REQUESTS)
            reset = int(now + self.org.poll_min_interval) + 1
            headers = {
                "X-Rate-Limit-Limit": "1",
                "X-Rate-Limit-Remaining": "0",
                "X-Rate-Limit-Reset": str(reset),
            }
            return idx_response(doc, 429, headers=headers)
        ix.last_poll_at = now
        if ix.verified_by_link:  # the magic link was opened on Okta's page, same browser
            self.org.complete(ix)
        return self.current(ix)

    async def resend(self, request: Request) -> Response:
        """Send a new email (new OTP; the old one stops working)."""
        loaded = await self._load(request)
        if isinstance(loaded, Response):
            return loaded
        ix, _ = loaded
        if ix.step is not Step.CHALLENGE:
            return self._wrong_step(ix)
        self.org.touch(ix)
        self.org.send_email_challenge(ix)
        return self.current(ix)

    async def answer(self, request: Request) -> Response:
        """``{"credentials": {"passcode"}}`` -> ``successWithInteractionCode`` or field error."""
        loaded = await self._load(request)
        if isinstance(loaded, Response):
            return loaded
        ix, body = loaded
        if ix.step is not Step.CHALLENGE:
            return self._wrong_step(ix)
        credentials = body.get("credentials")
        passcode = credentials.get("passcode") if isinstance(credentials, dict) else None
        self.org.touch(ix)
        if not isinstance(passcode, str) or not self.org.check_otp(ix, passcode):
            doc = challenge_document(self.org.info, ix, passcode_error=INVALID_PASSCODE)
            return idx_response(doc, 400)
        self.org.complete(ix)
        return self.current(ix)

    async def cancel(self, request: Request) -> Response:
        """Abandon the attempt: the state handle is spent, a fresh identify state begins."""
        loaded = await self._load(request)
        if isinstance(loaded, Response):
            return loaded
        ix, _ = loaded
        org = self.org
        del org.by_state_handle[ix.state_handle]
        ix.state_handle = state_handle()
        org.by_state_handle[ix.state_handle] = ix
        ix.step = Step.IDENTIFY
        ix.user = None
        ix.otp = None
        ix.interaction_code = None
        org.touch(ix)
        return self.current(ix)


def _bare(msg: Json) -> Json:
    return {"version": "1.0.0", "messages": {"type": "array", "value": [msg]}}
