"""examples/django_app runs behind the middleware, on WSGI and on ASGI: Django's
RemoteUserMiddleware turns the Okta session into request.user, and nothing a client sends
can do that in its place."""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HOST = "testserver"
APP = f"http://{HOST}"
SPOOFS = [
    {"Remote-User": "eve@example.com"},
    {"REMOTE_USER": "eve@example.com"},
    {"Remote_User": "eve@example.com"},
    {"X-Remote-User": "eve@example.com"},
]


# --8<-- [start:setup]
@pytest.fixture(scope="module")
def django_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The example's settings, its sqlite database in a temp dir, migrated (once: Django's
    settings are the process's)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    sys.path.insert(0, str(EXAMPLES))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DJANGO_SETTINGS_MODULE", "django_app.settings")
        env.setenv("DJANGO_DB_PATH", str(tmp_path_factory.mktemp("django") / "db.sqlite3"))
        env.setenv("DJANGO_ALLOWED_HOSTS", HOST)
        django.setup()
        assert settings.ROOT_URLCONF == "django_app.urls"
        call_command("migrate", verbosity=0)
    yield
    sys.path.remove(str(EXAMPLES))


def application(kind: str) -> Any:
    """The example's wsgi.py or asgi.py, imported afresh (it reads the OKTA_* variables)."""
    name = f"django_app.{kind}"
    sys.modules.pop(name, None)
    return importlib.import_module(name).application


# --8<-- [end:setup]


def django_user_exists(username: str) -> bool:
    from django.contrib.auth import get_user_model

    return bool(get_user_model().objects.filter(username=username).exists())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --8<-- [start:client]
@pytest.fixture
def wsgi_client(django_project: None, okta_env: dict[str, str]) -> Iterator[httpx.Client]:
    """A client of examples/django_app/wsgi.py. (Django's own test Client would call the
    views without the WSGI application, so without the middleware.)"""
    transport = httpx.WSGITransport(app=application("wsgi"))
    with httpx.Client(transport=transport, base_url=APP) as client:
        yield client


# --8<-- [end:client]


@pytest.fixture
async def asgi_client(
    django_project: None, okta_env: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application("asgi"))
    async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
        yield client


def assert_sent_to_sign_in(response: httpx.Response) -> None:
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith("/login?")


def assert_nobody_in_django(response: httpx.Response) -> None:
    assert (response.status_code, response.text) == (200, "<p>Nobody is signed in.</p>")


# -- WSGI -----------------------------------------------------------------------------------


def test_wsgi_signed_out_is_sent_to_sign_in(wsgi_client: httpx.Client) -> None:
    assert_sent_to_sign_in(wsgi_client.get("/"))
    assert_sent_to_sign_in(wsgi_client.get("/me"))
    assert_nobody_in_django(wsgi_client.get("/about"))  # public: settings.OKTA_PUBLIC_PATHS


# --8<-- [start:signed-in]
def test_wsgi_signed_in_is_a_django_user(wsgi_client: httpx.Client, sign_in: Any) -> None:
    sign_in(wsgi_client, email="grace@example.com", groups=["admins", "staff"])
    home = wsgi_client.get("/")
    assert home.status_code == 200
    expected = "Hello, grace@example.com! Django knows you as grace@example.com."
    assert expected in home.text
    me = wsgi_client.get("/me").json()
    assert me["remote_user"] == me["username"] == "grace@example.com"
    assert me["groups"] == ["admins", "staff"]  # request.okta_user, from the ID token
    assert django_user_exists("grace@example.com")  # RemoteUserBackend created it
    about = wsgi_client.get("/about")
    assert about.text == "<p>Signed in as grace@example.com.</p>"


# --8<-- [end:signed-in]


@pytest.mark.parametrize("spoof", SPOOFS, ids=lambda h: next(iter(h)))
def test_wsgi_identity_headers_sign_nobody_in(wsgi_client: httpx.Client, spoof: Any) -> None:
    assert_sent_to_sign_in(wsgi_client.get("/", headers=spoof))
    assert_nobody_in_django(wsgi_client.get("/about", headers=spoof))


