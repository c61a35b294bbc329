"""Guards inside the app (issue 10): ``okta_magiclink_mw.fastapi.require`` (a dependency),
``okta_magiclink_mw.starlette.require`` (a decorator; Starlette's ``@requires`` too) and
``okta_magiclink_mw.flask.require``. A refusal is answered with exactly the middleware's
403, page or JSON; nobody signed in is turned away as usual. ASGI runs the FastAPI and
Starlette apps, WSGI the Flask one; every session mode."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
from typing import Any

import pytest
from fastapi import Depends, FastAPI, WebSocket
from flask import Flask
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from okta_magiclink_mw import AccessDenied, ConfigurationError, OktaMagicLink, OktaUser
from okta_magiclink_mw import fastapi as omw_fastapi
from okta_magiclink_mw import flask as omw_flask
from okta_magiclink_mw import starlette as omw_starlette
from okta_magiclink_mw.errors import SignInRequired
from okta_magiclink_mw.wsgi import USER_KEY
from tests.conftest import APP_ORIGIN, NAV, Browser, FakeOkta, make_settings, sign_in

ALL_SESSION_MODES = True
SESSION = "__Host-omw_session"
API = {"accept": "application/json"}
SETTINGS = {"public_paths": ("/health", "/public/")}


# -- the apps ------------------------------------------------------------------------------------


def fastapi_app() -> FastAPI:
    app = FastAPI()
    admins = omw_fastapi.require(groups={"admins"})

    @app.get("/admin/{rest:path}")
    async def admin(rest: str, user: OktaUser = Depends(admins)) -> dict[str, Any]:  # noqa: B008
        return {"hello": user.display_name, "rest": rest}

    @app.get("/public/guarded")
    async def public_guarded(user: OktaUser = Depends(omw_fastapi.require())) -> dict[str, Any]:  # noqa: B008
        return {"hello": user.display_name}

    @app.get("/sync")
    def sync_view(
        user: OktaUser = Depends(omw_fastapi.require(domains=["example.com"])),  # noqa: B008
    ) -> dict[str, Any]:
        return {"hello": user.display_name}

    @app.websocket("/admin-ws")
    async def admin_ws(websocket: WebSocket, user: OktaUser = Depends(admins)) -> None:  # noqa: B008
        await websocket.accept()
        await websocket.send_text(user.display_name)
        await websocket.close()

    @app.get("/{rest:path}")
    async def anything(rest: str) -> dict[str, Any]:
        return {"open": rest}

    return app


def starlette_app() -> Starlette:
    @omw_starlette.require(groups={"admins"})
    async def admin(request: Request) -> Response:
        return JSONResponse({"hello": request.user.display_name})

    @omw_starlette.require(emails=["ADA@example.com"])
    def sync_view(request: Request) -> Response:
        return JSONResponse({"hello": request.user.display_name})

    class Reports(HTTPEndpoint):
        @omw_starlette.require(domains=["example.com"])
        async def get(self, request: Request) -> Response:
            return JSONResponse({"hello": request.user.display_name})

    @omw_starlette.require()
    async def public_guarded(request: Request) -> Response:
        return JSONResponse({"hello": request.user.display_name})

    @requires("group:admins")
    async def starlette_requires(request: Request) -> Response:
        return JSONResponse({"scopes": request.auth.scopes})

    async def anything(request: Request) -> Response:
        return PlainTextResponse("open")

    return Starlette(
        routes=[
            Route("/admin/{rest:path}", admin),
            Route("/sync", sync_view),
            Route("/reports", Reports),
            Route("/public/guarded", public_guarded),
            Route("/requires", starlette_requires),
            Route("/{rest:path}", anything),
        ]
    )


def flask_app(*, testing: bool = False) -> Any:
    app = Flask(__name__)
    app.testing = testing  # exceptions propagate out of Flask instead of its 500 page

    @app.route("/admin/<path:rest>")
    @app.route("/admin/", defaults={"rest": ""})
    @omw_flask.require(groups={"admins"})
    def admin(rest: str) -> Any:
        from flask import request

        return {"hello": request.environ[USER_KEY].display_name, "rest": rest}

    @app.route("/sync")
    @omw_flask.require(emails=["ada@example.com"])
    def sync_view() -> Any:
        return {"hello": "sync"}

    @app.route("/public/guarded")
    @omw_flask.require()
    def public_guarded() -> Any:
        from flask import request

        return {"hello": request.environ[USER_KEY].display_name}

    @app.route("/<path:rest>")
    def anything(rest: str) -> Any:
        return {"open": rest}

    return app.wsgi_app


@pytest.fixture(params=["fastapi", "starlette", "flask"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def adapter(framework: str) -> str:
    """Flask behind the WSGI adapter, FastAPI and Starlette behind the ASGI one."""
    return "wsgi" if framework == "flask" else "asgi"


@pytest.fixture
def guarded(make_client: Any, framework: str) -> Any:
    """``guarded(**settings)``: a browser in front of the guarded app of ``framework``."""

    def make(*, testing: bool = False, **overrides: Any) -> Browser:
        asgi = fastapi_app() if framework == "fastapi" else starlette_app()
        return make_client(
            make_settings(**{**SETTINGS, **overrides}),
            asgi_app=asgi,
            wsgi_app=flask_app(testing=testing),
        )

    return make


def signed_in(client: Browser, okta: FakeOkta, **claims: Any) -> None:
    r = sign_in(client, okta, "/", **claims)
    assert r.status_code == 302, r.text


_NONCE = re.compile(rb"nonce-[A-Za-z0-9_-]+|nonce=\"[A-Za-z0-9_-]+\"")


def same_answer(a: Any, b: Any) -> None:
    """Two responses alike but for their nonce: the same page, the same headers."""
    assert a.status_code == b.status_code
    assert _NONCE.sub(b"", a.content) == _NONCE.sub(b"", b.content)
    strip = {"content-security-policy", "content-length", "date", "server"}
    assert {(k, v) for k, v in a.headers.items() if k not in strip} == {
        (k, v) for k, v in b.headers.items() if k not in strip
    }
    assert _NONCE.sub(b"", a.headers["content-security-policy"].encode()) == _NONCE.sub(
        b"", b.headers["content-security-policy"].encode()
    )


# -- allowed and refused ---------------------------------------------------------------------------


def test_the_guard_lets_its_people_in(guarded: Any, okta: FakeOkta) -> None:
    client = guarded()
    signed_in(client, okta, groups=["admins"])
    r = client.get("/admin/users", headers=API)
    assert r.status_code == 200, r.text
    assert r.json()["hello"] == "Ada Lovelace"
    assert client.get("/sync", headers=API).status_code == 200


@pytest.mark.parametrize("testing", [False, True])
@pytest.mark.parametrize("headers", [NAV, API], ids=["page", "api"])
def test_a_refusal_is_exactly_the_middlewares_403(
    guarded: Any, make_client: Any, okta: FakeOkta, headers: dict[str, str], testing: bool
) -> None:
    client = guarded(testing=testing)
    signed_in(client, okta, groups=["staff"])
    by_guard = client.get("/admin/users", headers=headers)
    assert by_guard.status_code == 403, by_guard.text
    # The same person refused by the middleware's own rule.
    ruled = make_client(make_settings(**SETTINGS, allowed_groups=["admins"]))
    signed_in(ruled, okta, groups=["staff"])
    by_rule = ruled.get("/admin/users", headers=headers)
    same_answer(by_guard, by_rule)
    if headers is NAV:
        assert "You are signed in as <strong>ada@example.com</strong>" in by_guard.text
    else:
        assert by_guard.json()["error"] == "forbidden"


def test_every_kind_of_endpoint_is_guarded(guarded: Any, okta: FakeOkta, framework: str) -> None:
    client = guarded()
    signed_in(client, okta, email="eve@other.example", sub="00u-eve")
    paths = {
        "fastapi": ["/admin/x", "/sync"],  # async and sync dependencies' views
        "starlette": ["/admin/x", "/sync", "/reports"],  # async, sync, an HTTPEndpoint
        "flask": ["/admin/x", "/admin/", "/sync"],
    }[framework]
    for path in paths:
        r = client.get(path, headers=API)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"] == "forbidden"
    assert client.get("/open", headers=API).status_code == 200


def test_nobody_signed_in_is_turned_away(guarded: Any, okta: FakeOkta) -> None:
    client = guarded()
    r = client.get("/public/guarded", headers=NAV)  # a public path: the guard decides
    assert r.status_code == 302
    assert r.headers["location"].startswith("/login?state=")
    r = client.get("/public/guarded", headers=API)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthenticated"
    signed_in(client, okta)
    r = client.get("/public/guarded", headers=API)
    assert r.status_code == 200
    assert r.json()["hello"] == "Ada Lovelace"


def test_the_refusal_is_logged(
    guarded: Any, okta: FakeOkta, caplog: pytest.LogCaptureFixture
) -> None:
    client = guarded()
    signed_in(client, okta)  # no groups claim at all
    with caplog.at_level(logging.INFO, logger="okta_magiclink_mw"):
        assert client.get("/admin/x", headers=API).status_code == 403
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "access.denied"]
    assert record.source == "a guard in the app"  # type: ignore[attr-defined]
    assert record.levelno == logging.WARNING
    assert "no 'groups' claim" in record.getMessage()


# -- Starlette's @requires and websockets (ASGI) ------------------------------------------------


@pytest.mark.parametrize("framework", ["starlette"])
def test_starlette_requires_sees_the_groups(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(), asgi_app=starlette_app())
    signed_in(client, okta, groups=["admins", "staff"])
    r = client.get("/requires", headers=API)
    assert r.status_code == 200
    assert r.json()["scopes"] == ["authenticated", "group:admins", "group:staff"]
    other = client.other_browser()
    signed_in(other, okta, groups=["staff"], sub="00u-bob")
    assert other.get("/requires", headers=API).status_code == 403  # Starlette's own 403


async def _websocket(mw: OktaMagicLink, path: str, cookie: str) -> list[dict[str, Any]]:
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "wss",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"cookie", cookie.encode()), (b"origin", APP_ORIGIN.encode())],
        "subprotocols": [],
    }
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await mw(scope, receive, send)
    return sent


@pytest.mark.parametrize("framework", ["fastapi"])
def test_a_guarded_websocket_closes_on_a_refusal(make_client: Any, okta: FakeOkta) -> None:
    client = make_client(make_settings(), asgi_app=fastapi_app())
    signed_in(client, okta, groups=["staff"])
    cookie = f"{SESSION}={client.cookies[SESSION]}"
    sent = client._portal.call(_websocket, client.mw, "/admin-ws", cookie)
    assert sent[0]["type"] == "websocket.close"
    assert sent[0]["code"] == 1008
    admin = client.other_browser()
    signed_in(admin, okta, groups=["admins"], sub="00u-root")
    cookie = f"{SESSION}={admin.cookies[SESSION]}"
    sent = client._portal.call(_websocket, client.mw, "/admin-ws", cookie)
    assert sent[0]["type"] == "websocket.accept"
    assert sent[1]["text"] == "Ada Lovelace"


# -- the guards themselves -----------------------------------------------------------------------


@pytest.mark.parametrize("module", [omw_fastapi, omw_starlette, omw_flask])
def test_a_guard_checks_its_arguments(module: Any) -> None:
    with pytest.raises(ConfigurationError, match="groups must be a list"):
        module.require(groups="admins")
    with pytest.raises(ConfigurationError, match="no '@'"):
        module.require(domains=["@example.com"])
    with pytest.raises(TypeError):
        module.require(["admins"])  # keywords only: a list is never taken for emails


def test_a_starlette_guard_needs_a_request() -> None:
    @omw_starlette.require()
    def view(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="Request or a WebSocket"):
        view(1)


def test_the_frameworks_are_imported_lazily() -> None:
    code = (
        "import sys\n"
        "import okta_magiclink_mw.fastapi, okta_magiclink_mw.flask, okta_magiclink_mw.starlette\n"
        "assert 'flask' not in sys.modules, 'flask'\n"
        "assert 'fastapi' not in sys.modules, 'fastapi'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_flask_async_views_are_guarded_too() -> None:
    """(Flask runs them only with its ``async`` extra; the guard itself is checked here.)"""
    app = Flask(__name__)

    @omw_flask.require(groups={"admins"})
    async def view() -> str:
        return "in"

    admin = OktaUser({"sub": "00u-root", "groups": ["admins"]})
    with app.test_request_context(environ_overrides={USER_KEY: admin}):
        assert asyncio.run(view()) == "in"
    refused = OktaUser({"sub": "00u-ada"})
    with (
        app.test_request_context(environ_overrides={USER_KEY: refused}),
        pytest.raises(AccessDenied) as info,
    ):
        asyncio.run(view())
    assert info.value.denial is not None
    assert info.value.denial.path == "/"
    with app.test_request_context(), pytest.raises(SignInRequired):
        asyncio.run(view())


def test_guards_declare_themselves_once_made() -> None:
    from okta_magiclink_mw import _guards

    omw_flask.require()
    assert _guards.declared is True
