"""What only one adapter has: websockets and lifespan (ASGI), environ handling (WSGI),
and the frameworks' own views of the user (Starlette, FastAPI, Flask)."""

from __future__ import annotations

import contextlib
import io
import json
import wsgiref.util
import wsgiref.validate
from typing import Any

import anyio
import httpx
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from flask import Flask, request
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from okta_magiclink_mw import OktaMagicLink, OktaMagicLinkWSGI, OktaUser
from tests.conftest import (
    APP_ORIGIN,
    NAV,
    SPOOF_HEADERS,
    FakeClock,
    FakeOkta,
    make_settings,
    sign_in,
)

SESSION = "__Host-omw_session"


def _session_cookie(mw: Any, clock: FakeClock, **claims: Any) -> str:
    claims.setdefault("sub", "00u-ada")
    claims.setdefault("email", "ada@example.com")
    claims.setdefault("email_verified", True)
    claims.setdefault("name", "Ada Lovelace")
    _, header = mw.core.sessions.mint(claims, None, clock())
    return f"{SESSION}={header.split(';')[0].split('=', 1)[1]}"


# -- ASGI: websockets ---------------------------------------------------------------------------


async def _ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    user = websocket.scope["user"]
    spoof = websocket.headers.get("x-remote-user")
    await websocket.send_text(f"{user.display_name}|{user.is_authenticated}|{spoof}")
    await websocket.close()


def _ws_app() -> Starlette:
    return Starlette(
        routes=[WebSocketRoute("/ws", _ws_endpoint), WebSocketRoute("/public/ws", _ws_endpoint)]
    )


async def _websocket(mw: OktaMagicLink, path: str, headers: list[tuple[bytes, bytes]]) -> list:
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "wss",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
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


def test_10_websocket_without_session_is_refused(clock: FakeClock) -> None:
    mw = OktaMagicLink(_ws_app(), make_settings(), clock=clock)
    sent = anyio.run(_websocket, mw, "/ws", [])
    assert sent == [{"type": "websocket.close", "code": 1008}]
    forged = [(b"cookie", f"{SESSION}=forged".encode())]
    assert anyio.run(_websocket, mw, "/ws", forged) == sent


def test_10_websocket_with_session_gets_the_user(clock: FakeClock) -> None:
    mw = OktaMagicLink(_ws_app(), make_settings(), clock=clock)
    cookie = _session_cookie(mw, clock)
    headers = [(b"cookie", cookie.encode()), (b"x-remote-user", b"admin")]
    sent = anyio.run(_websocket, mw, "/ws", headers)
    assert sent[0]["type"] == "websocket.accept"
    assert sent[1]["text"].startswith("Ada Lovelace|True|")
    assert sent[1]["text"] == "Ada Lovelace|True|None"  # R29: identity header stripped


def test_10_public_websocket_is_anonymous(clock: FakeClock) -> None:
    mw = OktaMagicLink(_ws_app(), make_settings(), clock=clock)
    sent = anyio.run(_websocket, mw, "/public/ws", [])
    assert sent[1]["text"] == "|False|None"


# -- ASGI: lifespan -----------------------------------------------------------------------------


