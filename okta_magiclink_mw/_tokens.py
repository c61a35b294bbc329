"""Sans-IO handling of everything Okta sends back: discovery, token responses, JWKS, ID tokens.

Nothing here performs I/O.  The core fetches bytes with httpx (with its own timeouts, size caps
and redirect policy) and hands ``status``, ``content_type`` and ``body`` to these functions,
which either return plain values or raise one of the typed errors from
:mod:`okta_magiclink_mw.errors`.

Two rules hold throughout:

* **Fail closed.** Anything unexpected -- wrong status, wrong media type, malformed JSON,
  missing or mistyped fields -- is an error, never a best-effort guess (R14, R34).
* **No upstream content in messages.** Public messages are fixed strings; the reason a check
  failed is attached with :meth:`BaseException.add_note` as a fixed, secret-free phrase so that
  logs can say *why* without ever containing a token, a code or a response body (R11, R34).
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeGuard
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from .errors import IdentityProviderError, InvalidIdToken, TokenExchangeError

__all__ = [
    "DEFAULT_KEYS_FRESHNESS",
    "MAX_TOKEN_BYTES",
    "Discovery",
    "JWKSCache",
    "KeyFetch",
    "TokenSet",
    "freshness",
    "parse_discovery",
    "parse_token_response",
    "read_kid",
    "validate_id_token",
]

#: Largest ID token accepted, checked before any decoding (#77, Authlib CVE-2025-61920 class).
#: Okta ID tokens are 1-2 KB even with many groups; 16 KB leaves ample room.
MAX_TOKEN_BYTES = 16_384

#: Largest JSON document parsed from Okta.  The core caps the download too (#91); this second
#: cap keeps the parser bounded even if it is called with a body from somewhere else.
_MAX_JSON_BYTES = 1_048_576

#: Smallest RSA modulus trusted for ID-token signatures (NIST SP 800-131A; Okta uses 2048).
_MIN_RSA_BITS = 2048

#: Longest ``kid`` accepted.  Okta's are 43 characters; the cap bounds log lines and dict keys.
_MAX_KID_LENGTH = 256

#: Only the one algorithm Okta uses for ID tokens; never taken from the token header alone (R7).
_ALGORITHMS = ["RS256"]

#: JOSE header parameters that would let the token choose its own verification key (#70).
_KEY_SUPPLYING_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})

#: Media types accepted for JSON answers ("application/jwk-set+json" is RFC 7517 §8.5).
_JSON_TYPES = frozenset({"application/json"})
_JWKS_TYPES = frozenset({"application/json", "application/jwk-set+json"})

#: Token-endpoint error codes surfaced as ``TokenExchangeError.code``.  Anything else an
#: upstream (or something impersonating it) sends is reduced to ``token_error`` so that
#: attacker-influenced text never becomes a "stable" error code (R8 applied to R14).
#: Sources: RFC 6749 §5.2, RFC 9449 §12.2 (DPoP), protocol.md §9.2.
_KNOWN_TOKEN_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_dpop_proof",
        "use_dpop_nonce",
    }
)

_EXPIRED_MESSAGE = "This sign-in has expired or was already used. Please start again."
_CONFIG_MESSAGE = (
    "Sign-in is not available because of a configuration problem. "
    "Please contact the site administrator."
)

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS = {"https": 443, "http": 80}


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _fail(error: type[Exception], reason: str, *args: Any, **kwargs: Any) -> NoReturn:
    """Raise ``error(*args, **kwargs)`` with ``reason`` attached as a note for the logs.

    ``reason`` must be a fixed phrase: callers never interpolate upstream or token content.
    """
    exc = error(*args, **kwargs)
    exc.add_note(reason)
    raise exc


def _media_type(content_type: str) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``."""
    return content_type.split(";", 1)[0].strip().lower()


