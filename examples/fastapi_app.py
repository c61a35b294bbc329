"""FastAPI behind Okta magic-link sign-in: ``request.user`` is the signed-in person.

uvicorn examples.fastapi_app:app --factory   # with the OKTA_* variables set
"""

from fastapi import FastAPI, Request

from okta_magiclink_mw import OktaMagicLink, OktaUser, Settings


def app() -> FastAPI:
    api = FastAPI()

    @api.get("/me")
    def me(request: Request) -> dict[str, str | None]:
        user: OktaUser = request.user
        return {"sub": user.identity, "email": user.email, "name": user.display_name}

    api.add_middleware(OktaMagicLink, settings=Settings.from_env())
    return api


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app(), port=8000)
