"""The examples run: each protects its pages and greets a signed-in person."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from okta_magiclink_mw import Settings
from okta_magiclink_mw._flow import MagicLinkCore
from okta_magiclink_mw.stores import MemoryRecordStore
from okta_magiclink_mw.testing import FakeOkta

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ENV = {
    "OKTA_ISSUER": "https://example.okta.com/oauth2/default",
    "OKTA_CLIENT_ID": "0oaExample",
    "OKTA_REDIRECT_URI": "https://app.example/login/callback",
    "OKTA_MW_SECRET_KEYS": "an-example-secret-key-of-32-bytes-or-more",
}
CLAIMS = {
    "sub": "00uAda",
    "email": "ada@example.com",
    "email_verified": True,
    "name": "Ada Lovelace",
}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def okta_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def session_cookie() -> tuple[str, str]:
    """A session cookie as the middleware would mint it after a sign-in."""
    core = MagicLinkCore(Settings.from_env())
    _, header = core.sessions.mint(CLAIMS, None, core.clock())
    name, _, rest = header.partition("=")
    return name, rest.split(";", 1)[0]


async def call_asgi(app: Any, path: str, cookies: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://app.example", cookies=cookies
    ) as client:
        return await client.get(path)


def call_wsgi(app: Callable[..., Any], path: str, cookies: dict[str, str]) -> httpx.Response:
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(
        transport=transport, base_url="https://app.example", cookies=cookies
    ) as client:
        return client.get(path)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("example", "factory", "path", "expected"),
    [
        ("starlette_app", "app", "/", "Hello, Ada Lovelace!"),
        ("fastapi_app", "app", "/me", '"email":"ada@example.com"'),
    ],
)
async def test_asgi_examples(example: str, factory: str, path: str, expected: str) -> None:
    app = getattr(load(example), factory)()
    anonymous = await call_asgi(app, path, {})
    assert anonymous.status_code == 302
    assert anonymous.headers["location"].startswith("/login?state=")
    name, value = session_cookie()
    signed_in = await call_asgi(app, path, {name: value})
    assert signed_in.status_code == 200
    assert expected in signed_in.text


@pytest.mark.anyio
async def test_starlette_example_keeps_healthz_public() -> None:
    app = load("starlette_app").app()
    response = await call_asgi(app, "/healthz", {})
    assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.parametrize(
    ("example", "factory", "expected"),
    [
        ("flask_app", "create_app", "Hello, Ada Lovelace!"),
        ("legacy_wsgi", "application", "Welcome back, ada@example.com."),
    ],
)
def test_wsgi_examples(example: str, factory: str, expected: str) -> None:
    app = getattr(load(example), factory)()
    anonymous = call_wsgi(app, "/", {})
    assert anonymous.status_code == 302
    name, value = session_cookie()
    signed_in = call_wsgi(app, "/", {name: value})
    assert signed_in.status_code == 200
    assert expected in signed_in.text


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- examples/api_calls.py: a real sign-in against FakeOkta, in-process --------------------

OKTA = "https://okta.example"
APP = "https://app.example"
LIFETIME = 300  # the access token's, set on FakeOkta's client
_WIDGET_CONFIG = re.compile(r"Object\.assign\(\{el: \"#okta-sign-in-widget\"\}, (\{.*?\})\)")


class SettableClock:
    """Real time to start with; a test moves it forward (FakeOkta's and the app's)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TokenGrants(httpx.AsyncBaseTransport):
    """FakeOkta in-process, keeping the ``grant_type`` of every POST to ``/v1/token``."""

    def __init__(self, fake: FakeOkta) -> None:
        self._inner = fake.async_transport()
        self.grants: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/v1/token"):
            form = httpx.QueryParams((await request.aread()).decode())
            self.grants.append(form.get("grant_type", ""))
        return await self._inner.handle_async_request(request)