def _reject_constant(name: str) -> NoReturn:
    """``parse_constant`` hook: refuse ``NaN``, ``Infinity`` and ``-Infinity``."""
    # json accepts them by default; they are not JSON (RFC 8259 §6) and an infinite ``exp``
    # would never expire.
    raise ValueError("non-finite number")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: build a dict, refusing duplicate member names."""
    # Duplicate member names are ambiguous (RFC 8259 §4): two parsers may pick different
    # values, which is how JSON smuggling works.  Refuse instead of silently keeping one.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate member")
        result[key] = value
    return result


def _strict_json_object(body: bytes) -> dict[str, Any] | None:
    """Parse ``body`` as one strict JSON object; ``None`` if it is anything else.

    Bounded in size; rejects duplicate names, NaN/Infinity, invalid UTF-8 and over-deep nesting.
    """
    if len(body) > _MAX_JSON_BYTES:
        return None
    try:
        value = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_unique_object,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, UnicodeDecodeError, our hooks and the
        # int-digits limit; RecursionError covers pathological nesting.
        return None
    return value if isinstance(value, dict) else None


def _is_endpoint_url(value: object) -> TypeGuard[str]:
    """True for an absolute https URL, or http on a loopback host (the local emulator)."""
    if not isinstance(value, str) or not value.isascii():
        return False
    if any(ch <= " " or ch in "\x7f\\" for ch in value):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 -- evaluated for its ValueError on a malformed port
    except ValueError:
        return False
    # Any "@" in the authority makes username a str ("" for "@host" and ":pw@host"), so this
    # one test refuses every userinfo: credentials in an endpoint URL are never legitimate.
    if not host or parts.username is not None or parts.fragment:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and host in _LOOPBACK_HOSTS


def _b64url_decode(segment: str) -> bytes:
    """Strict unpadded base64url (RFC 7515 §2); raises ``ValueError`` on anything else."""
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    # Cannot fail after the checks above (and binascii.Error is a ValueError anyway).
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (``bool`` is an ``int`` subclass in Python and is excluded)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


# --------------------------------------------------------------------------------------------
# Discovery (R5)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discovery:
    """The parts of the OpenID Provider metadata the middleware uses."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    #: RFC 7009 token revocation (Okta: ``{issuer}/v1/revoke``).
    revocation_endpoint: str | None = None
    #: RFC 9207 §3: when true, a callback without ``iss`` must be rejected (R5).
    authorization_response_iss_parameter_supported: bool = False


def _origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an absolute URL, the port made explicit; ``None`` if unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    default = _DEFAULT_PORTS.get(parts.scheme)
    if not parts.hostname or default is None:
        return None
    return parts.scheme, parts.hostname, default if port is None else port


def _endpoint(value: object, name: str, issuer_origin: tuple[str, str, int]) -> str:
    """Discovery's ``name`` member, checked to be an endpoint URL on the issuer's origin.

    Matching ``issuer`` is not enough (R5): a document that names the right issuer but puts
    the token endpoint or the JWKS elsewhere would receive the PKCE verifier and the client
    secret, or choose the keys that tokens are checked with; and the browser is sent to
    ``end_session_endpoint`` with an ``id_token_hint``.  Okta serves every endpoint of both
    the org and custom authorization servers from the issuer's own origin (protocol.md §1).
    """
    if not _is_endpoint_url(value):
        _fail(IdentityProviderError, f"discovery: bad {name}", status=502)
    if _origin(value) != issuer_origin:
        _fail(IdentityProviderError, f"discovery: {name} not on the issuer's origin", status=502)
    return value