async def _lifespan(mw: OktaMagicLink) -> list[str]:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await mw({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


def test_10_lifespan_passes_through_and_closes_the_owned_client(
    okta: FakeOkta, clock: FakeClock
) -> None:
    started: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        started.append("up")
        yield
        started.append("down")

    app = Starlette(lifespan=lifespan)
    mw = OktaMagicLink(app, make_settings(), clock=clock)

    async def scenario() -> tuple[list[str], Any]:
        transport = httpx.ASGITransport(app=mw)
        async with httpx.AsyncClient(transport=transport, base_url=APP_ORIGIN) as c:
            r = await c.get("/x", headers=NAV)
            page = await c.get(r.headers["location"])
            state = r.headers["location"].split("state=")[1]
            config = json.loads(page.text.split('"}, ')[1].split(")).showSignIn")[0])
            code = okta.issue_code(config)
            r = await c.get(f"/login/callback?interaction_code={code}&state={state}")
            assert r.status_code == 302
        owned = mw._client
        assert owned is not None
        assert not owned.is_closed
        return await _lifespan(mw), owned

    sent, owned = anyio.run(scenario)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert started == ["up", "down"]
    assert owned.is_closed
    assert mw._client is None


def test_10_a_client_handed_in_is_not_closed(clock: FakeClock) -> None:
    mine = httpx.AsyncClient()
    mw = OktaMagicLink(Starlette(), make_settings(), http_client=mine, clock=clock)
    assert anyio.run(_lifespan, mw)[-1] == "lifespan.shutdown.complete"
    assert not mine.is_closed
    anyio.run(mine.aclose)


# -- ASGI: frameworks ---------------------------------------------------------------------------


def _asgi_get(mw: Any, path: str, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=mw)
        async with httpx.AsyncClient(transport=transport, base_url=APP_ORIGIN) as c:
            return await c.get(path, headers=headers)

    return anyio.run(go)


def test_10_starlette_request_user_and_requires(clock: FakeClock) -> None:
    @requires("authenticated")
    async def home(request: Request) -> PlainTextResponse:
        assert isinstance(request.user, OktaUser)
        return PlainTextResponse(f"{request.user.display_name} {request.user.email}")

    mw = OktaMagicLink(Starlette(routes=[Route("/", home)]), make_settings(), clock=clock)
    r = _asgi_get(mw, "/", {"cookie": _session_cookie(mw, clock)})
    assert r.text == "Ada Lovelace ada@example.com"


def test_10_fastapi_request_user(clock: FakeClock) -> None:
    api = FastAPI()

    @api.get("/me")
    async def me(request: FastAPIRequest) -> dict[str, Any]:
        return {"sub": request.user.identity, "auth": request.auth.scopes}

    mw = OktaMagicLink(api, make_settings(), clock=clock)
    r = _asgi_get(mw, "/me", {"cookie": _session_cookie(mw, clock), **SPOOF_HEADERS})
    assert r.json() == {"sub": "00u-ada", "auth": ["authenticated"]}
    assert _asgi_get(mw, "/me", {"accept": "application/json"}).status_code == 401


# -- WSGI ---------------------------------------------------------------------------------------


def _environ(path: str, **extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(),
    }
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(extra)
    return environ


def test_wsgi_remote_user_from_outside_is_removed(clock: FakeClock) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    mw = OktaMagicLinkWSGI(app, make_settings(), clock=clock)
    environ = _environ(
        "/health", REMOTE_USER="admin", HTTP_X_REMOTE_USER="admin", HTTP_X_FORWARDED_EMAIL="x@y"
    )
    statuses: list[str] = []
    body = wsgiref.validate.validator(mw)(environ, lambda s, h, e=None: statuses.append(s))
    assert b"".join(body) == b"ok"
    body.close()  # type: ignore[attr-defined]
    assert "REMOTE_USER" not in seen
    assert "HTTP_X_REMOTE_USER" not in seen
    assert "HTTP_X_FORWARDED_EMAIL" not in seen
    assert seen["okta_magiclink_mw.user"].is_authenticated is False
    environ = _environ("/app", REMOTE_USER="admin", HTTP_COOKIE=_session_cookie(mw, clock))
    seen.clear()
    body = wsgiref.validate.validator(mw)(environ, lambda s, h, e=None: statuses.append(s))
    body.close()  # type: ignore[attr-defined]
    assert seen["REMOTE_USER"] == "ada@example.com"
    assert statuses == ["200 OK", "200 OK"]


def test_wsgi_remote_user_falls_back_to_sub(clock: FakeClock) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    mw = OktaMagicLinkWSGI(app, make_settings(), clock=clock)
    _, header = mw.core.sessions.mint({"sub": "00u-noemail"}, None, clock())
    cookie = f"{SESSION}={header.split(';')[0].split('=', 1)[1]}"
    mw(_environ("/app", HTTP_COOKIE=cookie), lambda s, h, e=None: None)
    assert seen["REMOTE_USER"] == "00u-noemail"


def test_wsgi_empty_path_and_status_lines(clock: FakeClock) -> None:
    mw = OktaMagicLinkWSGI(lambda e, s: [], make_settings(), clock=clock)
    statuses: list[str] = []
    mw(_environ("", REQUEST_METHOD="GET"), lambda s, h, e=None: statuses.append(s))
    assert statuses == ["302 Found"]  # "" is "/" and protected
    mw(
        _environ("/login/callback", QUERY_STRING="error=x", HTTP_ACCEPT="text/html"),
        lambda s, h, e=None: statuses.append(s),
    )
    assert statuses[-1] == "400 Bad Request"


def test_wsgi_close_only_closes_the_owned_client(clock: FakeClock) -> None:
    mine = httpx.Client()
    mw = OktaMagicLinkWSGI(lambda e, s: [], make_settings(), http_client=mine, clock=clock)
    mw.close()
    assert not mine.is_closed
    mine.close()
    owned = OktaMagicLinkWSGI(lambda e, s: [], make_settings(), clock=clock)
    owned.close()  # nothing created yet: nothing to close
    assert owned._client is None


def test_flask_sees_the_user(okta: FakeOkta, clock: FakeClock) -> None:
    flask_app = Flask(__name__)

    @flask_app.get("/reports")
    def reports() -> str:
        user = request.environ["okta_magiclink_mw.user"]
        return f"{request.environ['REMOTE_USER']} {user.display_name}"

    flask_app.wsgi_app = OktaMagicLinkWSGI(  # type: ignore[method-assign]
        flask_app.wsgi_app, make_settings(), clock=clock
    )
    from tests.conftest import Browser

    browser = Browser("wsgi", flask_app.wsgi_app, APP_ORIGIN, wsgi_app=flask_app)
    r = sign_in(browser, okta, "/reports")
    assert r.headers["location"] == "/reports"
    assert browser.get("/reports").text == "ada@example.com Ada Lovelace"
    browser.close()
    flask_app.wsgi_app.close()


def test_wsgi_app_mounted_under_a_prefix_sees_full_paths() -> None:
    """SCRIPT_NAME + PATH_INFO is the path of the middleware's own pages: the callback of
    /app/login/callback matches. Public paths are the app's own, PATH_INFO."""
    from okta_magiclink_mw import OktaMagicLinkWSGI
    from tests.conftest import make_settings

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    settings = make_settings(
        redirect_uri="https://app.example/app/login/callback",
        login_path="/app/login",
        logout_path="/app/logout",
        public_paths=("/health",),
    )
    mw = OktaMagicLinkWSGI(app, settings)
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/app", "PATH_INFO": "/reports"}
    statuses: list[str] = []
    headers: list[list[tuple[str, str]]] = []

    def start_response(status: str, h: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        headers.append(h)

    mw(dict(environ, QUERY_STRING="x=1"), start_response)
    location = dict(headers[-1])["location"]
    assert statuses[-1].startswith("302")
    assert location.startswith("/app/login?state=")
    assert mw(dict(environ, PATH_INFO="/health"), start_response) == [b"app"]
    body = b"".join(mw(dict(environ, PATH_INFO="/login/callback", QUERY_STRING=""), start_response))
    assert statuses[-1].startswith("400")  # the callback handled it: no parameters
    assert b"Sign in again" in body
