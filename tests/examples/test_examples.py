"""The examples run: each protects its pages and greets the person signed in.

Each example reads its settings with ``Settings.from_env()``: the ``okta_env`` fixture
sets the ``OKTA_*`` variables for the plugin's FakeOkta, and ``sign_in`` signs a test
client in through the example's own middleware.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from starlette.testclient import TestClient

from okta_magiclink_mw.stores import MemoryRecordStore
from okta_magiclink_mw.testing import FakeOkta, SignInFixture

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def anonymous(client: TestClient | httpx.Client, path: str) -> httpx.Response:
    return client.get(path, headers={"accept": "text/html"}, follow_redirects=False)


@pytest.mark.usefixtures("okta_env")
@pytest.mark.parametrize(
    ("example", "path", "expected"),
    [
        ("starlette_app", "/", "Hello, Ada Lovelace!"),
        ("fastapi_app", "/me", '"email":"ada@example.com"'),
    ],
)
def test_asgi_examples(sign_in: SignInFixture, example: str, path: str, expected: str) -> None:
    with TestClient(load(example).app()) as client:
        refused = anonymous(client, path)
        assert refused.status_code == 302
        assert refused.headers["location"].startswith("/login?state=")
        sign_in(client, next=path)
        page = client.get(path)
        assert page.status_code == 200
        assert expected in page.text


@pytest.mark.usefixtures("okta_env")
def test_starlette_example_keeps_healthz_public() -> None:
    with TestClient(load("starlette_app").app()) as client:
        response = client.get("/healthz")
        assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.usefixtures("okta_env")
def test_legacy_wsgi_example(sign_in: SignInFixture) -> None:
    transport = httpx.WSGITransport(app=load("legacy_wsgi").application())
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        assert anonymous(client, "/").status_code == 302
        sign_in(client)
        page = client.get("/")
        assert page.status_code == 200
        assert "Welcome back, ada@example.com." in page.text


class TestFlaskExample:
    @pytest.fixture
    def okta_app_url(self) -> str:
        return "http://localhost"  # where Flask's test client sends its requests

    @pytest.mark.usefixtures("okta_env")
    def test_flask_example(self, sign_in: SignInFixture) -> None:
        client = load("flask_app").create_app().test_client()
        refused = client.get("/")
        assert refused.status_code == 302
        assert refused.headers["location"].startswith("/login?state=")
        sign_in(client)
        page = client.get("/")
        assert page.status_code == 200
        assert page.get_data(as_text=True) == "Hello, Ada Lovelace!"


# -- examples/api_calls.py: Okta's userinfo with the person's access token, refreshed -------

LIFETIME = 300  # the access token's, set on FakeOkta's app


class SettableClock:
    """Real time to start with; a test moves it forward (FakeOkta's and the app's)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(fake_okta: FakeOkta) -> SettableClock:
    clock = SettableClock()
    fake_okta.clock = clock
    fake_okta.clients["0oaPytestClient"].access_token_lifetime = LIFETIME
    return clock


@pytest.fixture
def api_calls(
    okta_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, clock: SettableClock
) -> TestClient:
    monkeypatch.setenv("OKTA_MW_SCOPES", "openid profile email offline_access")
    app = load("api_calls").app(clock=clock, session_store=MemoryRecordStore())
    return TestClient(app)


def token_posts(fake: FakeOkta) -> int:
    return fake.request_count("/oauth2/default/v1/token", "POST")


def test_api_calls_example_shows_userinfo_and_refreshes_once(
    api_calls: TestClient, fake_okta: FakeOkta, clock: SettableClock, sign_in: SignInFixture
) -> None:
    with api_calls as client:
        assert anonymous(client, "/profile").status_code == 302
        sign_in(client, next="/profile")
        page = client.get("/profile")
        assert page.status_code == 200, page.text
        assert "<td>ada@example.com</td>" in page.text  # from Okta's userinfo
        assert token_posts(fake_okta) == 1  # the sign-in's interaction code
        for cookie in client.cookies.jar:  # the token is in the store only
            assert len(cookie.value or "") < 400

        # Past the access token's expiry on both clocks: Okta would refuse the old token.
        clock.advance(LIFETIME + 1)
        for _ in range(3):
            page = client.get("/profile")
            assert page.status_code == 200, page.text
            assert "<td>ada@example.com</td>" in page.text
        assert token_posts(fake_okta) == 2  # one refresh


def test_api_calls_example_after_a_deactivation_sends_the_person_to_sign_in(
    api_calls: TestClient, fake_okta: FakeOkta, clock: SettableClock, sign_in: SignInFixture
) -> None:
    with api_calls as client:
        sign_in(client, next="/profile")
        fake_okta.deactivate_user("ada@example.com")
        # The token in hand is revoked: userinfo refuses it, and the page says so, no more.
        page = client.get("/profile")
        assert page.status_code == 502
        assert "userinfo answered 401" in page.text
        # Once it runs out, the refresh is refused (invalid_grant): the session is over.
        clock.advance(LIFETIME + 1)
        page = anonymous(client, "/profile")
        assert page.status_code == 302
        assert page.headers["location"].startswith("/login?")
        assert token_posts(fake_okta) == 2  # the sign-in, the refused refresh
        again = client.get("/profile", headers={"Accept": "application/json"})
        assert again.status_code == 401