def parse_discovery(
    status: int, content_type: str, body: bytes, *, expected_issuer: str
) -> Discovery:
    """Validate an ``/.well-known/openid-configuration`` answer.

    The issuer must equal ``expected_issuer`` byte for byte (RFC 8414 §3.3, OIDC Discovery §4.3),
    and ``token_endpoint``, ``jwks_uri`` and ``end_session_endpoint`` must be on the issuer's
    origin (same scheme, host and port; no userinfo): otherwise metadata served from elsewhere,
    or tampered with, could redirect the token exchange, the JWKS or the logout.

    Raises:
        IdentityProviderError: 503 when Okta answered with a server error (likely transient),
            502 for anything else that is not a well-formed, matching document.  The note
            names the failed check (and the endpoint), for the logs.
    """
    if status != 200:
        # 5xx at discovery usually means "try again shortly"; anything else is nonsense.
        _fail(
            IdentityProviderError,
            "discovery: unexpected HTTP status",
            status=503 if status >= 500 else 502,
        )
    if _media_type(content_type) not in _JSON_TYPES:
        _fail(IdentityProviderError, "discovery: not JSON", status=502)
    doc = _strict_json_object(body)
    if doc is None:
        _fail(IdentityProviderError, "discovery: malformed JSON", status=502)
    issuer = doc.get("issuer")
    if not isinstance(issuer, str) or issuer != expected_issuer:
        _fail(IdentityProviderError, "discovery: issuer mismatch", status=502)
    issuer_origin = _origin(issuer)
    if issuer_origin is None:
        # Settings validate the issuer; this only guards callers that pass something else.
        _fail(IdentityProviderError, "discovery: issuer is not an absolute URL", status=502)
    token_endpoint = _endpoint(doc.get("token_endpoint"), "token_endpoint", issuer_origin)
    jwks_uri = _endpoint(doc.get("jwks_uri"), "jwks_uri", issuer_origin)
    end_session = doc.get("end_session_endpoint")
    if end_session is not None:
        # Optional, but a present-and-bogus value means the document cannot be trusted.
        end_session = _endpoint(end_session, "end_session_endpoint", issuer_origin)
    revocation = doc.get("revocation_endpoint")
    if revocation is not None:
        revocation = _endpoint(revocation, "revocation_endpoint", issuer_origin)
    iss_supported = doc.get("authorization_response_iss_parameter_supported", False)
    if not isinstance(iss_supported, bool):
        _fail(IdentityProviderError, "discovery: bad iss_parameter_supported", status=502)
    return Discovery(
        issuer=issuer,
        token_endpoint=token_endpoint,
        jwks_uri=jwks_uri,
        end_session_endpoint=end_session,
        revocation_endpoint=revocation,
        authorization_response_iss_parameter_supported=iss_supported,
    )


# --------------------------------------------------------------------------------------------
# Token endpoint response (R14, catalogue B8)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A successful token response.  The ID token is *not* validated yet."""

    id_token: str | None = field(repr=False)
    access_token: str = field(repr=False)
    token_type: str
    scope: str | None
    expires_in: int | None
    #: Only when ``offline_access`` was granted (and Okta's app allows the grant).
    refresh_token: str | None = field(default=None, repr=False)


def _non_empty_str(value: object) -> TypeGuard[str]:
    """True for a ``str`` with at least one character."""
    return isinstance(value, str) and value != ""


def parse_token_response(
    status: int, content_type: str, body: bytes, *, need_id_token: bool = True
) -> TokenSet:
    """Turn the token endpoint's answer into a :class:`TokenSet` or a typed error.

    ``need_id_token=False`` is for a refresh, whose ID token is optional (and unused).

    Raises:
        TokenExchangeError: Okta refused the grant.  ``invalid_grant`` (code expired, already
            used, or PKCE mismatch) is the person's problem -> 400 "start again"; every other
            OAuth error means our client is misconfigured -> 502 with a generic message.
        IdentityProviderError: 502 for anything that is not a well-formed OAuth answer
            (5xx, redirects, HTML, wrong media type, missing fields, non-Bearer tokens).
    """
    if status in (400, 401):
        _raise_oauth_error(content_type, body)
    if status != 200:
        # Covers 3xx (redirects must not be followed, #90), other 4xx and 5xx (#84).
        _fail(IdentityProviderError, "token: unexpected HTTP status", status=502)
    if _media_type(content_type) not in _JSON_TYPES:
        _fail(IdentityProviderError, "token: not JSON", status=502)  # #85
    doc = _strict_json_object(body)
    if doc is None:
        _fail(IdentityProviderError, "token: malformed JSON", status=502)  # #85

    token_type = doc.get("token_type")
    # RFC 6749 §5.1: token_type is case-insensitive.  DPoP-bound tokens are not supported.
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        _fail(IdentityProviderError, "token: token_type is not Bearer", status=502)  # #86
    access_token = doc.get("access_token")
    id_token = doc.get("id_token")
    if not _non_empty_str(access_token) or not (
        _non_empty_str(id_token) or (id_token is None and not need_id_token)
    ):
        _fail(IdentityProviderError, "token: missing access_token or id_token", status=502)
    refresh_token = doc.get("refresh_token")
    if refresh_token is not None and not _non_empty_str(refresh_token):
        _fail(IdentityProviderError, "token: bad refresh_token", status=502)
    scope = doc.get("scope")
    if scope is not None and not isinstance(scope, str):
        _fail(IdentityProviderError, "token: bad scope", status=502)
    expires_in = doc.get("expires_in")
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in < 0
    ):
        _fail(IdentityProviderError, "token: bad expires_in", status=502)
    return TokenSet(
        id_token=id_token,
        access_token=access_token,
        token_type=token_type,
        scope=scope,
        expires_in=expires_in,
        refresh_token=refresh_token,
    )


