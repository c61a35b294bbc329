"""Access tokens for the app (issue 9), through both adapters and both shared stores.

Two middlewares sharing one store are two instances of one app. The test Okta (respx,
tests/conftest.py) issues refresh tokens, lets access tokens run out on the fake clock,
rotates refresh tokens on demand and refuses revoked ones with ``invalid_grant``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import httpx
import pytest
from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from okta_magiclink_mw import ConfigurationError, OktaUser, Settings
from okta_magiclink_mw.asgi import access_token as asgi_access_token
from okta_magiclink_mw.errors import SignInRequired
from okta_magiclink_mw.stores.memory import MemoryRecordStore
from okta_magiclink_mw.wsgi import USER_KEY
from okta_magiclink_mw.wsgi import access_token as wsgi_access_token
from tests.conftest import (
    CLIENT_ID,
    NAV,
    Browser,
    FakeClock,
    FakeOkta,
    callback_url,
    make_settings,
    set_cookies,
    start_login,
)

STORE_SESSION_MODES = True
SESSION = "__Host-omw_session"
API = {"accept": "application/json"}
SCOPES = ("openid", "profile", "email", "offline_access")


# -- the apps: a view that calls an API with the person's token -----------------------------------


async def _asgi_token(request: Request) -> JSONResponse:
    min_valid = float(request.query_params.get("min_valid", "60"))
    if request.query_params.get("via") == "user":
        token = await request.user.aaccess_token(min_valid=min_valid)
    else:
        token = await asgi_access_token(request, min_valid=min_valid)
    return JSONResponse({"token": token})


async def _asgi_page(request: Request) -> HTMLResponse:
    return HTMLResponse(f"<p>hello {request.user.display_name}</p>")


def asgi_app() -> Starlette:
    return Starlette(routes=[Route("/api/token", _asgi_token), Route("/{p:path}", _asgi_page)])


def flask_app() -> Any:
    app = Flask(__name__)

    @app.route("/api/token")
    def token() -> Any:
        min_valid = float(request.args.get("min_valid", "60"))
        if request.args.get("via") == "user":
            return {"token": request.environ[USER_KEY].access_token(min_valid=min_valid)}
        return {"token": wsgi_access_token(request.environ, min_valid=min_valid)}

    @app.route("/<path:p>")
    def page(p: str) -> str:
        return f"<p>hello {request.environ[USER_KEY].display_name}</p>"

    return app.wsgi_app


def token_settings(store: Any, **overrides: Any) -> Settings:
    return make_settings(scopes=SCOPES, session_store=store, **overrides)


LIFETIME = 600  # of an access token here (Okta's default is an hour)


@pytest.fixture
def instance(make_client: Any, shared_store: Any, okta: FakeOkta) -> Any:
    """``instance(**settings)``: one more instance of the app, sharing the store."""
    okta.access_lifetime = LIFETIME

    def make(**overrides: Any) -> Browser:
        return make_client(
            token_settings(shared_store, **overrides), asgi_app=asgi_app(), wsgi_app=flask_app()
        )

    return make


def signed_in(browser: Browser, okta: FakeOkta) -> None:
    config = start_login(browser, "/reports")
    r = browser.get(callback_url(config, okta.issue_code(config)), headers=NAV)
    assert r.status_code == 302, r.text


def token_of(browser: Browser, **params: Any) -> str:
    r = browser.get("/api/token", params=params, headers=API)
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def hand_over(source: Browser, target: Browser) -> None:
    """The same browser, now served by another instance (a load balancer's choice)."""
    target.cookies.set(SESSION, source.cookies[SESSION], domain="app.example")


# -- tokens kept server-side ----------------------------------------------------------------------


def test_the_app_gets_the_access_token_okta_issued(instance: Any, okta: FakeOkta) -> None:
    browser = instance()
    signed_in(browser, okta)
    assert token_of(browser) == okta.access_tokens[0]
    assert token_of(browser, via="user") == okta.access_tokens[0]
    assert okta.refresh_forms == []  # still valid: no call to Okta


def test_no_token_is_in_a_cookie_or_a_page(instance: Any, okta: FakeOkta) -> None:
    browser = instance()
    config = start_login(browser, "/reports")
    r = browser.get(callback_url(config, okta.issue_code(config)), headers=NAV)
    page = browser.get("/reports", headers=NAV)
    tokens = [okta.access_tokens[0], *okta.live_refresh]
    for text in (*r.headers.get_list("set-cookie"), page.text, str(page.headers)):
        for token in tokens:
            assert token not in text


def test_an_expired_token_is_refreshed_once(
    instance: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    browser = instance()
    signed_in(browser, okta)
    clock.advance(LIFETIME - 59)  # 59 s left: less than the 60 s asked for
    fresh = token_of(browser)
    assert fresh == okta.access_tokens[1]
    assert len(okta.refresh_forms) == 1
    assert okta.refresh_forms[0]["grant_type"] == "refresh_token"
    assert okta.refresh_forms[0]["client_id"] == CLIENT_ID
    assert token_of(browser) == fresh  # kept: no second refresh
    assert token_of(browser, min_valid=500) == fresh
    assert len(okta.refresh_forms) == 1


def test_min_valid_asks_for_a_longer_life(instance: Any, okta: FakeOkta, clock: FakeClock) -> None:
    browser = instance()
    signed_in(browser, okta)
    clock.advance(100)  # 500 s left
    assert token_of(browser, min_valid=60) == okta.access_tokens[0]
    assert token_of(browser, min_valid=550) == okta.access_tokens[1]


def test_another_instance_uses_the_refreshed_token_without_a_post(
    instance: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    a, b = instance(), instance()
    signed_in(a, okta)
    hand_over(a, b)
    assert token_of(b) == okta.access_tokens[0]  # b caches the session too
    clock.advance(LIFETIME)
    fresh = token_of(a)
    assert token_of(b) == fresh  # b read the record again after its lock, found it fresh
    assert len(okta.refresh_forms) == 1


def test_a_rotated_refresh_token_is_stored_and_used_next(
    instance: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    okta.rotate_refresh = True
    a, b = instance(), instance()
    signed_in(a, okta)
    hand_over(a, b)
    clock.advance(LIFETIME)
    token_of(a)
    clock.advance(LIFETIME)
    assert token_of(b) == okta.access_tokens[2]  # b refreshed with the rotated token
    used = [form["refresh_token"] for form in okta.refresh_forms]
    assert len(used) == 2
    assert used[0] != used[1]
    assert used[0] not in okta.live_refresh
    assert used[1] not in okta.live_refresh


def test_a_refused_refresh_ends_the_session_everywhere(
    instance: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    a, b = instance(), instance()
    signed_in(a, okta)
    hand_over(a, b)
    okta.live_refresh.clear()  # revoked at Okta, or the person deactivated
    clock.advance(LIFETIME)
    api = a.get("/api/token", headers=API)
    assert api.status_code == 401
    assert api.json()["error"] == "unauthenticated"
    assert "upstream-secret-body" not in api.text
    assert b.get("/reports", headers=API).status_code == 401  # gone on b too
    nav = a.get("/reports", headers=NAV)
    assert nav.status_code == 302
    assert nav.headers["location"].startswith("/login?")


def test_a_navigation_whose_token_is_refused_goes_to_sign_in(
    instance: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    browser = instance()
    signed_in(browser, okta)
    okta.refresh_fault = "invalid_grant"
    clock.advance(LIFETIME)
    r = browser.get("/api/token", headers=NAV)  # a page that needs the token
    assert r.status_code == 302
    assert r.headers["location"].startswith("/login?state=")
    assert set_cookies(r)[SESSION]["value"] in ("", '""')  # the dead session is cleared


@pytest.mark.parametrize("fault", ["html_500", "timeout"])
def test_okta_down_at_refresh_gets_a_5xx_and_keeps_the_session(
    instance: Any, okta: FakeOkta, clock: FakeClock, fault: str
) -> None:
    browser = instance()
    signed_in(browser, okta)
    okta.refresh_fault = fault
    clock.advance(LIFETIME)
    api = browser.get("/api/token", headers=API)
    assert api.status_code in (502, 503, 504)
    assert api.json()["error"] == "unavailable"
    page = browser.get("/api/token", headers=NAV)
    assert page.status_code in (502, 503, 504)
    assert "Traceback" not in page.text
    assert "upstream-secret-body" not in page.text
    okta.refresh_fault = None
    assert token_of(browser) == okta.access_tokens[-1]  # the session survived


def test_a_session_without_a_refresh_token_asks_to_sign_in_when_it_runs_out(
    make_client: Any, shared_store: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    okta.access_lifetime = LIFETIME
    settings = make_settings(session_store=shared_store)  # no offline_access
    browser = make_client(settings, asgi_app=asgi_app(), wsgi_app=flask_app())
    signed_in(browser, okta)
    assert okta.live_refresh == set()
    assert token_of(browser) == okta.access_tokens[0]
    clock.advance(LIFETIME)
    assert browser.get("/api/token", headers=API).status_code == 401
    assert okta.refresh_forms == []


# -- re-checks with Okta --------------------------------------------------------------------------


def test_revalidation_refreshes_once_per_interval_across_instances(
    instance: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    a, b = instance(revalidate_every=900), instance(revalidate_every=900)
    signed_in(a, okta)
    hand_over(a, b)
    for browser in (a, b, a, b):
        assert browser.get("/reports", headers=NAV).status_code == 200
    assert okta.refresh_forms == []
    clock.advance(901)
    for browser in (a, b, a, b, a):
        assert browser.get("/reports", headers=NAV).status_code == 200
    assert len(okta.refresh_forms) == 1


def test_a_deactivated_person_loses_the_session_at_the_next_recheck(
    instance: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    a, b = instance(revalidate_every=900), instance(revalidate_every=900)
    signed_in(a, okta)
    hand_over(a, b)
    okta.live_refresh.clear()  # deactivated in Okta: its refresh tokens stop working
    clock.advance(600)
    assert a.get("/reports", headers=NAV).status_code == 200  # within the interval
    clock.advance(301)
    r = a.get("/reports", headers=NAV)
    assert r.status_code == 302
    assert r.headers["location"].startswith("/login?")
    assert b.get("/reports", headers=API).status_code == 401


def test_okta_down_at_a_recheck_lets_the_session_on_and_waits_before_retrying(
    instance: Any, okta: FakeOkta, clock: FakeClock, caplog: Any
) -> None:
    browser = instance(revalidate_every=900)
    signed_in(browser, okta)
    okta.refresh_fault = "html_500"
    clock.advance(901)
    with caplog.at_level(logging.WARNING, "okta_magiclink_mw"):
        for _ in range(5):
            assert browser.get("/reports", headers=NAV).status_code == 200
    assert len(okta.refresh_forms) == 1  # one try, then a pause, not one per request
    assert any(getattr(r, "event", "") == "recheck.postponed" for r in caplog.records)
    okta.refresh_fault = None
    clock.advance(31)
    assert browser.get("/reports", headers=NAV).status_code == 200
    assert len(okta.refresh_forms) == 2


# -- sign-out revokes at Okta ---------------------------------------------------------------------


def test_sign_out_revokes_both_tokens_at_okta(instance: Any, okta: FakeOkta) -> None:
    browser = instance()
    signed_in(browser, okta)
    refresh = next(iter(okta.live_refresh))
    r = browser.post("/logout", headers={"sec-fetch-site": "same-origin"})
    assert r.status_code == 303
    hints = {form["token_type_hint"]: form["token"] for form in okta.revoked}
    assert hints == {"refresh_token": refresh, "access_token": okta.access_tokens[0]}
    assert all(form["client_id"] == CLIENT_ID for form in okta.revoked)
    assert refresh not in okta.live_refresh


def test_a_failed_revocation_still_signs_out_and_warns(
    instance: Any, okta: FakeOkta, caplog: Any
) -> None:
    browser = instance()
    signed_in(browser, okta)
    okta.revoke_status = 503
    with caplog.at_level(logging.WARNING, "okta_magiclink_mw"):
        r = browser.post("/logout", headers={"sec-fetch-site": "same-origin"})
    assert r.status_code == 303
    assert any(getattr(rec, "event", "") == "revoke.failed" for rec in caplog.records)
    assert browser.get("/reports", headers=API).status_code == 401


# -- concurrency: one refresh POST for many requests ----------------------------------------------


def test_fifty_concurrent_requests_make_one_refresh(
    instance: Any, okta: FakeOkta, clock: FakeClock, adapter: str, portal: Any
) -> None:
    a, b = instance(), instance()
    signed_in(a, okta)
    hand_over(a, b)
    token_of(b)
    clock.advance(LIFETIME)
    cookie = a.cookies[SESSION]
    inner = okta.token.side_effect
    if adapter == "asgi":

        async def slow_async(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(0.05)  # the refresh takes a while: the others pile up
            return inner(request)  # type: ignore[no-any-return]

        okta.token.side_effect = slow_async

        async def many() -> list[httpx.Response]:
            clients = [
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=browser.mw),
                    base_url="https://app.example",
                    cookies={SESSION: cookie},
                )
                for browser in (a, b)
            ]
            calls = [clients[i % 2].get("/api/token", headers=API) for i in range(50)]
            try:
                return list(await asyncio.gather(*calls))
            finally:
                for c in clients:
                    await c.aclose()

        responses = portal.call(many)
    else:
        started = threading.Barrier(50)

        def slow_sync(request: httpx.Request) -> httpx.Response:
            threading.Event().wait(0.05)
            return inner(request)  # type: ignore[no-any-return]

        okta.token.side_effect = slow_sync
        responses = [None] * 50

        def one(i: int) -> None:
            browser = (a, b)[i % 2]
            with httpx.Client(
                transport=httpx.WSGITransport(app=browser._wsgi_app),
                base_url="https://app.example",
                cookies={SESSION: cookie},
            ) as c:
                started.wait()
                responses[i] = c.get("/api/token", headers=API)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert all(r is not None and r.status_code == 200 for r in responses)
    tokens = {json.loads(r.text)["token"] for r in responses}  # type: ignore[union-attr]
    assert tokens == {okta.access_tokens[1]}
    assert len(okta.refresh_forms) == 1


# -- settings -------------------------------------------------------------------------------------


def test_offline_access_without_a_store_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="session_store"):
        make_settings(scopes=SCOPES)


def test_revalidation_needs_offline_access() -> None:
    shared_store = MemoryRecordStore()
    with pytest.raises(ConfigurationError, match="offline_access"):
        make_settings(session_store=shared_store, revalidate_every=900)
    with pytest.raises(ConfigurationError, match="revalidate_every"):
        make_settings(scopes=SCOPES, session_store=shared_store, revalidate_every=5)


def test_the_environment_sets_scopes_and_revalidation() -> None:
    env = {
        "OKTA_ISSUER": "https://org.example/oauth2/default",
        "OKTA_CLIENT_ID": "0oa1",
        "OKTA_REDIRECT_URI": "https://app.example/login/callback",
        "OKTA_MW_SECRET_KEYS": "k" * 40,
        "OKTA_MW_SESSION_STORE": "redis://127.0.0.1:1/0",
        "OKTA_MW_SCOPES": "openid,profile email offline_access",
        "OKTA_MW_REVALIDATE_EVERY": "900",
    }
    s = Settings.from_env(env)
    assert s.scopes == ("openid", "profile", "email", "offline_access")
    assert s.revalidate_every == 900
    with pytest.raises(ConfigurationError, match="OKTA_MW_REVALIDATE_EVERY"):
        Settings.from_env({**env, "OKTA_MW_REVALIDATE_EVERY": "soon"})


def test_a_user_without_a_store_has_no_token() -> None:
    user = OktaUser({"sub": "00u1"})
    with pytest.raises(ConfigurationError, match="session_store"):
        user.access_token()
    with pytest.raises(ConfigurationError, match="session_store"):
        asyncio.run(user.aaccess_token())


# -- apps that are not a framework, and apps that handle it themselves -------------------------


async def raw_asgi(scope: Any, receive: Any, send: Any) -> None:
    """A bare ASGI app: the failure escapes it before any response."""
    if scope["type"] != "http":
        return
    token = await asgi_access_token(scope)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": token.encode()})


def raw_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A bare WSGI app: the failure escapes it before start_response."""
    token = wsgi_access_token(environ)
    start_response("200 OK", [("content-type", "text/plain")])
    return [token.encode()]


async def handling_asgi(request: Request) -> JSONResponse:
    try:
        return JSONResponse({"token": await asgi_access_token(request)})
    except SignInRequired:
        return JSONResponse({"mine": "sign in again"}, status_code=200)


def handling_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    try:
        body = wsgi_access_token(environ).encode()
    except SignInRequired:
        body = b"mine"
    start_response("200 OK", [("content-type", "text/plain")])
    return [body]


def test_a_bare_app_whose_token_is_refused_gets_our_answer(
    make_client: Any, shared_store: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    okta.access_lifetime = LIFETIME
    browser = make_client(token_settings(shared_store), asgi_app=raw_asgi, wsgi_app=raw_wsgi)
    signed_in(browser, okta)
    assert browser.get("/x", headers=API).text == okta.access_tokens[0]
    okta.live_refresh.clear()
    clock.advance(LIFETIME)
    r = browser.get("/x", headers=API)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthenticated"


def test_an_app_that_handles_the_refusal_itself_keeps_its_answer(
    make_client: Any, shared_store: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    okta.access_lifetime = LIFETIME
    asgi = Starlette(routes=[Route("/{p:path}", handling_asgi)])
    browser = make_client(token_settings(shared_store), asgi_app=asgi, wsgi_app=handling_wsgi)
    signed_in(browser, okta)
    okta.live_refresh.clear()
    clock.advance(LIFETIME)
    r = browser.get("/x", headers=API)
    assert r.status_code == 200
    assert "mine" in r.text


def test_access_token_without_a_signed_in_person_asks_to_sign_in() -> None:
    with pytest.raises(SignInRequired):
        asyncio.run(asgi_access_token({"type": "http"}))
    with pytest.raises(SignInRequired):
        wsgi_access_token({})


def test_the_sync_and_async_calls_refuse_the_wrong_adapter(
    instance: Any, okta: FakeOkta, adapter: str
) -> None:
    browser = instance()
    signed_in(browser, okta)
    handle = next(iter(browser.core.sessions._cache.values())).session.user
    if adapter == "asgi":
        with pytest.raises(ConfigurationError, match="aaccess_token"):
            handle.access_token()
    else:
        with pytest.raises(ConfigurationError, match=r"access_token\(\)"):
            asyncio.run(handle.aaccess_token())


async def raising_asgi(scope: Any, receive: Any, send: Any) -> None:
    raise ConfigurationError("the app's own misuse")


def raising_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise ConfigurationError("the app's own misuse")


def test_an_error_of_ours_not_raised_by_a_token_call_is_the_apps_to_handle(
    make_client: Any, shared_store: Any, okta: FakeOkta
) -> None:
    browser = make_client(
        token_settings(shared_store), asgi_app=raising_asgi, wsgi_app=raising_wsgi
    )
    signed_in(browser, okta)
    with pytest.raises(ConfigurationError, match="misuse"):
        browser.get("/x", headers=API)
