"""TEMPORARY stand-ins for the pytest plugin's okta_env and sign_in (h-plugin), deleted
when it is merged: sign_in here mints the session cookie instead of signing in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from okta_magiclink_mw import Settings
from okta_magiclink_mw._flow import MagicLinkCore

ENV = {
    "OKTA_ISSUER": "https://example.okta.com/oauth2/default",
    "OKTA_CLIENT_ID": "0oaExample",
    "OKTA_REDIRECT_URI": "http://testserver/login/callback",
    "OKTA_MW_SECRET_KEYS": "an-example-secret-key-of-32-bytes-or-more",
    "OKTA_MW_ALLOW_INSECURE_HTTP": "true",
}


@pytest.fixture
def okta_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    return dict(ENV)


@pytest.fixture
def okta_app_url() -> str:
    return "http://testserver"


@pytest.fixture
def sign_in(okta_env: dict[str, str]) -> Any:
    def sign_in(client: Any, *, email: str = "ada@example.com", groups: Any = None) -> Any:
        core = MagicLinkCore(Settings.from_env())
        claims = {"sub": "00u" + email.split("@")[0], "email": email, "email_verified": True}
        claims["name"] = "Ada Lovelace"
        if groups is not None:
            claims["groups"] = list(groups)
        _, header = core.sessions.mint(claims, None, core.clock())
        name, _, rest = header.partition("=")
        client.cookies.set(name, rest.split(";", 1)[0])
        if isinstance(client, httpx.AsyncClient):

            async def done() -> None:
                return None

            return done()
        return None

    return sign_in