def _raise_oauth_error(content_type: str, body: bytes) -> NoReturn:
    """Map a 400/401 answer to :class:`TokenExchangeError` (RFC 6749 §5.2)."""
    doc = _strict_json_object(body) if _media_type(content_type) in _JSON_TYPES else None
    error = doc.get("error") if doc is not None else None
    if not isinstance(error, str):
        # A 400 that is not an OAuth error document came from a proxy or a broken upstream.
        _fail(IdentityProviderError, "token: 4xx without an OAuth error", status=502)
    if error == "invalid_grant":
        # #87: expired, used, or verifier mismatch (#24).  Never retried: codes are single-use.
        _fail(TokenExchangeError, "token: invalid_grant", _EXPIRED_MESSAGE, status=400)
    # #88: invalid_client, unauthorized_client, ... are configuration problems.
    code = error if error in _KNOWN_TOKEN_ERRORS else "token_error"
    _fail(TokenExchangeError, "token: OAuth error", _CONFIG_MESSAGE, code=code, status=502)


# --------------------------------------------------------------------------------------------
# JWKS cache (R32, catalogue B7)
# --------------------------------------------------------------------------------------------


def _rsa_key_from_jwk(jwk: object) -> tuple[str, RSAPublicKey] | None:
    """``(kid, key)`` for a usable RSA signing key, ``None`` for anything to ignore (#81).

    Only ``n`` and ``e`` are read, so a JWK that (wrongly) carries private parameters still
    yields a *public* key: we never hold Okta's private material by accident.
    """
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
        return None
    n, e = jwk.get("n"), jwk.get("e")
    if not isinstance(n, str) or not isinstance(e, str):
        return None
    try:
        numbers = RSAPublicNumbers(
            e=int.from_bytes(_b64url_decode(e), "big"),
            n=int.from_bytes(_b64url_decode(n), "big"),
        )
        key = numbers.public_key()
    except ValueError:  # bad base64url, or cryptography refusing the numbers (even n, e < 3...)
        return None
    if key.key_size < _MIN_RSA_BITS:
        return None
    return kid, key


@dataclass(frozen=True, eq=False, slots=True)
class KeyFetch:
    """A JWKS fetch the caller is to make, as decided by :meth:`JWKSCache.begin`.

    ``leader`` is false when the caller joins a fetch another caller already has in flight:
    it sends the same GET (the adapters share concurrent GETs of one URL) instead of being
    turned away for a key that is on its way.
    """

    leader: bool
    started: float