@pytest.mark.parametrize("spoof", SPOOFS, ids=lambda h: next(iter(h)))
def test_wsgi_identity_headers_change_nobody(
    wsgi_client: httpx.Client, sign_in: Any, spoof: Any
) -> None:
    sign_in(wsgi_client)
    me = wsgi_client.get("/me", headers=spoof).json()
    assert me["remote_user"] == me["username"] == "ada@example.com"


def test_wsgi_sign_out_logs_out_of_django(wsgi_client: httpx.Client, sign_in: Any) -> None:
    sign_in(wsgi_client)
    assert wsgi_client.get("/about").text == "<p>Signed in as ada@example.com.</p>"
    django_session = wsgi_client.cookies["sessionid"]
    out = wsgi_client.post("/logout", headers={"Origin": APP})
    assert out.status_code == 303
    assert_sent_to_sign_in(wsgi_client.get("/"))
    # Django's own session is still in the browser: RemoteUserMiddleware ends it.
    assert wsgi_client.cookies["sessionid"] == django_session
    assert_nobody_in_django(wsgi_client.get("/about"))


# -- ASGI -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_asgi_signed_out_is_sent_to_sign_in(asgi_client: httpx.AsyncClient) -> None:
    assert_sent_to_sign_in(await asgi_client.get("/"))
    assert_sent_to_sign_in(await asgi_client.get("/me"))
    assert_nobody_in_django(await asgi_client.get("/about"))


@pytest.mark.anyio
async def test_asgi_signed_in_is_a_django_user(
    asgi_client: httpx.AsyncClient, sign_in: Any
) -> None:
    await sign_in(asgi_client, email="ines@example.com", groups=["staff"])
    home = await asgi_client.get("/")
    assert home.status_code == 200
    assert "Hello, ines@example.com! Django knows you as ines@example.com." in home.text
    me = (await asgi_client.get("/me")).json()
    assert me["remote_user"] == me["username"] == "ines@example.com"
    assert me["groups"] == ["staff"]
    assert (await asgi_client.get("/about")).text == "<p>Signed in as ines@example.com.</p>"


@pytest.mark.anyio
@pytest.mark.parametrize("spoof", SPOOFS, ids=lambda h: next(iter(h)))
async def test_asgi_identity_headers_sign_nobody_in(
    asgi_client: httpx.AsyncClient, spoof: Any
) -> None:
    assert_sent_to_sign_in(await asgi_client.get("/", headers=spoof))
    assert_nobody_in_django(await asgi_client.get("/about", headers=spoof))


@pytest.mark.anyio
@pytest.mark.parametrize("spoof", SPOOFS, ids=lambda h: next(iter(h)))
async def test_asgi_identity_headers_change_nobody(
    asgi_client: httpx.AsyncClient, sign_in: Any, spoof: Any
) -> None:
    await sign_in(asgi_client)
    me = (await asgi_client.get("/me", headers=spoof)).json()
    assert me["remote_user"] == me["username"] == "ada@example.com"


@pytest.mark.anyio
async def test_asgi_sign_out_logs_out_of_django(
    asgi_client: httpx.AsyncClient, sign_in: Any
) -> None:
    await sign_in(asgi_client)
    assert (await asgi_client.get("/about")).text == "<p>Signed in as ada@example.com.</p>"
    out = await asgi_client.post("/logout", headers={"Origin": APP})
    assert out.status_code == 303
    assert_sent_to_sign_in(await asgi_client.get("/"))
    assert "sessionid" in asgi_client.cookies
    assert_nobody_in_django(await asgi_client.get("/about"))


def test_djangos_test_client_does_not_pass_through_the_middleware(django_project: None) -> None:
    """Django's Client calls the views without the WSGI application object: the middleware
    is not there, and OktaUserMiddleware says so instead of letting anybody in."""
    from django.test import Client

    from okta_magiclink_mw import ConfigurationError

    with pytest.raises(ConfigurationError, match="Django's test Client"):
        Client().get("/about")
