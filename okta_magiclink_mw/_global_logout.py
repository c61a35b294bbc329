"""Sign-outs Okta asks for: Universal Logout and OpenID Connect Back-Channel Logout.

Two optional endpoints (``Settings.universal_logout_path``, ``backchannel_logout_path``).
Both are unauthenticated POSTs from the internet whose only credential is a JWT, so every
field is hostile until the signature and the claims check out, and a refused request
changes nothing. Sans-IO like the rest of the core: the flows yield ``httpx.Request``
(signing keys) and :class:`~okta_magiclink_mw.stores.StoreCall` effects.

**Universal Logout** (Okta, "Build Universal Logout for your app"; the request it sends is
draft-parecki-oauth-global-token-revocation-05 §3):

* ``POST`` with ``Authorization: Bearer <JWT>``. Okta signs the JWT (``typ``
  ``global-token-revocation+jwt``) with the key it signs SSO tokens with, here the org
  authorization server's (``{org}/oauth2/v1/keys``). Claims: ``iss`` the org URL (or a
  custom domain), ``sub`` the app's client id, ``aud`` this endpoint's URL, ``jti``,
  ``iat``, ``nbf`` five minutes back, ``exp`` five minutes ahead. Checked here: RS256
  only with a ``kid``, ``iss``, ``aud``, ``sub`` (when present), the times with
  ``leeway`` and a lifetime of at most :data:`MAX_LIFETIME`, and ``jti`` once only.
* Body ``application/json``: ``{"sub_id": {"format": "email", "email": ...}}`` or
  ``{"sub_id": {"format": "iss_sub", "iss": ..., "sub": ...}}`` (RFC 9493 formats). Okta's
  guide still shows ``subject``, the draft's name before -03: accepted too, not both.
* Status codes (the draft's §3.4; Okta reads only the status): **204** revoked; **400**
  malformed, or a subject format not understood; **401** authentication missing or
  invalid, a replayed ``jti`` included; 403 insufficient authorization (not used);
  404 user not found; **422** unable to log the user out (the store is down). The draft
  says these "can be used". This middleware knows sessions, not people: a subject
  without a session is already signed out and gets 204, never 404, so the endpoint is
  no oracle of who uses the app. 503 when Okta's keys cannot be fetched (no verdict).

**Back-Channel Logout** (OpenID Connect Back-Channel Logout 1.0 incorporating errata set
1, §2.4-2.8): a form POST ``logout_token=<JWT>`` signed with the ID-token keys, checked as
an ID token is (RS256, ``iss`` the issuer, ``aud`` the client id, ``iat``, ``exp``), plus
``jti``; an ``events`` object with the member
``http://schemas.openid.net/event/backchannel-logout`` (itself an object); ``sub`` or
``sid`` or both; and no ``nonce``. With ``sid`` the app sessions of that Okta session
end (all of the person's when none is known under it and there is a ``sub``), with
``sub`` alone every session of the person. **200** on success, **400** with a
JSON ``error`` when the request is invalid or the logout failed, and always
``Cache-Control: no-store``.

A ``jti`` is spent (in the shared store, so on every instance) before anything is
revoked: a replay has no second effect, and a request that fails after that point needs
a fresh JWT, as Okta's retries carry. Nothing from the request is ever logged: refusals
log a fixed reason at WARNING, successes the count of sessions ended at INFO.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from . import _pages as pages
from ._decisions import RequestFacts, Respond
from ._effects import Flow
from ._oidc import OktaConversation, _call, _warn
from ._server_sessions import ServerSessions
from ._tokens import (
    _KEY_SUPPLYING_HEADERS,
    _MAX_KID_LENGTH,
    MAX_TOKEN_BYTES,
    JWKSCache,
    _b64url_decode,
    _is_number,
    _media_type,
    _strict_json_object,
)
from .errors import IdentityProviderError
from .settings import Settings
from .stores._base import StoreCall, StoreUnavailable

logger = logging.getLogger("okta_magiclink_mw")

#: Largest request body read from these endpoints; a bigger one is 413, unread.
MAX_BODY_BYTES = 16_384
#: Longest a logout JWT may live, seconds: Okta's run from ``nbf`` five minutes back to
#: ``exp`` five minutes ahead. An ``iat`` older or an ``exp`` further than this (beyond
#: ``leeway``) is refused, which also bounds how long a ``jti`` must be remembered.
MAX_LIFETIME = 600.0
#: The member of ``events`` that makes a JWT a logout token (Back-Channel Logout §2.4).
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
_UL_TYPES = frozenset({"global-token-revocation+jwt", "jwt"})
_BCL_TYPES = frozenset({"logout+jwt", "jwt"})
_MAX_ID_LENGTH = 512
_UNAVAILABLE = "temporarily_unavailable"

Headers = list[tuple[str, str]]


class LogoutRefused(Exception):
    """A logout request that changes nothing: the status to answer, an OAuth-style
    ``error`` code, and ``reason``, a fixed phrase for the log (never request content)."""

    def __init__(self, status: int, reason: str, error: str = "invalid_request") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.error = error


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a Universal Logout names: ``format`` is ``"email"`` or ``"iss_sub"``, and
    ``value`` the email address or the Okta user id (``sub``)."""

    format: str
    value: str