class JWKSCache:
    """Okta's signing keys: an unknown ``kid`` is fetched at once, rate-limited and
    single-flight, and the last good keys are kept when a fetch fails (R32, catalogue B7).

    The cache holds no clock and does no I/O; the caller drives it::

        fetch = cache.begin(kid, now)          # atomic: decides, and records a leader
        if fetch is not None:
            try:
                response = get(jwks_uri)       # leader and joiners send the same GET
                cache.update(response.status_code, content_type, body, now)
            finally:
                cache.finish(fetch)
        key = cache.key_for(kid)

    After ``key_for`` returns ``None`` the reason matters: if this caller's fetch succeeded,
    the kid is not Okta's (a forged or foreign token: reject it); if the fetch failed or
    :meth:`begin` returned ``None``, the keys could not be checked (Okta is unreachable, or a
    flood of unknown kids is being rate-limited): the person should try again shortly.

    Fetches are paced by a token bucket: ``burst`` fetches at once, then one per ``refill``
    seconds.  A rotation is therefore picked up however soon after the previous fetch it
    happens, and a failed fetch is retried on the next sign-in, while a flood of forged kids
    costs Okta one request per ``refill`` seconds (#79).  A flight that never called
    :meth:`finish` stops counting as in flight after ``flight_timeout`` seconds.
    """

    __slots__ = (
        "_bucket_time",
        "_burst",
        "_flight",
        "_flight_timeout",
        "_fresh_until",
        "_keys",
        "_lock",
        "_max_keys",
        "_refill",
        "_tokens",
    )

    def __init__(
        self,
        *,
        burst: int = 3,
        refill: float = 5.0,
        flight_timeout: float = 30.0,
        max_keys: int = 20,
    ) -> None:
        if burst < 1 or refill <= 0 or flight_timeout <= 0 or max_keys < 1:
            raise ValueError("burst and max_keys must be >= 1, refill and flight_timeout > 0")
        self._burst = float(burst)
        self._refill = refill
        self._flight_timeout = flight_timeout
        self._max_keys = max_keys
        self._keys: dict[str, RSAPublicKey] = {}
        self._fresh_until = float("-inf")
        self._tokens = float(burst)
        self._bucket_time = float("-inf")
        self._flight: KeyFetch | None = None
        # WSGI servers run sign-ins on several threads; begin() must decide atomically.
        self._lock = threading.Lock()

    @property
    def kids(self) -> frozenset[str]:
        """The key ids currently trusted."""
        return frozenset(self._keys)

    def key_for(self, kid: str) -> RSAPublicKey | None:
        """The trusted public key with this ``kid``, or ``None``.  Never "try all keys" (R32)."""
        return self._keys.get(kid)

    def begin(self, kid: str, now: float) -> KeyFetch | None:
        """Whether the caller must fetch the JWKS before looking up ``kid``.

        ``None`` when ``kid`` is known and its keys are fresh; also when a fetch would be
        needed but is not allowed now (a known kid then keeps its last good key; an unknown
        kid cannot be checked).  Otherwise a :class:`KeyFetch`: joining the fetch in flight
        for an unknown kid, or leading a new one (unknown kid, keys older than Okta's
        ``Cache-Control`` allowed, or none yet) when the bucket allows it.  A known kid does
        not wait for a flight: its key is good until the new set says otherwise.
        """
        with self._lock:
            known = kid in self._keys
            if known and now < self._fresh_until:
                return None
            flight = self._flight
            if flight is not None and now - flight.started < self._flight_timeout:
                return None if known else KeyFetch(leader=False, started=flight.started)
            if not self._take_token(now):
                return None
            self._flight = KeyFetch(leader=True, started=now)
            return self._flight

    def finish(self, fetch: KeyFetch) -> None:
        """The caller's fetch is over (answered, failed or abandoned): call it in ``finally``."""
        with self._lock:
            if self._flight is fetch:
                self._flight = None

    def _take_token(self, now: float) -> bool:
        # max(0, ...): a wall clock that steps back must not drain the bucket.
        elapsed = max(0.0, now - self._bucket_time)
        self._tokens = min(self._burst, self._tokens + elapsed / self._refill)
        self._bucket_time = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def update(
        self,
        status: int,
        content_type: str,
        body: bytes,
        now: float,
        cache_control: str | None = None,
    ) -> None:
        """Replace the keys with those of a JWKS response.

        ``cache_control`` is the response's header: its ``max-age`` (bounded to between a
        minute and a week; an hour when absent) says how long the keys stay fresh.

        Keys absent from the new set are dropped (that is how a revoked key stops being
        trusted).  On any failure the previous keys stay in place (#80) and
        :class:`IdentityProviderError` (503) is raised; the caller then verifies with what it
        has, or fails with "sign-in temporarily unavailable" if it has nothing.
        """
        if status != 200:
            _fail(IdentityProviderError, "jwks: unexpected HTTP status", status=503)
        if _media_type(content_type) not in _JWKS_TYPES:
            _fail(IdentityProviderError, "jwks: not JSON", status=503)
        doc = _strict_json_object(body)
        entries = doc.get("keys") if doc is not None else None
        if not isinstance(entries, list):
            _fail(IdentityProviderError, "jwks: malformed", status=503)
        keys: dict[str, RSAPublicKey] = {}
        ambiguous: set[str] = set()
        for entry in entries:
            found = _rsa_key_from_jwk(entry)
            if found is None:
                continue
            kid, key = found
            if kid in keys or kid in ambiguous:
                # Two keys under one kid: which one Okta signs with is unknowable, so trust
                # neither rather than guess.
                keys.pop(kid, None)
                ambiguous.add(kid)
                continue
            if len(keys) < self._max_keys:
                keys[kid] = key
        if not keys:
            _fail(IdentityProviderError, "jwks: no usable RS256 signing key", status=503)
        with self._lock:
            self._keys = keys
            self._fresh_until = now + freshness(cache_control)