class ApiCallsApp:
    """examples/api_calls.py behind FakeOkta, with a browser's cookie jar."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clock = SettableClock()
        self.fake = FakeOkta(base_url=OKTA, clock=self.clock)
        self.fake.add_user(email="ada@example.com", name="Ada Lovelace")
        self.fake.add_web_app(
            f"{APP}/login/callback",
            client_id="0oaApiCalls",
            client_secret="api-calls-secret",
            access_token_lifetime=LIFETIME,
        )
        for key, value in {
            "OKTA_ISSUER": self.fake.issuer,
            "OKTA_CLIENT_ID": "0oaApiCalls",
            "OKTA_CLIENT_SECRET": "api-calls-secret",
            "OKTA_MW_SCOPES": "openid profile email offline_access",
        }.items():
            monkeypatch.setenv(key, value)
        self.okta_transport = TokenGrants(self.fake)
        self.okta = httpx.AsyncClient(transport=self.okta_transport)
        app = load("api_calls").app(
            http_client=self.okta, clock=self.clock, session_store=MemoryRecordStore()
        )
        self.browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP)

    async def widget(self, config: dict[str, Any]) -> str:
        """The Sign-In Widget's conversation with Okta: the interaction code."""
        okta = httpx.AsyncClient(transport=self.fake.async_transport(), base_url=OKTA)
        idx = {"Accept": "application/json; okta-version=1.0.0"}
        async with okta:
            interact = await okta.post(
                "/oauth2/default/v1/interact",
                data={
                    "client_id": config["clientId"],
                    "scope": " ".join(config["scopes"]),
                    "redirect_uri": config["redirectUri"],
                    "code_challenge": config["codeChallenge"],
                    "code_challenge_method": config["codeChallengeMethod"],
                    "state": config["state"],
                    "nonce": config["nonce"],
                },
            )
            handle = interact.json()["interaction_handle"]
            answer = await okta.post(
                "/idp/idx/introspect", json={"interactionHandle": handle}, headers=idx
            )
            state_handle = answer.json()["stateHandle"]
            authenticator = {"id": self.fake.info.email_authenticator_id, "methodType": "email"}
            steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("identify", lambda: {"identifier": "ada@example.com"}),
                ("challenge", lambda: {"authenticator": authenticator}),
                # The code from the email FakeOkta just sent.
                ("challenge/answer", lambda: {"credentials": {"passcode": self.otp()}}),
            ]
            for path, body in steps:
                answer = await okta.post(
                    f"/idp/idx/{path}", json={**body(), "stateHandle": state_handle}, headers=idx
                )
                assert answer.status_code == 200, answer.text
                state_handle = answer.json().get("stateHandle", state_handle)
        fields = answer.json()["successWithInteractionCode"]["value"]
        return str(next(f["value"] for f in fields if f["name"] == "interaction_code"))

    def otp(self) -> str:
        return self.fake.outbox[-1].otp

    async def sign_in(self) -> None:
        first = await self.browser.get("/profile")
        assert first.status_code == 302, first.text
        login = await self.browser.get(first.headers["location"])
        match = _WIDGET_CONFIG.search(login.text)
        assert match is not None, login.text
        config = json.loads(match.group(1))
        assert "offline_access" in config["scopes"]
        code = await self.widget(config)
        query = httpx.QueryParams({"interaction_code": code, "state": config["state"]})
        landing = await self.browser.get(f"/login/callback?{query}")
        assert (landing.status_code, landing.headers["location"]) == (302, "/profile")

    async def aclose(self) -> None:
        await self.browser.aclose()
        await self.okta.aclose()


@pytest.fixture
async def api_calls(monkeypatch: pytest.MonkeyPatch) -> Any:
    running = ApiCallsApp(monkeypatch)
    try:
        yield running
    finally:
        await running.aclose()


@pytest.mark.anyio
async def test_api_calls_example_shows_userinfo_and_refreshes_once(
    api_calls: ApiCallsApp,
) -> None:
    await api_calls.sign_in()
    page = await api_calls.browser.get("/profile")
    assert page.status_code == 200, page.text
    assert "<td>ada@example.com</td>" in page.text  # from Okta's userinfo
    assert api_calls.okta_transport.grants == ["interaction_code"]
    for cookie in api_calls.browser.cookies.jar:  # the token is in the store only
        assert len(cookie.value or "") < 400

    # Past the access token's expiry on both clocks: Okta would refuse the old token.
    api_calls.clock.advance(LIFETIME + 1)
    for _ in range(3):
        page = await api_calls.browser.get("/profile")
        assert page.status_code == 200, page.text
        assert "<td>ada@example.com</td>" in page.text
    assert api_calls.okta_transport.grants == ["interaction_code", "refresh_token"]


@pytest.mark.anyio
async def test_api_calls_example_after_a_deactivation_sends_the_person_to_sign_in(
    api_calls: ApiCallsApp,
) -> None:
    await api_calls.sign_in()
    api_calls.fake.deactivate_user("ada@example.com")
    # The token in hand is revoked: userinfo refuses it, and the page says so, no more.
    page = await api_calls.browser.get("/profile")
    assert page.status_code == 502
    assert "userinfo answered 401" in page.text
    # Once it runs out, the refresh is refused (invalid_grant): the session is over.
    api_calls.clock.advance(LIFETIME + 1)
    page = await api_calls.browser.get("/profile")
    assert page.status_code == 302
    assert page.headers["location"].startswith("/login?")
    assert api_calls.okta_transport.grants == ["interaction_code", "refresh_token"]
    again = await api_calls.browser.get("/profile", headers={"Accept": "application/json"})
    assert again.status_code == 401
