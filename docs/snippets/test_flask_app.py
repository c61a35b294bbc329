import pytest
from flask import Flask, request

from okta_magiclink_mw import OktaMagicLinkWSGI, Settings


def create_app(settings: Settings) -> Flask:  # your app
    app = Flask(__name__)
    app.get("/")(lambda: f"Hello, {request.environ['REMOTE_USER']}!")
    app.wsgi_app = OktaMagicLinkWSGI(app.wsgi_app, settings)
    return app


@pytest.fixture
def okta_app_url():
    return "http://localhost"  # where Flask's test client sends its requests


def test_home_greets_the_person_signed_in(okta_settings, sign_in):
    client = create_app(okta_settings).test_client()
    assert client.get("/").status_code == 302  # to sign in
    sign_in(client)  # as Ada Lovelace, ada@example.com, a user of FakeOkta
    assert client.get("/").text == "Hello, ada@example.com!"
