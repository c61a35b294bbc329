from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from okta_magiclink_mw import OktaMagicLink, Settings


def create_app() -> FastAPI:  # your app, configured from the OKTA_* variables
    app = FastAPI()

    @app.get("/")
    def home(request: Request) -> str:
        return f"Hello, {request.user.display_name}!"

    app.add_middleware(OktaMagicLink, settings=Settings.from_env())
    return app


def test_home_greets_the_person_signed_in(okta_env, sign_in):
    client = TestClient(create_app())  # built after okta_env set the variables
    assert client.get("/", follow_redirects=False).status_code == 302  # to sign in
    sign_in(client)  # as Ada Lovelace, ada@example.com, a user of FakeOkta
    assert client.get("/").json() == "Hello, Ada Lovelace!"
