"""Calling an API as the signed-in person, with their Okta access token (FastAPI).

``GET /profile`` asks the middleware for the person's access token and calls Okta's
``/v1/userinfo`` with it. The token lives in the session store, never in a cookie or a
page; ``access_token(request)`` refreshes it with the refresh token when it is about to
run out (once per session, whichever instance or worker asks), so the app never sees an
expired one. When Okta refuses the refresh (the person was deactivated or signed out in
Okta) it raises ``SignInRequired``: let it propagate, and the middleware sends a page
to sign in again (a 401 to an API call).

export OKTA_ISSUER=https://{org}.okta.com/oauth2/default OKTA_CLIENT_ID=0oa...
export OKTA_CLIENT_SECRET=... OKTA_REDIRECT_URI=http://localhost:8000/login/callback
export OKTA_MW_SECRET_KEYS=$(python -c "import secrets; print(secrets.token_urlsafe(32))")
export OKTA_MW_SCOPES="openid profile email offline_access"   # offline_access: refresh
export OKTA_MW_SESSION_STORE=redis://localhost:6379/0         # tokens need a store
uvicorn examples.api_calls:app --factory
"""

from __future__ import annotations

import html
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from okta_magiclink_mw import OktaMagicLink, Settings
from okta_magiclink_mw.asgi import access_token


def app(
    *,
    http_client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
    **settings: Any,
) -> FastAPI:
    """The app, configured from the environment (``Settings.from_env``).

    ``settings`` override what the environment says (e.g. ``session_store=`` a store
    object). ``http_client``, when given, makes both the middleware's calls to Okta and
    the app's own API calls, and ``clock`` is the middleware's: tests pass FakeOkta's.
    """
    config = Settings.from_env(**settings)
    userinfo_url = f"{config.issuer}/v1/userinfo"  # Okta's, for a custom authorization server
    owned = http_client is None
    http = http_client or httpx.AsyncClient(timeout=10)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            await http.aclose()

    api = FastAPI(lifespan=lifespan)

    @api.get("/profile", response_class=HTMLResponse)
    async def profile(request: Request) -> HTMLResponse:
        token = await access_token(request)  # valid for 60 s more at least; never shown
        answer = await http.get(userinfo_url, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code != 200:
            # Okta's error body is not passed on: only that the call failed.
            return HTMLResponse(
                f"<h1>Okta's userinfo answered {answer.status_code}</h1>", status_code=502
            )
        claims = answer.json()
        rows = "".join(
            f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(value))}</td></tr>"
            for name, value in sorted(claims.items())
        )
        return HTMLResponse(
            f"<h1>Your Okta profile</h1><table>{rows}</table>"
            '<form method="post" action="/logout"><button>Sign out</button></form>'
        )

    # Without http_client the middleware keeps its own client (its timeouts, no redirects).
    api.add_middleware(OktaMagicLink, settings=config, http_client=http_client, clock=clock)
    return api


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app(), port=8000)
