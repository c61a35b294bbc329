"""The one conversation with Okta: redeem an interaction code, check the ID token.

Written once, sans-IO, as a generator in the style of httpx's auth flows: it yields
``httpx.Request`` objects and is sent back ``httpx.Response`` objects (or has the
transport's exception thrown into it). The ASGI adapter drives it with an
``httpx.AsyncClient``, the WSGI adapter with an ``httpx.Client``; neither knows
what is being said.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

import httpx

from ._tokens import (
    Discovery,
    JWKSCache,
    parse_discovery,
    parse_token_response,
    read_kid,
    validate_id_token,
)
from ._transactions import Transaction
from .errors import IdentityProviderError, InvalidIdToken
from .settings import Settings

logger = logging.getLogger("okta_magiclink_mw")

Conversation = Generator[httpx.Request, httpx.Response, Any]


class OktaConversation:
    """What this app knows about its Okta authorization server, and how to ask it things.

    Discovery is fetched once (its ``issuer`` must equal the configured one, R5) and
    kept for the life of the middleware; signing keys are cached by ``kid`` and
    fetched again only for an unknown ``kid``, at most once per cooldown (R32).
    """

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self.discovery: Discovery | None = None
        self.jwks = JWKSCache()

    def redeem(self, txn: Transaction, interaction_code: str) -> Conversation:
        """Exchange the code for tokens and return the validated ID token's claims and
        the raw ID token. Raises a :class:`~okta_magiclink_mw.errors.SignInError`."""
        settings = self._settings
        discovery = yield from self._discover()
        # R14: a dict, form-encoded by httpx; never concatenated by hand (#25).
        form = {
            "client_id": settings.client_id,
            "redirect_uri": settings.redirect_uri,
            "grant_type": "interaction_code",
            "code_verifier": txn.code_verifier,
            "interaction_code": interaction_code,
        }
        if settings.client_secret is not None:
            form["client_secret"] = settings.client_secret
        request = httpx.Request(
            "POST", discovery.token_endpoint, data=form, headers={"Accept": "application/json"}
        )
        response = yield from _call(request, "token")
        tokens = parse_token_response(
            response.status_code, response.headers.get("content-type", ""), response.content
        )
        kid = read_kid(tokens.id_token)
        key = yield from self._signing_key(discovery, kid)
        claims = validate_id_token(
            tokens.id_token,
            key,
            issuer=settings.issuer,
            client_id=settings.client_id,
            nonce=txn.nonce,
            now=self._clock(),
            leeway=settings.leeway,
        )
        return claims, tokens.id_token

    def _discover(self) -> Conversation:
        if self.discovery is None:
            request = httpx.Request(
                "GET", self._settings.discovery_url, headers={"Accept": "application/json"}
            )
            response = yield from _call(request, "discovery")
            self.discovery = parse_discovery(
                response.status_code,
                response.headers.get("content-type", ""),
                response.content,
                expected_issuer=self._settings.issuer,
            )
            logger.info("okta discovery loaded", extra={"event": "discovery.loaded"})
        return self.discovery

    def _signing_key(self, discovery: Discovery, kid: str) -> Conversation:
        now = self._clock()
        if self.jwks.needs_fetch(kid, now):
            self.jwks.mark_fetch_started(now)
            request = httpx.Request(
                "GET", discovery.jwks_uri, headers={"Accept": "application/json"}
            )
            try:
                response = yield from _call(request, "jwks")
                self.jwks.update(
                    response.status_code,
                    response.headers.get("content-type", ""),
                    response.content,
                    now,
                    response.headers.get("cache-control"),
                )
            except IdentityProviderError:
                # Keep whatever keys we had (R32, #80); fail only if the kid is still unknown.
                if self.jwks.key_for(kid) is None:
                    raise
        key = self.jwks.key_for(kid)
        if key is None:
            raise InvalidIdToken(code="unknown_signing_key")
        return key


def _call(
    request: httpx.Request, what: str
) -> Generator[httpx.Request, httpx.Response, httpx.Response]:
    """Yield one request; turn transport failures into typed, page-ready errors (R34)."""
    try:
        response = yield request
    except httpx.TimeoutException as exc:
        logger.warning("okta %s timed out", what, extra={"event": f"{what}.timeout"})
        raise IdentityProviderError(
            "Okta took too long to answer. Please try again.", code="idp_timeout", status=504
        ) from exc
    except httpx.TransportError as exc:
        logger.warning(
            "okta %s unreachable: %s",
            what,
            type(exc).__name__,
            extra={"event": f"{what}.unreachable"},
        )
        raise IdentityProviderError(
            "Okta could not be reached. Please try again in a moment.",
            code="idp_unreachable",
            status=503,
        ) from exc
    except httpx.HTTPError as exc:
        logger.warning(
            "okta %s failed: %s", what, type(exc).__name__, extra={"event": f"{what}.failed"}
        )
        raise IdentityProviderError(code="idp_bad_response") from exc
    return response