def _bad(reason: str) -> LogoutRefused:
    return LogoutRefused(400, reason)


def _identifier(value: object, limit: int = _MAX_ID_LENGTH) -> str | None:
    """A non-empty printable string of bounded length, else None."""
    if isinstance(value, str) and 0 < len(value) <= limit and value.isprintable():
        return value
    return None


def parse_revocation_body(content_type: str, body: bytes, issuers: frozenset[str]) -> Subject:
    """The subject of a Global Token Revocation request body.

    ``issuers`` are the ``iss`` values an ``iss_sub`` subject may carry (compared without
    a trailing slash). Raises :class:`LogoutRefused` (400), and nothing else, for any body
    that is not exactly one understood subject.
    """
    if _media_type(content_type) != "application/json":
        raise _bad("body: not application/json")
    doc = _strict_json_object(body)  # bounded; no duplicate names, NaN or bad UTF-8
    if doc is None:
        raise _bad("body: not one strict JSON object")
    named = [doc[k] for k in ("sub_id", "subject") if k in doc]
    if len(named) != 1:
        raise _bad("body: not exactly one sub_id")
    sub_id = named[0]
    if not isinstance(sub_id, dict):
        raise _bad("body: sub_id is not an object")
    fmt = sub_id.get("format")
    if fmt == "email" and set(sub_id) == {"format", "email"}:
        email = _identifier(sub_id["email"], 320)
        if email is None or "@" not in email:
            raise _bad("body: bad email")
        return Subject("email", email)
    if fmt == "iss_sub" and set(sub_id) == {"format", "iss", "sub"}:
        iss, sub = _identifier(sub_id["iss"]), _identifier(sub_id["sub"], 255)
        if iss is None or sub is None:
            raise _bad("body: bad iss or sub")
        if iss.rstrip("/") not in issuers:
            raise _bad("body: iss_sub of another issuer")
        return Subject("iss_sub", sub)
    raise _bad("body: unsupported subject format or members")


