"""Objects of the fake org: users, OIDC clients, IDX transactions, grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ._ids import okta_id

#: Okta's default lifetime of ID and access tokens, in seconds.
TOKEN_LIFETIME = 3600
#: Okta's default "Grace period for token rotation", in seconds (the Admin Console allows 0-60).
ROTATION_GRACE = 30.0


@dataclass
class FakeUser:
    """An Okta user with an enrolled email authenticator (password-optional)."""

    email: str
    name: str
    login: str
    id: str = field(default_factory=lambda: okta_id("00u"))
    email_enrollment_id: str = field(default_factory=lambda: okta_id("eae"))
    #: Okta's user status: ``ACTIVE``, or ``DEPROVISIONED`` once deactivated.
    status: str = "ACTIVE"
    #: Names of the Okta groups the user is in (``FakeOkta.set_groups`` changes them).
    groups: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Whether the user may sign in and use tokens (status ``ACTIVE``)."""
        return self.status == "ACTIVE"

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

    Token settings, as on the app's General tab: ``access_token_lifetime``
    (seconds; Okta's default is one hour), ``refresh_token_rotation``
    ("Rotate token after every use" instead of a persistent refresh
    token) and ``rotation_grace`` ("Grace period for token rotation",
    0-60 seconds, default 30): how long a rotated-out refresh token still
    works.

    The groups claim, as an admin adds it to the authorization server's
    Claims (or the app's "Groups claim filter"): ``groups_claim`` is its
    name (None: not configured, no claim), ``groups_filter`` the regex a
    group's name must match in full ("Matches regex"). ID tokens carry it
    when the user is in at least one matching group.
    """

    client_id: str
    client_secret: str | None
    redirect_uris: list[str]
    email_verify_callback_uri: str | None
    trusted_origins: list[str]
    post_logout_redirect_uris: list[str]
    label: str = "FakeOkta app"
    access_token_lifetime: int = TOKEN_LIFETIME
    refresh_token_rotation: bool = False
    rotation_grace: float = ROTATION_GRACE
    groups_claim: str | None = "groups"
    groups_filter: str = ".*"
    #: Client authentication, as the app's General > Client Credentials (see
    #: ``okta_magiclink_mw.testing._client_auth``): ``none`` (a public client),
    #: ``client_secret_basic`` or ``client_secret_post`` (either is accepted with the
    #: ``client_secret``), or ``private_key_jwt`` (a client assertion signed by one of the
    #: public keys in ``jwks``, JWK dicts with a ``kid`` each).
    token_endpoint_auth_method: str = "none"  # noqa: S105 - a method's name
    jwks: list[dict[str, Any]] = field(default_factory=list)
    #: "Require Demonstrating Proof of Possession (DPoP) header in token requests": token
    #: calls without a DPoP proof get ``invalid_dpop_proof``.
    require_dpop: bool = False


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
    sid: str
    used: bool = False


@dataclass
class RefreshFamily:
    """Every refresh token descending from one sign-in (a rotation chain).

    Revoking a refresh token, deactivating the user, or Okta's reuse
    detection revokes the whole family, and with it every access token
    minted from it.
    """

    id: str
    user: FakeUser
    client_id: str
    #: Scopes granted at sign-in: a refresh may narrow them, never widen them.
    scopes: list[str]
    auth_time: float
    sid: str
    current: str = ""
    revoked: bool = False


@dataclass
class RefreshTokenRecord:
    """One refresh token value of a :class:`RefreshFamily`."""

    token: str
    family: RefreshFamily
    issued_at: float
    last_used_at: float
    #: When a newer token replaced this one (rotation); it lives on for the grace period.
    rotated_at: float | None = None


@dataclass
class AccessTokenRecord:
    """Server-side record of an issued access token (for userinfo/revoke)."""

    jti: str
    user: FakeUser
    client_id: str
    scopes: list[str]
    expires_at: float
    revoked: bool = False
    #: The refresh family it was minted under (``None`` without ``offline_access``).
    family: RefreshFamily | None = None

    @property
    def usable(self) -> bool:
        """Not revoked, not from a revoked family, and its user still active."""
        family_ok = self.family is None or not self.family.revoked
        return not self.revoked and family_ok and self.user.active
