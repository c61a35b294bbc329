"""The examples run: each protects its pages and greets a signed-in person."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from okta_magiclink_mw import Settings
from okta_magiclink_mw._flow import MagicLinkCore

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