#: How long keys stay fresh when Okta's answer carries no usable ``max-age``.
DEFAULT_KEYS_FRESHNESS = 3600.0
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


def freshness(cache_control: str | None) -> float:
    """Seconds a JWKS response stays fresh, from its ``Cache-Control`` header."""
    match = _MAX_AGE.search(cache_control or "")
    if match is None:
        return DEFAULT_KEYS_FRESHNESS
    return min(max(float(match.group(1)), 60.0), 7 * 24 * 3600.0)


# --------------------------------------------------------------------------------------------
# ID token (R7, catalogue B6)
# --------------------------------------------------------------------------------------------


def _invalid(reason: str) -> NoReturn:
    """Raise :class:`InvalidIdToken` (403, generic message) with ``reason`` as a log note."""
    _fail(InvalidIdToken, reason)


def read_kid(id_token: str) -> str:
    """Check the ID token's shape and JOSE header, and return its ``kid``.

    Runs before any cryptography so that oversized or hostile tokens cost almost nothing:
    size cap (#77), three base64url segments with a non-empty signature (#68), a header that
    is a JSON object with ``alg`` exactly ``RS256`` (#68, #69), a string ``kid``, no header
    that supplies its own key (#70) and no ``crit`` at all (#76: we understand no extension).

    Raises:
        InvalidIdToken: on any deviation.
    """
    if not isinstance(id_token, str) or not id_token.isascii():
        _invalid("id_token: not an ASCII string")
    if len(id_token) > MAX_TOKEN_BYTES:
        _invalid("id_token: too large")
    segments = id_token.split(".")
    if len(segments) != 3:
        _invalid("id_token: not three segments")
    header_b64, payload_b64, signature_b64 = segments
    try:
        # Validate all three here so a malformed signature or payload is refused up front.
        _b64url_decode(payload_b64)
        _b64url_decode(signature_b64)
        header = _strict_json_object(_b64url_decode(header_b64))
    except ValueError:
        _invalid("id_token: bad base64url")
    if header is None:
        _invalid("id_token: header is not a JSON object")
    if header.get("alg") != "RS256":
        _invalid("id_token: alg is not RS256")
    if "crit" in header:
        _invalid("id_token: crit header present")
    if not _KEY_SUPPLYING_HEADERS.isdisjoint(header):
        _invalid("id_token: key-supplying header present")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
        _invalid("id_token: missing or bad kid")
    return kid


def validate_id_token(
    id_token: str,
    key: Any,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
    leeway: float,
    max_age: float = 600.0,
) -> dict[str, Any]:
    """Verify the ID token per OIDC Core §3.1.3.7 and return its claims.

    PyJWT verifies the signature with ``algorithms=["RS256"]`` and the supplied RSA *public*
    key, and checks presence of the required claims plus ``iss``/``aud``.  Every time-based
    check is done here against the injected ``now`` (PyJWT reads the wall clock), and the
    iss/aud/azp/nonce/sub rules are re-checked more strictly than PyJWT would.

    Args:
        key: the key from :meth:`JWKSCache.key_for` for this token's ``kid``.
        issuer: the configured issuer, compared byte for byte (#71).
        client_id: the only acceptable audience (#72).
        nonce: the transaction's nonce (#73).
        now: current Unix time.
        leeway: allowed clock skew in seconds (R33).
        max_age: oldest acceptable ``iat``: the token was minted moments ago by the exchange.

    Raises:
        InvalidIdToken: (403) on any failure, always with the same generic public message.
    """
    read_kid(id_token)  # Re-run the cheap header checks: callers may skip read_kid.
    if not isinstance(key, RSAPublicKey):
        # Only an RSA public key can reach PyJWT: a str/bytes "key" is exactly what HMAC
        # confusion needs (#69), and a private key means something is badly wrong.
        _invalid("id_token: verification key is not an RSA public key")
    if not nonce:
        # An empty expected nonce would make "nonce matches" meaningless.
        _invalid("id_token: no expected nonce")
    claims = _decoded(id_token, key, issuer=issuer, client_id=client_id)
    _check_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce)
    _check_times(claims, now=now, leeway=leeway, max_age=max_age)
    return claims


