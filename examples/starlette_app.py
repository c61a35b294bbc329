"""Starlette behind Okta magic-link sign-in.

export OKTA_ISSUER=https://{org}.okta.com/oauth2/default OKTA_CLIENT_ID=0oa...
export OKTA_REDIRECT_URI=http://localhost:8000/login/callback
export OKTA_MW_SECRET_KEYS=$(python -c "import secrets; print(secrets.token_urlsafe(32))")
uvicorn examples.starlette_app:app --factory   # or: python examples/starlette_app.py
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from okta_magiclink_mw import OktaMagicLink, Settings


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"Hello, {request.user.display_name}!")


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def app() -> OktaMagicLink:
    starlette_app = Starlette(routes=[Route("/", home), Route("/healthz", health)])
    return OktaMagicLink(starlette_app, Settings.from_env(public_paths=["/healthz"]))


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app(), port=8000)