def read_bearer(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token:
        raise LogoutRefused(401, "authorization: no bearer token", "invalid_token")
    return token


def read_header(token: str, types: frozenset[str]) -> str:
    """Check a JWT's shape and JOSE header before any cryptography; return its ``kid``.

    Three base64url segments, a header that is a JSON object with ``alg`` exactly RS256
    (so ``none``, HS256 keyed with the public key and ES* are refused), a ``kid``, no
    header that supplies its own key, no ``crit``, and a ``typ`` (if any) in ``types``.
    """
    if not token.isascii() or len(token) > MAX_TOKEN_BYTES:
        raise LogoutRefused(401, "jwt: too large or not ASCII", "invalid_token")
    segments = token.split(".")
    if len(segments) != 3:
        raise LogoutRefused(401, "jwt: not three segments", "invalid_token")
    try:
        _b64url_decode(segments[1])
        _b64url_decode(segments[2])
        header = _strict_json_object(_b64url_decode(segments[0]))
    except ValueError:
        raise LogoutRefused(401, "jwt: bad base64url", "invalid_token") from None
    if header is None:
        raise LogoutRefused(401, "jwt: header is not a JSON object", "invalid_token")
    if header.get("alg") != "RS256":
        raise LogoutRefused(401, "jwt: alg is not RS256", "invalid_token")
    if "crit" in header or not _KEY_SUPPLYING_HEADERS.isdisjoint(header):
        raise LogoutRefused(401, "jwt: crit or key-supplying header", "invalid_token")
    typ = header.get("typ", "JWT")
    # RFC 7515 §4.1.9: "application/" may be left out, and media types are case-blind.
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") not in types:
        raise LogoutRefused(401, "jwt: unexpected typ", "invalid_token")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
        raise LogoutRefused(401, "jwt: missing or bad kid", "invalid_token")
    return kid


def verify_claims(
    token: str,
    key: RSAPublicKey,
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
) -> dict[str, Any]:
    """Verify the RS256 signature with ``key`` and the claims every logout JWT has.

    ``iss`` exactly ``issuer``; ``aud`` ``audience`` or a list holding it; ``jti``; and
    ``iat``/``exp`` (``nbf`` if present) against ``now`` with ``leeway``, the whole
    lifetime within :data:`MAX_LIFETIME`. Raises :class:`LogoutRefused` (401).
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            options={
                "verify_signature": True,
                # Ours, below: exact comparisons and the injected clock.
                "verify_aud": False,
                "verify_iss": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "aud", "iat", "exp", "jti"],
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        raise LogoutRefused(401, "jwt: signature or payload rejected", "invalid_token") from None
    if claims["iss"] != issuer:
        raise LogoutRefused(401, "jwt: iss mismatch", "invalid_token")
    aud = claims["aud"]
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise LogoutRefused(401, "jwt: aud mismatch", "invalid_token")
    if _identifier(claims["jti"], 256) is None:
        raise LogoutRefused(401, "jwt: bad jti", "invalid_token")
    iat, exp, nbf = claims["iat"], claims["exp"], claims.get("nbf", claims["iat"])
    if not (_is_number(iat) and _is_number(exp) and _is_number(nbf)):
        raise LogoutRefused(401, "jwt: times are not numbers", "invalid_token")
    if exp <= now - leeway:
        raise LogoutRefused(401, "jwt: expired", "invalid_token")
    if iat > now + leeway or nbf > now + leeway:
        raise LogoutRefused(401, "jwt: issued in the future or not yet valid", "invalid_token")
    if iat < now - MAX_LIFETIME - leeway or exp > now + MAX_LIFETIME + leeway or iat > exp:
        raise LogoutRefused(401, "jwt: lifetime too long", "invalid_token")
    return claims


def _backchannel_claims(claims: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(sub, sid)`` of a logout token, after the checks of Back-Channel Logout §2.6."""
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise LogoutRefused(401, "logout_token: no back-channel logout event")
    if "nonce" in claims:
        raise LogoutRefused(401, "logout_token: has a nonce")
    sub, sid = claims.get("sub"), claims.get("sid")
    if (sub is not None and _identifier(sub, 255) is None) or (
        sid is not None and _identifier(sid) is None
    ):
        raise LogoutRefused(401, "logout_token: bad sub or sid")
    if sub is None and sid is None:
        raise LogoutRefused(401, "logout_token: neither sub nor sid")
    return sub, sid


def signing_key(
    cache: JWKSCache, url: str, kid: str, clock: Callable[[], float]
) -> Flow[RSAPublicKey]:
    """The key for ``kid`` from ``cache``, fetching ``url`` first when the cache says so
    (single-flight and rate-limited, exactly as for ID tokens: R32)."""
    fetch = cache.begin(kid, clock())
    if fetch is None:
        key = cache.key_for(kid)
        if key is None:  # a flood of unknown kids is being paced: no verdict
            raise LogoutRefused(503, "keys: unknown kid while refetching is paced", _UNAVAILABLE)
        return key
    request = httpx.Request("GET", url, headers={"Accept": "application/json"})
    try:
        response = yield from _call(request, "jwks")
        cache.update(
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            clock(),
            response.headers.get("cache-control"),
        )
    except IdentityProviderError as exc:
        _warn("jwks.failed", exc)
        key = cache.key_for(kid)
        if key is None:
            raise LogoutRefused(503, "keys: could not be fetched", _UNAVAILABLE) from None
        return key
    finally:
        cache.finish(fetch)
    key = cache.key_for(kid)
    if key is None:  # a fresh set from Okta does not have it: not Okta's
        raise LogoutRefused(401, "jwt: kid not in the current keys", "invalid_token")
    return key


class GlobalLogout:
    """The two endpoints, on the core: ``paths`` are theirs, :meth:`handle` answers them.

    :raises ConfigurationError: (from the core) when there is no session store: without
        one a sign-out cannot reach the other processes.
    """

    def __init__(
        self,
        settings: Settings,
        okta: OktaConversation,
        sessions: ServerSessions,
        *,
        deployment: str,
        clock: Callable[[], float],
    ) -> None:
        s = settings
        self._settings = s
        self._okta = okta
        self._sessions = sessions
        self._deployment = deployment
        self._clock = clock
        self.universal_path = s.universal_logout_path
        self.backchannel_path = s.backchannel_logout_path
        self.paths = frozenset(p for p in (self.universal_path, self.backchannel_path) if p)
        issuer = urlsplit(s.issuer)
        org = f"{issuer.scheme}://{issuer.netloc}"
        self._ul_issuer = s.universal_logout_issuer or org
        self._ul_keys_url = f"{self._ul_issuer.rstrip('/')}/oauth2/v1/keys"
        self._ul_audience = f"{s.app_origin}{self.universal_path}"
        # The iss an iss_sub subject may carry: the Okta user id is one across the org.
        self._subject_issuers = frozenset(i.rstrip("/") for i in (s.issuer, org, self._ul_issuer))
        #: The org authorization server's keys: another set than the ID tokens'.
        self.org_jwks = JWKSCache(flight_timeout=s.http_deadline)

    def too_large(self) -> Respond:
        """The answer to a body over :data:`MAX_BODY_BYTES` (the adapter stops reading)."""
        logger.warning(
            "global logout refused: body too large",
            extra={"event": "global_logout.refused", "reason": "body: too large"},
        )
        return _answer(413, {"error": "invalid_request"})

    def handle(self, request: RequestFacts) -> Flow[Respond]:
        """Answer a request to one of :attr:`paths` (``request`` is a ``RequestFacts``)."""
        if request.path == self.universal_path:
            return (yield from self._universal(request))
        return (yield from self._backchannel(request))

    # -- Universal Logout ---------------------------------------------------------------

    def _universal(self, request: RequestFacts) -> Flow[Respond]:
        if request.method != "POST":
            return _answer(405, {"error": "invalid_request"}, [("allow", "POST")])
        try:
            token = read_bearer(request.authorization)
            kid = read_header(token, _UL_TYPES)
            key = yield from signing_key(self.org_jwks, self._ul_keys_url, kid, self._clock)
            claims = verify_claims(
                token,
                key,
                issuer=self._ul_issuer,
                audience=self._ul_audience,
                now=self._clock(),
                leeway=self._settings.leeway,
            )
            if claims.get("sub", self._settings.client_id) != self._settings.client_id:
                raise LogoutRefused(401, "jwt: sub is not this app", "invalid_token")
            subject = parse_revocation_body(
                request.content_type, request.body, self._subject_issuers
            )
            yield from self._spend(claims, 401)
            refresh_tokens = yield from self._refresh_tokens(subject)
            count = yield from self._revoke_subject(subject, 422)
        except LogoutRefused as exc:
            return self._refused("universal", exc, exc.status)
        # Okta's guide: revoke the person's refresh tokens too. Best effort: a failure is
        # logged at WARNING by the conversation, and the sessions are gone regardless.
        for refresh_token in refresh_tokens:
            yield from self._okta.revoke(refresh_token, "refresh_token")
        logger.info(
            "universal logout: %d sessions ended",
            count,
            extra={"event": "global_logout.done", "endpoint": "universal", "count": count},
        )
        return Respond(204, _headers())

    def _refresh_tokens(self, subject: Subject) -> Flow[list[str]]:
        try:
            if subject.format == "iss_sub":
                return (yield from self._sessions.refresh_tokens_of(sub=subject.value))
            return (yield from self._sessions.refresh_tokens_of(email=subject.value))
        except StoreUnavailable:
            raise LogoutRefused(422, "session store unavailable", "server_error") from None

    def _revoke_subject(self, subject: Subject, failed: int) -> Flow[int]:
        try:
            if subject.format == "iss_sub":
                return (yield from self._sessions.revoke_subject(subject.value))
            return (yield from self._sessions.revoke_email(subject.value))
        except StoreUnavailable:
            raise LogoutRefused(failed, "session store unavailable", "server_error") from None

    def _spend(self, claims: dict[str, Any], replayed: int) -> Flow[None]:
        """Spend the JWT's ``jti`` on every instance; a replay is refused (no second effect)."""
        now = self._clock()
        name = f"{self._deployment}\0global-logout\0{claims['iss']}\0{claims['jti']}"
        key = hashlib.sha256(name.encode()).hexdigest()
        ttl = max(float(claims["exp"]) - now, 0.0) + self._settings.leeway + 1
        try:
            fresh = yield StoreCall("spend", (key, ttl))
        except StoreUnavailable:
            raise LogoutRefused(422, "session store unavailable", "server_error") from None
        if not fresh:
            raise LogoutRefused(replayed, "jwt: jti replayed", "invalid_token")

    # -- Back-Channel Logout ----------------------------------------------------------

    def _backchannel(self, request: RequestFacts) -> Flow[Respond]:
        if request.method != "POST":
            return _answer(405, {"error": "invalid_request"}, [("allow", "POST")])
        s = self._settings
        try:
            token = _logout_token(request.content_type, request.body)
            kid = read_header(token, _BCL_TYPES)
            # The ID-token keys, through the same cache and discovery as sign-ins.
            try:
                discovery = yield from self._okta._discover()
            except IdentityProviderError:
                raise LogoutRefused(400, "discovery unavailable", "server_error") from None
            key = yield from signing_key(self._okta.jwks, discovery.jwks_uri, kid, self._clock)
            claims = verify_claims(
                token,
                key,
                issuer=s.issuer,
                audience=s.client_id,
                now=self._clock(),
                leeway=s.leeway,
            )
            sub, sid = _backchannel_claims(claims)
            yield from self._spend(claims, 400)
            count = yield from self._revoke_backchannel(sub, sid)
        except LogoutRefused as exc:
            return self._refused("backchannel", exc, 400)  # §2.8: invalid or failed: 400
        logger.info(
            "back-channel logout: %d sessions ended",
            count,
            extra={"event": "global_logout.done", "endpoint": "backchannel", "count": count},
        )
        # A Content-Type even without a body: PEP 3333 servers and wsgiref.validate expect one.
        return Respond(200, [*_headers(), ("content-type", "text/plain; charset=utf-8")])

    def _revoke_backchannel(self, sub: str | None, sid: str | None) -> Flow[int]:
        try:
            if sid is not None:  # §2.7: that Okta session's sessions, not all of the person's
                count = yield from self._sessions.revoke_okta_session(sid)
                if count or sub is None:
                    return count
                # No session is indexed under that sid (signed in before the index was
                # kept, or an ID token without sid): end all of the person's rather than
                # leave theirs running.
            assert sub is not None  # _backchannel_claims: one of the two
            return (yield from self._sessions.revoke_subject(sub))
        except StoreUnavailable:
            raise LogoutRefused(400, "session store unavailable", "server_error") from None

    def _refused(self, endpoint: str, exc: LogoutRefused, status: int) -> Respond:
        logger.warning(
            "%s logout refused: %s",
            endpoint,
            exc.reason,
            extra={"event": "global_logout.refused", "endpoint": endpoint, "reason": exc.reason},
        )
        extra: Headers = []
        if status == 401:  # RFC 6750 §3
            extra.append(("www-authenticate", 'Bearer error="invalid_token"'))
        return _answer(status, {"error": exc.error}, extra)


def _logout_token(content_type: str, body: bytes) -> str:
    """The one ``logout_token`` of a form body; other parameters are ignored (§2.5)."""
    if _media_type(content_type) != "application/x-www-form-urlencoded":
        raise _bad("body: not a form")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise _bad("body: malformed form") from None
    tokens = [value for name, value in pairs if name == "logout_token"]
    if len(tokens) != 1 or not tokens[0]:
        raise _bad("body: not exactly one logout_token")
    return tokens[0]


def _headers() -> Headers:
    return pages.security_headers(pages.strict_csp(pages.new_nonce()))


def _answer(status: int, body: dict[str, str], extra: Headers | None = None) -> Respond:
    headers = _headers()
    headers += [("content-type", "application/json"), *(extra or [])]
    return Respond(status, headers, json.dumps(body).encode())
