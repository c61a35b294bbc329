"""The identity provider of part 4: FakeOkta, or a minimal stand-in if it is not available.

``make_idp(base_url)`` returns an :class:`Idp` whose ``app`` is an ASGI app. Under uvicorn
(``uvicorn --factory benchmarks._idp:server_app``, base URL from ``BENCH_IDP_URL``) it also
answers two control routes for the benchmark driver, which never go through the middleware:

* ``POST /_bench/issue`` ``{"challenge", "state", "nonce"}`` -> ``{"code"}``
* ``GET /_bench/stats`` -> requests per path and the TCP connections seen (distinct client
  addresses, control requests excluded)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from . import _apps

CONTROL = "/_bench/"


@dataclass
class Idp:
    """An IdP for the benchmark: its app, issuer and a way to mint interaction codes."""

    app: ASGIApp
    issuer: str
    kind: str
    issue: Any  # (challenge, state, nonce) -> interaction code
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    clients: set[tuple[str, int]] = field(default_factory=set)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(CONTROL):
            self.requests[(scope["method"], scope["path"])] += 1
            if scope.get("client"):
                self.clients.add(tuple(scope["client"]))
        await self.app(scope, receive, send)

    def stats(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "connections": len(self.clients),
            "requests": {f"{m} {p}": n for (m, p), n in self.requests.items()},
        }

    def count(self, method: str, suffix: str) -> int:
        return sum(n for (m, p), n in self.requests.items() if m == method and p.endswith(suffix))


def _fake_okta(base_url: str, redirect_uri: str, groups: tuple[str, ...]) -> Idp:
    from okta_magiclink_mw.testing import FakeOkta

    fake = FakeOkta(base_url=base_url, widget_dist="/nonexistent")
    user = fake.add_user(email="ada@example.com", name="Ada Lovelace", groups=groups)
    fake.add_web_app(redirect_uri, client_id=_apps.CLIENT_ID)

    def issue(challenge: str, state: str, nonce: str) -> str:
        return fake.issue_interaction_code(
            _apps.CLIENT_ID, user, challenge, state=state, nonce=nonce
        )

    return Idp(fake, fake.issuer, "FakeOkta", issue)


def _stand_in(base_url: str, redirect_uri: str, groups: tuple[str, ...]) -> Idp:
    """Discovery, JWKS and a token endpoint minting RS256 ID tokens with the code's nonce."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    issuer = f"{base_url}/oauth2/default"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="bench", alg="RS256", use="sig")
    codes: dict[str, tuple[str, str]] = {}

    def issue(challenge: str, state: str, nonce: str) -> str:
        code = secrets.token_urlsafe(32)
        codes[code] = (challenge, nonce)
        return code

    async def discovery(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/v1/authorize",
                "token_endpoint": f"{issuer}/v1/token",
                "jwks_uri": f"{issuer}/v1/keys",
                "end_session_endpoint": f"{issuer}/v1/logout",
            }
        )

    async def keys(request: Request) -> Response:
        return JSONResponse({"keys": [jwk]})

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        challenge, nonce = codes.pop(str(form.get("interaction_code")), ("", ""))
        digest = hashlib.sha256(str(form.get("code_verifier", "")).encode()).digest()
        if not nonce or base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {**_apps.claims(), "iss": issuer, "aud": _apps.CLIENT_ID, "iat": now}
        claims.update(exp=now + 3600, nonce=nonce)
        if groups:
            claims["groups"] = list(groups)
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})
        body: dict[str, Any] = {"token_type": "Bearer", "access_token": "at", "id_token": id_token}
        body.update(expires_in=3600, scope="openid profile email")
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    router = Router(
        [
            Route("/oauth2/default/.well-known/openid-configuration", discovery),
            Route("/oauth2/default/v1/keys", keys),
            Route("/oauth2/default/v1/token", token, methods=["POST"]),
        ]
    )
    return Idp(router, issuer, "stand-in IdP (FakeOkta not used)", issue)


def make_idp(
    base_url: str, redirect_uri: str = _apps.REDIRECT_URI, groups: tuple[str, ...] = ()
) -> Idp:
    """FakeOkta if importable; ``BENCH_IDP=standin`` forces the stand-in. The person who
    signs in is in ``groups`` (the ID token's ``groups`` claim)."""
    if os.environ.get("BENCH_IDP") != "standin":
        try:
            return _fake_okta(base_url, redirect_uri, groups)
        except ImportError:
            pass
    return _stand_in(base_url, redirect_uri, groups)


def server_app() -> ASGIApp:
    """The IdP with its control routes, for ``uvicorn --factory``."""
    idp = make_idp(os.environ["BENCH_IDP_URL"])

    async def issue(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"code": idp.issue(body["challenge"], body["state"], body["nonce"])})

    async def stats(request: Request) -> Response:
        return JSONResponse(idp.stats())

    control = Router(
        [Route(CONTROL + "issue", issue, methods=["POST"]), Route(CONTROL + "stats", stats)]
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(CONTROL):
            await control(scope, receive, send)
        else:
            await idp(scope, receive, send)

    return app
