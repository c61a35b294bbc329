"""The one conversation with Okta: redeem an interaction code, check the ID token.

Written once, sans-IO, as a generator in the style of httpx's auth flows: it yields
``httpx.Request`` objects and is sent back ``httpx.Response`` objects (or has the
transport's exception thrown into it). The ASGI adapter drives it with an
``httpx.AsyncClient``, the WSGI adapter with an ``httpx.Client``; neither knows
what is being said.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Generator, Iterator
from typing import Any

import httpx

from ._tokens import (
    Discovery,
    JWKSCache,
    TokenSet,
    parse_discovery,
    parse_token_response,
    read_kid,
    validate_id_token,
    validate_refreshed_id_token,
)
from ._transactions import Transaction
from .errors import IdentityProviderError, InvalidIdToken, TokenExchangeError
from .settings import Settings

logger = logging.getLogger("okta_magiclink_mw")

Conversation = Generator[httpx.Request, httpx.Response, Any]


class OktaConversation:
    """What this app knows about its Okta authorization server, and how to ask it things.

    Discovery is fetched once (its ``issuer`` must equal the configured one and its
    endpoints be on the issuer's origin, R5) and kept for the life of the middleware;
    signing keys are cached by ``kid`` and fetched again at once for an unknown ``kid``,
    single-flight and rate-limited (R32, :class:`~okta_magiclink_mw._tokens.JWKSCache`).

    Every way Okta can let a sign-in down is logged here, once, at WARNING, with a stable
    ``event`` (``discovery.failed``, ``token.failed``, ``jwks.failed``,
    ``id_token.unknown_key``, ``id_token.invalid``) and the fixed-phrase ``reason`` the
    check attached: a broken Okta or a broken configuration must show at the default log
    level.  An expired or used code (``invalid_grant``) is the person's, not Okta's, and is
    left to the core's INFO record.
    """

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self.discovery: Discovery | None = None
        # A flight cannot outlive the transport's deadline for it.
        self.jwks = JWKSCache(flight_timeout=settings.http_deadline)

    def redeem(self, txn: Transaction, interaction_code: str) -> Conversation:
        """Exchange the code for tokens and return the validated ID token's claims and
        the :class:`~okta_magiclink_mw._tokens.TokenSet` (the raw ID token in it).
        Raises a :class:`~okta_magiclink_mw.errors.SignInError`."""
        settings = self._settings
        discovery = yield from self._discover()
        tokens = yield from self._exchange(discovery, txn, interaction_code)
        assert tokens.id_token is not None  # need_id_token: checked by the parser
        with _warned("id_token.invalid", InvalidIdToken):
            kid = read_kid(tokens.id_token)
        key = yield from self._signing_key(discovery, kid)
        with _warned("id_token.invalid", InvalidIdToken):
            claims = validate_id_token(
                tokens.id_token,
                key,
                issuer=settings.issuer,
                client_id=settings.client_id,
                nonce=txn.nonce,
                now=self._clock(),
                leeway=settings.leeway,
            )
        return claims, tokens

    def refresh(self, refresh_token: str) -> Generator[httpx.Request, httpx.Response, TokenSet]:
        """Redeem a refresh token for new tokens (``grant_type=refresh_token``).

        The answer's ID token, if any, is in the :class:`TokenSet`, unchecked: see
        :meth:`refreshed_claims`. ``invalid_grant`` (the refresh token was revoked, or
        the person deactivated) raises a 400 :class:`TokenExchangeError` and is not
        logged here: ending that session is the caller's business, and it is not Okta's
        failure.
        """
        discovery = yield from self._discover()
        request = self._authenticated(
            discovery.token_endpoint,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
        )
        return (yield from self._token_call(request, "refresh", need_id_token=False))

    def refreshed_claims(self, id_token: str, sub: str) -> Conversation:
        """The claims of the ID token a refresh returned, checked as at sign-in (RS256
        from the issuer's keys, ``iss``, ``aud``, ``azp``, times) but with no nonce, and
        only for the same person (``sub``). Raises a
        :class:`~okta_magiclink_mw.errors.SignInError`, logged here at WARNING."""
        settings = self._settings
        discovery = yield from self._discover()
        with _warned("id_token.invalid", InvalidIdToken):
            kid = read_kid(id_token)
        key = yield from self._signing_key(discovery, kid)
        with _warned("id_token.invalid", InvalidIdToken):
            return validate_refreshed_id_token(
                id_token,
                key,
                issuer=settings.issuer,
                client_id=settings.client_id,
                sub=sub,
                now=self._clock(),
                leeway=settings.leeway,
            )

    def revoke(self, token: str, hint: str) -> Generator[httpx.Request, httpx.Response, bool]:
        """Revoke one token at Okta (RFC 7009, with ``token_type_hint``). True on success;
        a failure is logged at WARNING (``revoke.failed``) and returns False: revoking is
        best effort, and never stops a sign-out."""
        try:
            discovery = yield from self._discover()
            base = self._settings.token_endpoint.rsplit("/", 1)[0]
            endpoint = discovery.revocation_endpoint or f"{base}/revoke"
            request = self._authenticated(
                endpoint, {"token": token, "token_type_hint": hint}, accept=None
            )
            response = yield from _call(request, "revoke")
        except IdentityProviderError as exc:
            _warn("revoke.failed", exc)
            return False
        if response.status_code != 200:
            failed = IdentityProviderError(code="revoke_failed")
            failed.add_note(f"revoke: HTTP {response.status_code}")
            # A 401 at revoke is the client's credentials: say which to check.
            advice = credentials_hint(self._settings) if response.status_code == 401 else None
            _warn("revoke.failed", failed, hint=advice)
            return False
        return True

    def _authenticated(
        self, endpoint: str, form: dict[str, str], *, accept: str | None = "application/json"
    ) -> httpx.Request:
        """A POST of ``form`` to ``endpoint`` with this client's credentials, in the form
        or a header as ``client_auth`` says (R14: a dict, form-encoded by httpx). With
        ``private_key_jwt`` this signs a fresh assertion whose audience is ``endpoint``."""
        form, headers = self._settings.client_credentials.apply(form, endpoint, self._clock())
        if accept is not None:
            headers["Accept"] = accept
        return httpx.Request("POST", endpoint, data=form, headers=headers)

    def _discover(self) -> Generator[httpx.Request, httpx.Response, Discovery]:
        if self.discovery is None:
            request = httpx.Request(
                "GET", self._settings.discovery_url, headers={"Accept": "application/json"}
            )
            with _warned("discovery.failed", IdentityProviderError):
                response = yield from _call(request, "discovery")
                self.discovery = parse_discovery(
                    response.status_code,
                    response.headers.get("content-type", ""),
                    response.content,
                    expected_issuer=self._settings.issuer,
                )
            logger.info("okta discovery loaded", extra={"event": "discovery.loaded"})
        return self.discovery

    def _exchange(
        self, discovery: Discovery, txn: Transaction, interaction_code: str
    ) -> Generator[httpx.Request, httpx.Response, TokenSet]:
        # R14: a dict, form-encoded by httpx; never concatenated by hand (#25).
        request = self._authenticated(
            discovery.token_endpoint,
            {
                "redirect_uri": self._settings.redirect_uri,
                "grant_type": "interaction_code",
                "code_verifier": txn.code_verifier,
                "interaction_code": interaction_code,
            },
        )
        return (yield from self._token_call(request, "token", need_id_token=True))

    def _token_call(
        self, request: httpx.Request, what: str, *, need_id_token: bool
    ) -> Generator[httpx.Request, httpx.Response, TokenSet]:
        event = f"{what}.failed"
        try:
            response = yield from _call(request, what)
            return parse_token_response(
                response.status_code,
                response.headers.get("content-type", ""),
                response.content,
                need_id_token=need_id_token,
            )
        except TokenExchangeError as exc:
            if exc.status < 500:  # invalid_grant: this person's code expired or was used
                raise
            # invalid_client & co: our configuration (#88), with where to look.
            _warn(event, exc, hint=token_error_hint(self._settings, exc.code))
            raise
        except IdentityProviderError as exc:
            _warn(event, exc)
            raise

    def _signing_key(self, discovery: Discovery, kid: str) -> Conversation:
        fetch = self.jwks.begin(kid, self._clock())
        if fetch is None:
            key = self.jwks.key_for(kid)
            if key is None:
                # Not refused as forged: no fresh set was checked for this kid, and Okta may
                # have just rotated. The person tries again in a moment (R34).
                exc = IdentityProviderError(code="signing_keys_unavailable", status=503)
                exc.add_note("jwks: unknown kid while refetching is rate-limited")
                _warn("id_token.unknown_key", exc)
                raise exc
            return key
        request = httpx.Request("GET", discovery.jwks_uri, headers={"Accept": "application/json"})
        try:
            response = yield from _call(request, "jwks")
            self.jwks.update(
                response.status_code,
                response.headers.get("content-type", ""),
                response.content,
                self._clock(),
                response.headers.get("cache-control"),
            )
        except IdentityProviderError as exc:
            # Keep whatever keys we had (R32, #80); fail only if the kid is still unknown.
            _warn("jwks.failed", exc)
            key = self.jwks.key_for(kid)
            if key is None:
                raise
            return key
        finally:
            # Also on GeneratorExit (an abandoned sign-in): the next one may fetch.
            self.jwks.finish(fetch)
        key = self.jwks.key_for(kid)
        if key is None:
            # A fresh set from Okta does not have it: not Okta's key (#70, #79).
            exc403 = InvalidIdToken(code="unknown_signing_key")
            exc403.add_note("id_token: kid not in Okta's current keys")
            _warn("id_token.unknown_key", exc403)
            raise exc403
        return key


#: The likely cause of a failure whose reason has one in practice, logged with it.
HINTS: dict[str, str] = {
    "id_token: nonce mismatch": (
        "the Sign-In Widget did not send this sign-in's nonce to Okta: is the login page "
        "loading a Gen3 widget bundle (okta-sign-in.next.js) or a release older than 6.8.0, "
        "or is a custom login_page dropping 'nonce' from the widget config?"
    ),
}


#: What an app that requires DPoP needs changed (Okta answers ``invalid_dpop_proof``).
DPOP_HINT = (
    "the Okta app requires DPoP, which this middleware does not use: in the Okta admin "
    "console, open Applications > Applications > this app > General > General Settings > "
    "Edit, and clear 'Require Demonstrating Proof of Possession (DPoP) header in token "
    "requests'"
)

_CREDENTIALS_HINTS = {
    "private_key_jwt": (
        "Okta refused this app's client assertion: check that the app's Client "
        "authentication is 'Public key / Private key' (General > Client Credentials), that "
        "the public key of client_private_key is registered there and active (and "
        "client_key_id, if set, is its KID), and that this host's clock is right"
    ),
    "none": (
        "Okta refused the client: check client_id; an app whose Client authentication is "
        "'Client secret' or 'Public key / Private key' needs client_secret or "
        "client_private_key"
    ),
}
_SHARED_KEY_ADVICE = (
    "Okta refused this app's credentials: check client_id and client_secret, and that the "
    "app's Client authentication is 'Client secret' (General > Client Credentials)"
)


def credentials_hint(settings: Settings) -> str:
    """Where to look when Okta refuses this app's credentials (``invalid_client``)."""
    return _CREDENTIALS_HINTS.get(settings.client_credentials.method, _SHARED_KEY_ADVICE)


def token_error_hint(settings: Settings, code: str) -> str | None:
    """The likely cause of a token-endpoint error that is the app's configuration."""
    if code in ("invalid_dpop_proof", "use_dpop_nonce"):
        return DPOP_HINT
    if code == "invalid_client":
        return credentials_hint(settings)
    return None


def _warn(event: str, exc: BaseException, *, hint: str | None = None) -> None:
    """Log an Okta failure once at WARNING with its fixed-phrase reason (never a secret),
    and the likely cause: ``hint``, or the one the reason has (:data:`HINTS`)."""
    # The notes are the fixed phrases _tokens._fail and _call attach; nothing upstream.
    reason = "; ".join(getattr(exc, "__notes__", ())) or type(exc).__name__
    hint = hint or HINTS.get(reason)
    logger.warning(
        "okta sign-in failure %s: %s%s",
        event,
        reason,
        f" (hint: {hint})" if hint else "",
        extra={
            "event": event,
            "reason": reason,
            "code": getattr(exc, "code", None),
            "hint": hint,
        },
    )


@contextlib.contextmanager
def _warned(event: str, kind: type[Exception]) -> Iterator[None]:
    """Log (see :func:`_warn`) and re-raise an exception of type ``kind``."""
    try:
        yield
    except kind as exc:
        _warn(event, exc)
        raise


def _call(
    request: httpx.Request, what: str
) -> Generator[httpx.Request, httpx.Response, httpx.Response]:
    """Yield one request; turn transport failures into typed, page-ready errors (R34).

    The error carries a note (``"token: timed out"``...) and is logged by the caller.
    """
    try:
        response = yield request
    except httpx.TimeoutException as exc:
        error = IdentityProviderError(
            "Okta took too long to answer. Please try again.", code="idp_timeout", status=504
        )
        error.add_note(f"{what}: timed out")
        raise error from exc
    except httpx.TransportError as exc:
        error = IdentityProviderError(
            "Okta could not be reached. Please try again in a moment.",
            code="idp_unreachable",
            status=503,
        )
        error.add_note(f"{what}: unreachable ({type(exc).__name__})")
        raise error from exc
    except httpx.HTTPError as exc:
        error = IdentityProviderError(code="idp_bad_response")
        error.add_note(f"{what}: bad response ({type(exc).__name__})")
        raise error from exc
    return response
