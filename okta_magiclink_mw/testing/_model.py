"""Objects of the fake org: users, OIDC clients, IDX transactions, grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ._ids import okta_id

#: Okta's default lifetime of ID and access tokens, in seconds.
TOKEN_LIFETIME = 3600
#: Okta's default "Grace period for token rotation", in seconds (the Admin Console allows 0-60).
ROTATION_GRACE = 30.0
#: The group every Okta user is in. Assigning it to an app is the Admin Console's
#: "Controlled access: Allow everyone in your organization to access".
EVERYONE = "Everyone"
#: Grant types a new OIDC Web app has in the Admin Console: only Authorization Code is
#: ticked; Refresh Token and (under Advanced) Interaction Code are the admin's to add.
NEW_WEB_APP_GRANT_TYPES = ("authorization_code",)
#: What the README tells an admin to tick for this middleware.
DOCUMENTED_GRANT_TYPES = ("authorization_code", "interaction_code", "refresh_token")
#: Grant types Okta knows for an OIDC app (``settings.oauthClient.grant_types``).
KNOWN_GRANT_TYPES = frozenset(
    {
        "authorization_code",
        "client_credentials",
        "implicit",
        "interaction_code",
        "password",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:openid:params:grant-type:ciba",
        "urn:okta:params:oauth:grant-type:otp",
        "urn:okta:params:oauth:grant-type:oob",
    }
)


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
class TrustedOrigin:
    """One entry of the org's Security > API > Trusted Origins.

    ``origin`` is compared with a request's ``Origin`` header exactly, as
    Okta does: ``https://app.example/`` (trailing slash) never matches.
    ``cors`` lets that origin's JavaScript call Okta (the widget needs it);
    ``redirect`` lets Okta send browsers there after sign-in or sign-out.
    """

    origin: str
    name: str
    cors: bool = True
    redirect: bool = False
    id: str = field(default_factory=lambda: okta_id("tos"))

    @property
    def scopes(self) -> list[str]:
        """``["CORS", "REDIRECT"]``, as far as enabled (Okta's ``scopes[].type``)."""
        return [name for name, on in (("CORS", self.cors), ("REDIRECT", self.redirect)) if on]


@dataclass
class FakeClient:
    """An OIDC web app integration, with the settings of its General tab.

    ``client_secret=None`` makes it a public client (auth method ``none``);
    otherwise ``client_secret_post`` and ``client_secret_basic`` are accepted.

    Every field is a public knob: change it on a registered client to set the
    app up wrong one way at a time, as an admin might.

    ``grant_types`` are the ticked "Grant type" boxes: without
    ``interaction_code`` ``/v1/interact`` answers ``unauthorized_client``;
    without ``refresh_token`` no refresh token is issued and the
    ``refresh_token`` grant answers ``unauthorized_client``.
    ``redirect_uris`` are the "Sign-in redirect URIs",
    ``post_logout_redirect_uris`` the "Sign-out redirect URIs".
    ``email_verify_callback_uri`` is the "Callback URI" of the Email
    Verification Experience: unset (None), a magic link lands on an
    Okta-hosted page; set, Okta's ``/email/verify`` hop redirects there with
    ``state`` and ``otp``.

    Assignments: ``assigned_users`` (user ids) and ``assigned_groups`` (group
    names; :data:`EVERYONE` is every user) may sign in; anyone else gets
    "User is not assigned to this application." in the widget.
    ``denied_users`` / ``denied_groups`` stand for an app sign-in policy rule
    whose action is "Access is denied": those users get "You do not have
    permission to perform the requested action" in the widget.

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
    post_logout_redirect_uris: list[str]
    grant_types: list[str] = field(default_factory=lambda: list(NEW_WEB_APP_GRANT_TYPES))
    assigned_users: set[str] = field(default_factory=set)
    assigned_groups: set[str] = field(default_factory=set)
    denied_users: set[str] = field(default_factory=set)
    denied_groups: set[str] = field(default_factory=set)
    label: str = "FakeOkta app"
    access_token_lifetime: int = TOKEN_LIFETIME
    refresh_token_rotation: bool = False
    rotation_grace: float = ROTATION_GRACE
    groups_claim: str | None = "groups"
    groups_filter: str = ".*"

    def is_assigned(self, user: FakeUser) -> bool:
        """Whether ``user`` is assigned to the app, directly or through a group."""
        groups = {EVERYONE, *user.groups}
        return user.id in self.assigned_users or bool(groups & self.assigned_groups)

    def is_denied(self, user: FakeUser) -> bool:
        """Whether the app's sign-in policy denies ``user`` access."""
        return user.id in self.denied_users or bool(set(user.groups) & self.denied_groups)


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
    #: The magic link was opened on Okta's own page in the same browser: the next poll
    #: of the original tab finishes the sign-in.
    verified_by_link: bool = False
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


@dataclass
class EmailLink:
    """The magic link of one email (``${emailAuthenticationLink}``).

    ``{org}/email/verify/{client_id}?token={token}``: it carries neither the
    OTP nor the state; Okta looks them up by ``token``.
    """

    token: str
    interaction: Interaction
    otp: str
    client_id: str
