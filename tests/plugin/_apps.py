"""Small protected apps of every kind for the plugin's tests (public API only)."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from flask import Flask
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from okta_magiclink_mw import OktaMagicLink, OktaMagicLinkWSGI, Settings


async def _home(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse(f"Hello, {request.user.display_name}! <{request.user.email}>")


async def _public(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse("public")


def bare_starlette() -> Starlette:
    """The app without the middleware: ``/`` and ``/reports`` greet, ``/public``."""
    return Starlette(
        routes=[Route("/", _home), Route("/reports", _home), Route("/public", _public)]
    )


def starlette_app(settings: Settings) -> OktaMagicLink:
    return OktaMagicLink(bare_starlette(), settings)


def fastapi_app(settings: Settings) -> FastAPI:
    api = FastAPI()

    @api.get("/")
    def home(request: Request) -> dict[str, str | None]:
        return {"greeting": f"Hello, {request.user.display_name}!", "email": request.user.email}

    api.add_middleware(OktaMagicLink, settings=settings)
    return api


def flask_app(settings: Settings) -> Flask:
    app = Flask("plugin_tests")

    @app.get("/")
    def home() -> str:
        user = flask_request.environ["okta_magiclink_mw.user"]
        return f"Hello, {html.escape(user.display_name)}! <{html.escape(user.email)}>"

    app.wsgi_app = OktaMagicLinkWSGI(app.wsgi_app, settings)  # type: ignore[method-assign]
    return app


def wsgi_app(settings: Settings) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        user = environ.get("okta_magiclink_mw.user")
        body = f"Hello, {user.display_name if user else 'nobody'}! <{environ.get('REMOTE_USER')}>"
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [body.encode()]

    return OktaMagicLinkWSGI(app, settings)
