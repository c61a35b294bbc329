"""IDX response bodies, built in code in the shape Okta's IDX API returns.

Every builder returns a plain ``dict`` ready for JSON. The shapes follow the
verbatim Okta bodies in ``okta-idx-fixtures`` (``identify.json``,
``authenticator-verification-data-email.json``, ``challenge/default.json``,
``challenge/answer/default.json`` and the error/terminal bodies), with hrefs
pointing at the emulator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ._model import FakeUser, Interaction

#: Content type of every IDX response.
ION_JSON = "application/ion+json; okta-version=1.0.0"
#: What remediation forms declare they accept.
ACCEPTS = "application/json; okta-version=1.0.0"

Json = dict[str, Any]


@dataclass(frozen=True)
class OrgInfo:
    """Org-wide values the bodies need."""

    base_url: str
    issuer: str
    email_authenticator_id: str


def iso8601(ts: float) -> str:
    """``2021-10-27T20:35:44.000Z`` (Okta's format for ``expiresAt``)."""
    moment = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def mask_email(email: str) -> str:
    """Mask an address as Okta does: ``f****************e@example.com``."""
    local, _, domain = email.partition("@")
    masked = local[:1] + "*" * max(len(local) - 2, 1) + (local[-1] if len(local) > 2 else "")
    return f"{masked}@{domain}" if domain else masked


def _messages(*items: Json) -> Json:
    return {"type": "array", "value": list(items)}


def message(text: str, key: str, cls: str = "ERROR", params: list[Any] | None = None) -> Json:
    """One IDX message (``{"message", "i18n": {"key"}, "class"}``)."""
    i18n: Json = {"key": key}
    if params is not None:
        i18n["params"] = params
    return {"message": text, "i18n": i18n, "class": cls}


def _state_handle_field(state_handle: str) -> Json:
    return {
        "name": "stateHandle",
        "required": True,
        "value": state_handle,
        "visible": False,
        "mutable": False,
    }


def _form(
    org: OrgInfo,
    name: str,
    path: str,
    fields: list[Json],
    *,
    relates_to: list[str] | None = None,
    refresh: int | None = None,
) -> Json:
    form: Json = {"rel": ["create-form"], "name": name}
    if relates_to is not None:
        form["relatesTo"] = relates_to
    form["href"] = f"{org.base_url}/idp/idx/{path}"
    form["method"] = "POST"
    form["produces"] = ION_JSON
    if refresh is not None:
        form["refresh"] = refresh
    form["value"] = fields
    form["accepts"] = ACCEPTS
    return form


def _app(ix: Interaction) -> Json:
    return {
        "type": "object",
        "value": {"name": "oidc_client", "label": ix.client.label, "id": ix.client.client_id},
    }


def _cancel(org: OrgInfo, ix: Interaction) -> Json:
    return _form(org, "cancel", "cancel", [_state_handle_field(ix.state_handle)])


def _user(user: FakeUser) -> Json:
    return {
        "type": "object",
        "value": {
            "id": user.id,
            "identifier": user.login,
            "profile": {
                "firstName": user.given_name,
                "lastName": user.family_name,
                "timeZone": "America/Los_Angeles",
                "locale": "en_US",
            },
        },
    }


def _email_authenticator(org: OrgInfo) -> Json:
    return {
        "type": "email",
        "key": "okta_email",
        "id": org.email_authenticator_id,
        "displayName": "Email",
        "methods": [{"type": "email"}],
    }


def _email_enrollment(user: FakeUser) -> Json:
    return {
        "profile": {"email": mask_email(user.email)},
        "type": "email",
        "key": "okta_email",
        "id": user.email_enrollment_id,
        "displayName": "Email",
        "methods": [{"type": "email"}],
    }


def _select_authenticator(org: OrgInfo, ix: Interaction) -> Json:
    option = {
        "label": "Email",
        "value": {
            "form": {
                "value": [
                    {
                        "name": "id",
                        "required": True,
                        "value": org.email_authenticator_id,
                        "mutable": False,
                    },
                    {"name": "methodType", "required": False, "value": "email", "mutable": False},
                ]
            }
        },
        "relatesTo": "$.authenticatorEnrollments.value[0]",
    }
    return _form(
        org,
        "select-authenticator-authenticate",
        "challenge",
        [
            {"name": "authenticator", "type": "object", "options": [option]},
            _state_handle_field(ix.state_handle),
        ],
    )


def _head(ix: Interaction) -> Json:
    return {
        "version": "1.0.0",
        "stateHandle": ix.state_handle,
        "expiresAt": iso8601(ix.expires_at),
        "intent": "LOGIN",
    }


def identify_document(org: OrgInfo, ix: Interaction, *, error: Json | None = None) -> Json:
    """First state of a password-optional sign-in: the ``identify`` form.

    With ``error`` it is the "identify rejected" body
    (``identify-unknown-user.json``): same form plus top-level ``messages``.
    """
    doc = _head(ix)
    doc["remediation"] = {
        "type": "array",
        "value": [
            _form(
                org,
                "identify",
                "identify",
                [
                    {"name": "identifier", "label": "Username", "required": True},
                    {"name": "rememberMe", "label": "Remember this device", "type": "boolean"},
                    _state_handle_field(ix.state_handle),
                ],
            )
        ],
    }
    if error is not None:
        doc["messages"] = _messages(error)
    doc["cancel"] = _cancel(org, ix)
    doc["app"] = _app(ix)
    return doc


def verification_data_document(org: OrgInfo, ix: Interaction) -> Json:
    """After ``identify``: the email ``authenticator-verification-data`` step.

    The widget renders it as "Get a verification email" with a
    "Send me an email" button that POSTs to ``/idp/idx/challenge``.
    """
    assert ix.user is not None
    doc = _head(ix)
    verification_data = _form(
        org,
        "authenticator-verification-data",
        "challenge",
        [
            {
                "name": "authenticator",
                "label": "Email",
                "form": {
                    "value": [
                        {
                            "name": "id",
                            "required": True,
                            "value": org.email_authenticator_id,
                            "mutable": False,
                        },
                        {
                            "name": "methodType",
                            "type": "string",
                            "required": True,
                            "options": [{"label": "Email", "value": "email"}],
                        },
                    ]
                },
            },
            _state_handle_field(ix.state_handle),
        ],
        relates_to=["$.currentAuthenticatorEnrollment"],
    )
    doc["remediation"] = {
        "type": "array",
        "value": [verification_data, _select_authenticator(org, ix)],
    }
    enrollment = _email_enrollment(ix.user)
    doc["currentAuthenticatorEnrollment"] = {
        "type": "object",
        "value": {
            "profile": enrollment["profile"],
            "resend": _form(
                org, "resend", "challenge/resend", [_state_handle_field(ix.state_handle)]
            ),
            **{k: v for k, v in enrollment.items() if k != "profile"},
        },
    }
    _add_authenticators(doc, org, ix)
    return doc


def _add_authenticators(doc: Json, org: OrgInfo, ix: Interaction) -> None:
    assert ix.user is not None
    doc["authenticators"] = {"type": "array", "value": [_email_authenticator(org)]}
    doc["authenticatorEnrollments"] = {"type": "array", "value": [_email_enrollment(ix.user)]}
    doc["user"] = _user(ix.user)
    doc["cancel"] = _cancel(org, ix)
    doc["app"] = _app(ix)


def challenge_document(
    org: OrgInfo,
    ix: Interaction,
    *,
    passcode_error: Json | None = None,
    error: Json | None = None,
    poll_refresh: int = 4000,
) -> Json:
    """The email ``challenge-authenticator`` state (email sent, poll + resend).

    ``passcode_error`` attaches a field message to ``credentials.passcode``
    (invalid code); ``error`` adds a top-level message (e.g. too many requests).
    """
    assert ix.user is not None
    doc = _head(ix)
    if error is not None:
        doc["messages"] = _messages(error)
    passcode: Json = {"name": "passcode", "label": "Enter code"}
    if passcode_error is not None:
        passcode["messages"] = _messages(passcode_error)
    answer = _form(
        org,
        "challenge-authenticator",
        "challenge/answer",
        [
            {
                "name": "credentials",
                "type": "object",
                "form": {"value": [passcode]},
                "required": True,
            },
            _state_handle_field(ix.state_handle),
        ],
        relates_to=["$.currentAuthenticatorEnrollment"],
    )
    doc["remediation"] = {"type": "array", "value": [answer, _select_authenticator(org, ix)]}
    enrollment = _email_enrollment(ix.user)
    doc["currentAuthenticatorEnrollment"] = {
        "type": "object",
        "value": {
            "profile": enrollment["profile"],
            "resend": _form(
                org, "resend", "challenge/resend", [_state_handle_field(ix.state_handle)]
            ),
            "poll": _form(
                org,
                "poll",
                "challenge/poll",
                [_state_handle_field(ix.state_handle)],
                refresh=poll_refresh,
            ),
            "contextualData": {"useEmailMagicLink": True},
            **{k: v for k, v in enrollment.items() if k != "profile"},
        },
    }
    _add_authenticators(doc, org, ix)
    return doc


def success_document(org: OrgInfo, ix: Interaction) -> Json:
    """Terminal success: ``successWithInteractionCode`` pointing at ``/v1/token``."""
    assert ix.user is not None
    assert ix.interaction_code is not None
    doc = _head(ix)
    doc["user"] = _user(ix.user)
    doc["cancel"] = _cancel(org, ix)
    doc["app"] = _app(ix)
    doc["successWithInteractionCode"] = {
        "rel": ["create-form"],
        "name": "issue",
        "href": f"{org.issuer}/v1/token",
        "method": "POST",
        "value": [
            {"name": "grant_type", "required": True, "value": "interaction_code"},
            {"name": "interaction_code", "required": True, "value": ix.interaction_code},
            {"name": "client_id", "required": True, "value": ix.client.client_id},
            {"name": "code_verifier", "required": True},
        ],
        "accepts": "application/x-www-form-urlencoded",
    }
    return doc


def session_expired_document(state_handle: str | None, expires_at: float) -> Json:
    """``idx.session.expired``: terminal, no remediation (``error-401-session-expired``)."""
    doc: Json = {"version": "1.0.0"}
    if state_handle is not None:
        doc["stateHandle"] = state_handle
    doc["expiresAt"] = iso8601(expires_at)
    doc["intent"] = "LOGIN"
    doc["messages"] = _messages(
        message(
            "You have been logged out due to inactivity. Refresh or return to the sign in screen.",
            "idx.session.expired",
        )
    )
    return doc


def transferred_document(ix: Interaction) -> Json:
    """Terminal "Flow continued in a new tab." (``terminal-transfered-email``)."""
    doc = _head(ix)
    doc["messages"] = _messages(
        message("Flow continued in a new tab.", "idx.transferred.to.new.tab", "INFO")
    )
    return doc


def access_denied_document(ix: Interaction) -> Json:
    """Terminal "access denied by policy" (the widget's mock ``error-identify-access-denied``,
    answered with 403 to ``/idp/idx/identify``): top-level ``messages``, no remediation."""
    doc = _head(ix)
    doc["messages"] = _messages(ACCESS_DENIED)
    return doc


UNKNOWN_USER = message("Authentication failed", "errors.E0000004")
#: Identify by a user not assigned to the app (the widget's mocks
#: ``error-400-user-not-assigned*.json`` and ``error-user-is-not-assigned.json``).
USER_NOT_ASSIGNED = message(
    "User is not assigned to this application.", "idx.error.user.not.assigned.to.app"
)
#: The app's sign-in policy denies access; the widget maps the key to its ``errors.E0000006``
#: ("You do not have permission to perform the requested action", ``src/v2/ion/i18nUtils.js``).
ACCESS_DENIED = message(
    "You do not have permission to perform the requested action.", "security.access_denied"
)
INVALID_PASSCODE = message(
    "Invalid code. Try again.", "api.authn.error.PASSCODE_INVALID", params=[]
)
TOO_MANY_REQUESTS = message("Too many requests", "tooManyRequests")
INVALID_REQUEST = message("The request is invalid.", "errors.E0000001")
