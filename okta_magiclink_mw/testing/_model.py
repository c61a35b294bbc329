"""Objects of the fake org: users, OIDC clients, IDX transactions, grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ._ids import okta_id


@dataclass
class FakeUser:
    """An Okta user with an enrolled email authenticator (password-optional)."""

    email: str
    name: str
    login: str
    id: str = field(default_factory=lambda: okta_id("00u"))
    email_enrollment_id: str = field(default_factory=lambda: okta_id("eae"))

    @property
    def given_name(self) -> str:
        """First word of :attr:`name`."""
        return self.name.split(" ", 1)[0] if self.name else ""

    @property
    def family_name(self) -> str:
        """Everything after the first word of :attr:`name`."""
        parts = self.name.split(" ", 1)
        return parts[1] if len(parts) > 1 else ""


@dataclass
class FakeClient:
    """An OIDC web app integration allowed to use the Interaction Code grant.

    ``client_secret=None`` makes it a public client (auth method ``none``);
    otherwise ``client_secret_post`` and ``client_secret_basic`` are accepted.
    ``email_verify_callback_uri`` is the app's "Callback URI" of the Email
    Verification Experience: magic links point there.
    """

    client_id: str
    client_secret: str | None
    redirect_uris: list[str]
    email_verify_callback_uri: str | None
    trusted_origins: list[str]
    post_logout_redirect_uris: list[str]
    label: str = "FakeOkta app"


class Step(Enum):
    """Where an IDX transaction stands."""

    IDENTIFY = "identify"
    VERIFY_DATA = "authenticator-verification-data"
    CHALLENGE = "challenge-authenticator"
    SUCCESS = "success"


@dataclass
class Interaction:
    """One ``/v1/interact`` transaction and its IDX state."""

    handle: str
    state_handle: str
    client: FakeClient
    scopes: list[str]
    redirect_uri: str
    code_challenge: str
    state: str | None
    nonce: str | None
    created_at: float
    expires_at: float
    step: Step = Step.IDENTIFY
    user: FakeUser | None = None
    otp: str | None = None
    otp_issued_at: float = 0.0
    last_poll_at: float | None = None
    interaction_code: str | None = None
    auth_time: float | None = None


@dataclass
class CodeGrant:
    """An interaction code waiting to be redeemed at ``/v1/token``."""

    code: str
    client_id: str
    user: FakeUser
    code_challenge: str
    scopes: list[str]
    redirect_uri: str
    nonce: str | None
    issued_at: float
    auth_time: float
    used: bool = False


@dataclass
class AccessTokenRecord:
    """Server-side record of an issued access token (for userinfo/revoke)."""

    jti: str
    user: FakeUser
    client_id: str
    scopes: list[str]
    expires_at: float
    revoked: bool = False
