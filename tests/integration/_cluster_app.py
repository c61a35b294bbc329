"""The app every instance of a :mod:`._cluster` runs, configured from the environment only.

``python -m uvicorn --factory tests.integration._cluster_app:asgi_app`` or
``python -m waitress --call tests.integration._cluster_app:wsgi_app``, with the OKTA_*
variables of :meth:`Settings.from_env` set. Imports stay light: this is what each child
process loads before it can answer.

Besides the pages, ``/api/token`` hands out what the person's access token hashes to
(never the token) with the pid that served it; ``?min_valid=`` is passed on. For the
token tests the harness may also set a clock file (:data:`CLOCK_FILE_ENV`: the app's
clock is real time plus the offset written there, so a test moves every process's
time with FakeOkta's) and an arrivals key (:data:`ARRIVALS_ENV`: each ``/api/token``
call counts itself in Redis before it asks for the token, so a test knows when all
its concurrent calls are inside the apps).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from okta_magiclink_mw import Settings

#: Environment the instances read, besides Settings.from_env's OKTA_* variables.
SESSION_STORE_ENV = "OKTA_MW_SESSION_STORE"
STORE_GRACE_ENV = "OKTA_MW_STORE_GRACE"
WIDGET_JS_ENV = "OKTA_MW_TEST_WIDGET_JS_URL"
WIDGET_CSS_ENV = "OKTA_MW_TEST_WIDGET_CSS_URL"
CLOCK_FILE_ENV = "OKTA_MW_TEST_CLOCK_FILE"
ARRIVALS_ENV = "OKTA_MW_TEST_ARRIVALS_KEY"


def clock_from_env() -> Callable[[], float]:
    """``time.time``, or with :data:`CLOCK_FILE_ENV` real time plus the file's offset
    (read on every call: a test moves it while the processes run)."""
    path = os.environ.get(CLOCK_FILE_ENV)
    if not path:
        return time.time

    def clock() -> float:
        with open(path) as file:
            text = file.read()
        return time.time() + float(text or 0)

    return clock


def token_answer(token: str) -> dict[str, Any]:
    """What ``/api/token`` answers: who served it, and the token's hash only."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    return {"pid": os.getpid(), "ppid": os.getppid(), "token_sha256": digest}


def min_valid(query: Mapping[str, str]) -> float:
    value = query.get("min_valid")
    return 60.0 if value is None else float(value)


def settings_from_env() -> Settings:
    """Settings.from_env plus what the harness passes: widget URLs, the store, its grace.

    OKTA_MW_SESSION_STORE and OKTA_MW_STORE_GRACE are handed to ``Settings`` whether or
    not ``from_env`` reads them itself, and refused loudly if ``Settings`` has no such
    setting yet: a test that asks for Redis must never silently run without it.
    """
    env = os.environ
    overrides: dict[str, Any] = {"public_paths": ["/health"]}
    if env.get(WIDGET_JS_ENV):
        overrides["widget_js_url"] = env[WIDGET_JS_ENV]
        overrides["widget_css_url"] = env.get(WIDGET_CSS_ENV)
    known = {f.name for f in dataclasses.fields(Settings)}
    for name, variable in (("session_store", SESSION_STORE_ENV), ("store_grace", STORE_GRACE_ENV)):
        value = env.get(variable)
        if not value:
            continue
        if name not in known:
            raise SystemExit(f"{variable} is set but Settings has no {name!r} setting")
        overrides[name] = float(value) if name == "store_grace" else value
    return Settings.from_env(**overrides)


def _echo(headers: Mapping[str, str], client: str | None, scheme: str) -> dict[str, Any]:
    """What the app learnt from the proxy: the client's address, the scheme, the headers."""
    names = ("host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded")
    return {"client": client, "scheme": scheme, **{name: headers.get(name) for name in names}}


def asgi_app() -> Any:
    """uvicorn --factory: the demo's pages, plus /whoami (JSON) and a public /health."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from okta_magiclink_mw import OktaMagicLink
    from okta_magiclink_mw._demo import _home, _reports
    from okta_magiclink_mw.asgi import access_token

    arrivals = os.environ.get(ARRIVALS_ENV)
    counter: list[Any] = []  # a redis.asyncio client, made in the worker's own loop

    async def whoami(request: Request) -> JSONResponse:
        user = request.user
        client = request.client.host if request.client else None
        echo = _echo(request.headers, client, request.url.scheme)
        return JSONResponse({"pid": os.getpid(), "user": user.email or user.identity, **echo})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"pid": os.getpid(), "ppid": os.getppid()})

    async def api_token(request: Request) -> JSONResponse:
        if arrivals:
            if not counter:
                import redis.asyncio

                counter.append(redis.asyncio.Redis.from_url(os.environ[SESSION_STORE_ENV]))
            await counter[0].incr(arrivals)
        token = await access_token(request, min_valid=min_valid(request.query_params))
        return JSONResponse(token_answer(token))

    routes = [Route("/", _home), Route("/reports", _reports), Route("/whoami", whoami)]
    app = Starlette(routes=[*routes, Route("/health", health), Route("/api/token", api_token)])
    return OktaMagicLink(app, settings_from_env(), clock=clock_from_env())


def wsgi_app() -> Any:
    """waitress --call: a Flask app with the same routes as :func:`asgi_app`."""
    from flask import Flask, jsonify, request

    from okta_magiclink_mw import OktaMagicLinkWSGI
    from okta_magiclink_mw.wsgi import access_token

    arrivals = os.environ.get(ARRIVALS_ENV)
    counter: list[Any] = []
    app = Flask("cluster")

    @app.get("/")
    def home() -> str:
        return (
            f"<h1>Hello, {html.escape(request.environ['REMOTE_USER'])}!</h1>"
            '<form method=post action="/logout"><button>Sign out</button></form>'
        )

    @app.get("/reports")
    def reports() -> str:
        user = request.environ["okta_magiclink_mw.user"]
        year = html.escape(request.args.get("year", ""))
        return f"<h1>Reports {year}</h1>{html.escape(user.display_name)}"

    @app.get("/whoami")
    def whoami() -> Any:
        user = request.environ["okta_magiclink_mw.user"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        echo = _echo(headers, request.remote_addr, request.scheme)
        return jsonify(pid=os.getpid(), user=user.email or user.identity, **echo)

    @app.get("/health")
    def health() -> Any:
        return jsonify(pid=os.getpid(), ppid=os.getppid())

    @app.get("/api/token")
    def api_token() -> Any:
        if arrivals:
            if not counter:
                import redis

                counter.append(redis.Redis.from_url(os.environ[SESSION_STORE_ENV]))
            counter[0].incr(arrivals)
        token = access_token(request.environ, min_valid=min_valid(request.args))
        return jsonify(token_answer(token))

    middleware = OktaMagicLinkWSGI(app.wsgi_app, settings_from_env(), clock=clock_from_env())
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return app