def validate_refreshed_id_token(
    id_token: str,
    key: Any,
    *,
    issuer: str,
    client_id: str,
    sub: str,
    now: float,
    leeway: float,
    max_age: float = 600.0,
) -> dict[str, Any]:
    """Verify the ID token a refresh returned (OIDC Core §12.2) and return its claims.

    As :func:`validate_id_token`, but with no nonce to expect (a refresh has none; one
    carried over from the sign-in is not checked), and ``sub`` must be the session's.

    Raises:
        InvalidIdToken: on any failure.
    """
    read_kid(id_token)
    if not isinstance(key, RSAPublicKey):
        _invalid("id_token: verification key is not an RSA public key")
    claims = _decoded(id_token, key, issuer=issuer, client_id=client_id)
    _check_claims(claims, issuer=issuer, client_id=client_id, nonce=None)
    if claims["sub"] != sub:
        _invalid("id_token: refreshed for another sub")
    _check_times(claims, now=now, leeway=leeway, max_age=max_age)
    return claims


def _decoded(id_token: str, key: RSAPublicKey, *, issuer: str, client_id: str) -> dict[str, Any]:
    """PyJWT's signature check and claim presence (the time checks are ours)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=_ALGORITHMS,
            audience=client_id,
            issuer=issuer,
            options={
                "verify_signature": True,
                "verify_aud": True,
                "verify_iss": True,
                # Time checks are ours, against the injected clock.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "aud", "exp", "iat", "sub"],
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        # Bad signature, wrong key (#70), claim failures, or a payload PyJWT cannot parse.
        _invalid("id_token: PyJWT rejected the token")
    return claims


def _check_claims(
    claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str | None
) -> None:
    """Identity claims: iss, aud, azp, nonce (unless None: a refresh), sub."""
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss != issuer:  # No arrays, prefixes, trailing slashes (#71).
        _invalid("id_token: iss mismatch")
    aud = claims.get("aud")
    # #72: exactly our client id; a list must not carry any other (untrusted) audience.
    if not (aud == client_id or aud == [client_id]):
        _invalid("id_token: aud mismatch")
    if "azp" in claims and claims["azp"] != client_id:
        _invalid("id_token: azp mismatch")
    token_nonce = claims.get("nonce")
    if nonce is not None and (
        not isinstance(token_nonce, str)
        or not hmac.compare_digest(token_nonce.encode("utf-8"), nonce.encode("utf-8"))
    ):
        _invalid("id_token: nonce mismatch")  # #73
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        _invalid("id_token: bad sub")


def _check_times(claims: dict[str, Any], *, now: float, leeway: float, max_age: float) -> None:
    """Time claims against the injected clock, with ``leeway`` for skew (R33)."""
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_number(exp) or not _is_number(iat):
        _invalid("id_token: exp or iat is not a number")
    if exp <= now - leeway:
        _invalid("id_token: expired")  # #74
    if iat > now + leeway:
        _invalid("id_token: iat in the future")  # #75
    if iat < now - max_age - leeway:
        _invalid("id_token: iat too old")  # #75: replayed or long-held token
    if iat > exp:
        _invalid("id_token: iat after exp")
    if "nbf" in claims:
        nbf = claims["nbf"]
        if not _is_number(nbf) or nbf > now + leeway:
            _invalid("id_token: not yet valid")
