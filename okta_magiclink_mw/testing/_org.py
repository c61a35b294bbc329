"""State and rules of the fake org, independent of HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import jwt

from ._faults import Faults
from ._ids import okta_id, okta_session_id, opaque, otp, state_handle
from ._idx import OrgInfo
from ._keys import KeySet
from ._model import (
    TOKEN_LIFETIME,
    AccessTokenRecord,
    CodeGrant,
    EmailLink,
    FakeClient,
    FakeUser,
    Interaction,
    RefreshFamily,
    RefreshTokenRecord,
    Step,
    TrustedOrigin,
)
from ._outbox import EmailMessage

#: Lifetime of an email OTP / magic link (Okta's default ``tokenLifetimeInMinutes`` = 5).
OTP_LIFETIME = 300.0
#: Lifetime of an interaction code.
INTERACTION_CODE_LIFETIME = 60.0
#: A refresh token unused for this long expires (Okta: "every seven days if it hasn't been used").
REFRESH_TOKEN_IDLE = 7 * 24 * 3600.0
#: Scopes the fake ``default`` authorization server knows.
SUPPORTED_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")


class SeenRequest(NamedTuple):
    """One request the fake received (see :attr:`FakeOkta.requests`)."""

    method: str
    path: str


def s256(verifier: str) -> str:
    """PKCE S256 code challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Org:
    """Users, clients, transactions and grants of one fake Okta org."""

    def __init__(
        self,
        base_url: str,
        *,
        clock: Callable[[], float] = time.time,
        idx_lifetime: float = 600.0,
        poll_min_interval: float = 1.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.issuer = f"{self.base_url}/oauth2/default"
        self.clock = clock
        self.idx_lifetime = idx_lifetime
        self.poll_min_interval = poll_min_interval
        self.org_id = okta_id("00o")
        self.info = OrgInfo(
            base_url=self.base_url,
            issuer=self.issuer,
            email_authenticator_id=okta_id("aut"),
        )
        self.keys = KeySet()
        #: Keys of the org authorization server (``{base_url}/oauth2/v1/keys``), a separate
        #: set: they sign what the org itself asserts, such as Universal Logout requests.
        self.org_keys = KeySet()
        self.faults = Faults()
        self.users: dict[str, FakeUser] = {}
        self.clients: dict[str, FakeClient] = {}
        #: Security > API > Trusted Origins, by origin (see :class:`TrustedOrigin`).
        self.trusted_origins: dict[str, TrustedOrigin] = {}
        #: Magic links sent, by token.
        self.email_links: dict[str, EmailLink] = {}
        #: Whether a magic link opened on Okta's own page counts as the browser that
        #: started the sign-in (True: the original tab finishes) or another browser or
        #: device (False: the page only shows the code to type in the original tab).
        self.magic_link_same_browser = True
        self.interactions: dict[str, Interaction] = {}
        self.by_state_handle: dict[str, Interaction] = {}
        self.codes: dict[str, CodeGrant] = {}
        self.access_tokens: dict[str, AccessTokenRecord] = {}
        self.refresh_tokens: dict[str, RefreshTokenRecord] = {}
        self.refresh_families: dict[str, RefreshFamily] = {}
        self._outbox: list[EmailMessage] = []
        self._requests: list[SeenRequest] = []

    # -- registry ---------------------------------------------------------------------------

    def find_user(self, identifier: str) -> FakeUser | None:
        """The user whose login or email is ``identifier`` (case-insensitive)."""
        wanted = identifier.strip().lower()
        for user in self.users.values():
            if wanted in (user.login.lower(), user.email.lower()):
                return user
        return None

    def is_trusted_origin(self, origin: str) -> bool:
        """Whether ``origin`` is a Trusted Origin with CORS enabled (exact match)."""
        entry = self.trusted_origins.get(origin)
        return entry is not None and entry.cors

    # -- IDX transactions -------------------------------------------------------------------

    def start_interaction(
        self,
        client: FakeClient,
        *,
        scopes: list[str],
        redirect_uri: str,
        code_challenge: str,
        state: str | None,
        nonce: str | None,
    ) -> Interaction:
        """Record a new ``/v1/interact`` transaction."""
        now = self.clock()
        ix = Interaction(
            handle=opaque(32),
            state_handle=state_handle(),
            client=client,
            scopes=scopes,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            state=state,
            nonce=nonce,
            created_at=now,
            expires_at=now + self.idx_lifetime,
        )
        self.interactions[ix.handle] = ix
        self.by_state_handle[ix.state_handle] = ix
        return ix

    def touch(self, ix: Interaction) -> None:
        """Slide the IDX expiry forward after a user action."""
        ix.expires_at = self.clock() + self.idx_lifetime

    def is_expired(self, ix: Interaction) -> bool:
        """Whether the IDX state has passed its ``expiresAt``."""
        return self.clock() >= ix.expires_at

    def send_email_challenge(self, ix: Interaction) -> EmailMessage:
        """Generate a new OTP for ``ix`` and "send" it; older OTPs stop working."""
        assert ix.user is not None
        ix.otp = otp()
        ix.otp_issued_at = self.clock()
        ix.verified_by_link = False
        link = EmailLink(
            token="ft" + opaque(24), interaction=ix, otp=ix.otp, client_id=ix.client.client_id
        )
        self.email_links[link.token] = link
        msg = EmailMessage(
            to=ix.user.email,
            subject="One-time verification code",
            otp=ix.otp,
            magic_link=f"{self.base_url}/email/verify/{link.client_id}?"
            + urlencode({"token": link.token}),
            sent_at=ix.otp_issued_at,
        )
        self._outbox.append(msg)
        return msg

    def email_verify_redirect(self, link: EmailLink) -> str | None:
        """Where Okta's ``/email/verify`` hop sends the browser: the app's Email verify
        callback URI with ``state`` and ``otp``, or None when it is unset."""
        callback = link.interaction.client.email_verify_callback_uri
        if not callback:
            return None
        query = urlencode({"state": link.interaction.state or "", "otp": link.otp})
        return f"{callback}{'&' if '?' in callback else '?'}{query}"

    def link_is_live(self, link: EmailLink) -> bool:
        """Whether the link's OTP is still the transaction's, unexpired and unused."""
        ix = link.interaction
        return (
            ix.step is Step.CHALLENGE
            and not self.is_expired(ix)
            and ix.otp == link.otp
            and self.check_otp(ix, link.otp)
        )

    def check_otp(self, ix: Interaction, passcode: str) -> bool:
        """Whether ``passcode`` is the live OTP of ``ix`` (right value, < 5 minutes old)."""
        if ix.otp is None or not passcode:
            return False
        if self.clock() - ix.otp_issued_at >= OTP_LIFETIME:
            return False
        return _consteq(passcode.strip(), ix.otp)

    def complete(self, ix: Interaction) -> CodeGrant:
        """Finish the transaction: burn the OTP, open an Okta session, issue an interaction code."""
        assert ix.user is not None
        now = self.clock()
        ix.otp = None
        ix.step = Step.SUCCESS
        ix.auth_time = now
        grant = CodeGrant(
            code=opaque(32),
            client_id=ix.client.client_id,
            user=ix.user,
            code_challenge=ix.code_challenge,
            scopes=list(ix.scopes),
            redirect_uri=ix.redirect_uri,
            nonce=ix.nonce,
            issued_at=now,
            auth_time=now,
            sid=okta_session_id(),
        )
        ix.interaction_code = grant.code
        self.codes[grant.code] = grant
        return grant

    # -- tokens -----------------------------------------------------------------------------

    def id_token_claims(
        self,
        user: FakeUser,
        client_id: str,
        *,
        scopes: list[str] | tuple[str, ...] = ("openid", "profile", "email"),
        nonce: str | None = None,
        auth_time: float | None = None,
        now: float | None = None,
        sid: str | None = None,
    ) -> dict[str, Any]:
        """The claims the fake puts in an ID token for ``user``.

        ``sid`` is the Okta session of the sign-in. Real Okta puts it in ID
        tokens as ``"sid": "idx…"`` (``idx`` + 22 characters): seen in the
        ID-token fixtures of Okta's own SDK tests (okta/okta-mobile-kotlin,
        ``DefaultIdTokenValidatorTest``: ``"sid": "idxWxklp_4kSxuC_nU1pXD-nA"``
        next to ``idp`` and ``preferred_username``) and in a captured
        oktapreview.com ID token. Okta's discovery ``claims_supported`` does
        not list it. It stays the same on ID tokens minted by a refresh.
        """
        iat = int(self.clock() if now is None else now)
        claims: dict[str, Any] = {
            "sub": user.id,
            "ver": 1,
            "iss": self.issuer,
            "aud": client_id,
            "iat": iat,
            "exp": iat + TOKEN_LIFETIME,
            "jti": "ID." + opaque(32),
            "amr": ["email"],
            "idp": self.org_id,
            "auth_time": int(iat if auth_time is None else auth_time),
        }
        if nonce:
            claims["nonce"] = nonce
        if sid:
            claims["sid"] = sid
        if "profile" in scopes:
            claims["name"] = user.name
            claims["preferred_username"] = user.login
        if "email" in scopes:
            claims["email"] = user.email
            claims["email_verified"] = True
        client = self.clients.get(client_id)
        if client is not None and client.groups_claim:
            # As Okta's groups claim: the user's groups that match the filter, in full;
            # left out when none does.
            pattern = re.compile(client.groups_filter)
            groups = [g for g in user.groups if pattern.fullmatch(g)]
            if groups:
                claims[client.groups_claim] = groups
        return claims

    def access_token_record(self, token: str) -> AccessTokenRecord | None:
        """The record of a bearer access token we minted, if it is still good.

        ``None`` for a token that is not ours, expired on the org's clock,
        revoked (itself or through its refresh family) or whose user was
        deactivated.
        """
        try:
            claims = self.keys.verify(token, audience="api://default", now=self.clock())
        except jwt.InvalidTokenError:
            return None
        record = self.access_tokens.get(str(claims.get("jti")))
        if record is None or not record.usable or self.clock() >= record.expires_at:
            return None
        return record

    def userinfo_claims(self, record: AccessTokenRecord) -> dict[str, Any]:
        """``/v1/userinfo`` body for an access token."""
        user = record.user
        claims: dict[str, Any] = {"sub": user.id}
        if "profile" in record.scopes:
            claims.update(
                name=user.name,
                locale="en_US",
                preferred_username=user.login,
                given_name=user.given_name,
                family_name=user.family_name,
                zoneinfo="America/Los_Angeles",
                updated_at=int(self.clock()),
            )
        if "email" in record.scopes:
            claims.update(email=user.email, email_verified=True)
        return claims

    def revoke_user_tokens(self, user: FakeUser) -> None:
        """Revoke every access and refresh token of ``user`` (deactivation)."""
        for family in self.refresh_families.values():
            if family.user is user:
                family.revoked = True
        for record in self.access_tokens.values():
            if record.user is user:
                record.revoked = True

    # -- logs -------------------------------------------------------------------------------

    @property
    def outbox(self) -> list[EmailMessage]:
        """Emails sent so far, newest last."""
        return self._outbox

    @property
    def requests(self) -> list[SeenRequest]:
        """``(method, path)`` of every request received, oldest first."""
        return self._requests

    def request_count(self, path: str, method: str | None = None) -> int:
        """How many requests hit ``path`` (full path, e.g. ``/oauth2/default/v1/token``)."""
        return sum(1 for r in self._requests if r.path == path and method in (None, r.method))


def _consteq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
