"""Server-side sessions (issue 8) through both adapters: two middlewares sharing one store
are two instances of one app. The store here is in-process; tests/stores run the same
contract against a real Redis, and tests/integration/test_cluster.py runs processes."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import anyio
import pytest

from okta_magiclink_mw import OktaMagicLink
from okta_magiclink_mw.stores import StoreUnavailable
from okta_magiclink_mw.stores.memory import MemoryRecordStore
from tests.conftest import (
    NAV,
    Browser,
    FakeClock,
    FakeOkta,
    callback_url,
    make_settings,
    start_login,
)

SESSION = "__Host-omw_session"
TXN = "__Host-omw_signin"
SAME_SITE = {"sec-fetch-site": "same-origin"}


class FlakyStore(MemoryRecordStore):
    """A shared store that can be taken down, and that counts what it is asked."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.down = False
        self.calls: Counter[str] = Counter()
        for name in ("create", "load", "touch", "delete", "delete_subject", "spend"):
            self._wrap(name)

    def _wrap(self, name: str) -> None:
        for attribute in (name, "a" + name):
            inner = getattr(self, attribute)
            if attribute.startswith("a"):

                async def call_async(*args: Any, _inner: Any = inner, _n: str = name) -> Any:
                    self._check(_n)
                    return await _inner(*args)

                setattr(self, attribute, call_async)
            else:

                def call(*args: Any, _inner: Any = inner, _n: str = name) -> Any:
                    self._check(_n)
                    return _inner(*args)

                setattr(self, attribute, call)

    def _check(self, name: str) -> None:
        self.calls[name] += 1
        if self.down:
            raise StoreUnavailable()

    @property
    def listening_since(self) -> float | None:
        return None if self.down else super().listening_since


@pytest.fixture
def store(clock: FakeClock) -> FlakyStore:
    return FlakyStore(clock)


@pytest.fixture
def two(make_client: Any, store: FlakyStore) -> tuple[Browser, Browser]:
    """Instance A and instance B of one app, each with its own browser."""
    return make_client(session_store=store), make_client(session_store=store)


def sign_in_on(client: Browser, okta: FakeOkta, finish_on: Browser | None = None) -> str:
    config = start_login(client, "/reports")
    finisher = finish_on or client
    if finish_on is not None:
        finisher.cookies.update(client.cookies)
    r = finisher.get(callback_url(config, okta.issue_code(config)), headers=NAV)
    assert r.status_code == 302, r.text
    return next(c.value for c in finisher.cookies.jar if c.name == SESSION)


def seen_by(client: Browser, value: str, **headers: str) -> int:
    client.cookies.clear()
    r = client.get("/reports", headers={**NAV, **headers, "cookie": f"{SESSION}={value}"})
    return r.status_code


def test_the_cookie_is_only_a_reference(
    two: tuple[Browser, Browser], okta: FakeOkta, store: FlakyStore
) -> None:
    a, _ = two
    value = sign_in_on(a, okta)
    assert len(value) < 200
    payload = a.core.sessions._codec.loads(value, max_age=60)
    assert payload is not None
    assert set(payload[0]) == {"sid", "k", "iat"}
    # The record is sealed: the store holds neither the claims nor the ID token.
    blobs = b"".join(record.blob for record in store._records.values())
    assert b"ada@example.com" not in blobs
    assert okta.id_tokens[0].split(".")[1].encode() not in blobs


def drive(flow: Any, store: FlakyStore) -> Any:
    """Run a core flow against the store by hand."""
    try:
        effect = next(flow)
        while True:
            effect = flow.send(getattr(store, effect.operation)(*effect.args))
    except StopIteration as done:
        return done.value


def test_a_person_in_200_groups_still_has_a_small_cookie(
    two: tuple[Browser, Browser], okta: FakeOkta, store: FlakyStore
) -> None:
    a, b = two
    groups = [f"group-with-a-long-name-{i:03d}" for i in range(200)]
    config = start_login(a, "/reports")
    r = a.get(callback_url(config, okta.issue_code(config, groups=groups)), headers=NAV)
    assert r.status_code == 302
    value = next(c.value for c in a.cookies.jar if c.name == SESSION)
    assert len(value) < 200  # the claims are in the store, all of them
    session, _ = drive(b.core.sessions.read_flow([value], b.core.clock()), store)
    assert list(session.claims["groups"]) == groups  # read back on the other instance


def test_sign_out_on_one_instance_holds_on_the_other(
    two: tuple[Browser, Browser], okta: FakeOkta
) -> None:
    a, b = two
    value = sign_in_on(a, okta)
    assert seen_by(b, value) == 200  # B verifies it from the store, then caches it
    assert seen_by(b, value) == 200
    a.cookies.set(SESSION, value, domain="app.example")
    r = a.post("/logout", headers=SAME_SITE)
    assert r.status_code == 303
    assert "id_token_hint=" in r.headers["location"]
    for _ in range(20):
        assert seen_by(b, value) == 302
        assert seen_by(a, value) == 302


def test_sign_in_started_on_one_instance_finishes_on_another(
    two: tuple[Browser, Browser], okta: FakeOkta
) -> None:
    a, b = two
    value = sign_in_on(a, okta, finish_on=b)
    assert seen_by(a, value) == 200


def test_replayed_transaction_makes_no_token_call_on_any_instance(
    two: tuple[Browser, Browser], okta: FakeOkta
) -> None:
    a, b = two
    config = start_login(a, "/reports")
    txn = next(c.value for c in a.cookies.jar if c.name == TXN)
    assert a.get(callback_url(config, okta.issue_code(config)), headers=NAV).status_code == 302
    for instance in (a, b, a, b):
        instance.cookies.clear()
        code = okta.issue_code(config)
        r = instance.get(callback_url(config, code), headers={**NAV, "cookie": f"{TXN}={txn}"})
        assert r.status_code == 403
    assert okta.token.call_count == 1


def test_a_restarted_instance_keeps_sessions_and_sign_outs(
    make_client: Any, okta: FakeOkta, store: FlakyStore
) -> None:
    a = make_client(session_store=store)
    kept, gone = sign_in_on(a, okta), sign_in_on(a.other_browser(), okta)
    a.cookies.clear()
    a.cookies.set(SESSION, gone, domain="app.example")
    assert a.post("/logout", headers=SAME_SITE).status_code == 303
    restarted = make_client(session_store=store)  # a fresh process: nothing cached
    assert seen_by(restarted, kept) == 200
    assert seen_by(restarted, gone) == 302


def test_sign_out_everywhere_and_list_sessions(
    two: tuple[Browser, Browser], okta: FakeOkta, portal: Any
) -> None:
    a, b = two
    first, second = sign_in_on(a, okta), sign_in_on(b.other_browser(), okta)

    def call(method: str, *args: Any) -> Any:
        bound = getattr(a.mw, method)
        return portal.call(bound, *args) if a.kind == "asgi" else bound(*args)

    listed = call("list_sessions", "00u-ada")
    assert len(listed) == 2
    assert all(info.created <= info.seen for info in listed)
    assert seen_by(b, first) == seen_by(b, second) == 200  # both cached on B
    assert call("sign_out_everywhere", "00u-ada") == 2
    assert seen_by(b, first) == seen_by(b, second) == 302
    assert call("list_sessions", "00u-ada") == []


def test_steady_state_makes_no_store_call(
    two: tuple[Browser, Browser], okta: FakeOkta, store: FlakyStore
) -> None:
    a, _ = two
    value = sign_in_on(a, okta)
    assert seen_by(a, value) == 200
    before = sum(store.calls.values())
    for _ in range(50):
        assert seen_by(a, value) == 200
    assert sum(store.calls.values()) == before


def test_idle_time_moves_in_the_store(
    two: tuple[Browser, Browser], okta: FakeOkta, clock: FakeClock, store: FlakyStore
) -> None:
    a, b = two
    value = sign_in_on(a, okta)
    for _ in range(4):  # seen every 20 min: never idle for an hour
        clock.advance(20 * 60)
        assert seen_by(a, value) == 200
    assert store.calls["touch"] >= 2
    clock.advance(3601)
    assert seen_by(b, value) == 302


# -- the store down -------------------------------------------------------------------------


def test_store_down_cached_sessions_last_the_grace_then_503(
    make_client: Any, okta: FakeOkta, store: FlakyStore, clock: FakeClock
) -> None:
    a = make_client(make_settings(store_grace=5), session_store=store)
    value = sign_in_on(a, okta)
    assert seen_by(a, value) == 200
    store.down = True
    assert seen_by(a, value) == 200  # within the grace: this process verified it
    clock.advance(6)
    a.cookies.clear()
    page = a.get("/reports", headers={**NAV, "cookie": f"{SESSION}={value}"})
    assert page.status_code == 503
    assert "try again" in page.text.lower()
    assert "Traceback" not in page.text
    api = a.get("/api/x", headers={"accept": "application/json", "cookie": f"{SESSION}={value}"})
    assert api.status_code == 503
    assert api.json()["error"] == "unavailable"
    store.down = False  # back: everything recovers without a restart
    assert seen_by(a, value) == 200


def test_store_down_sign_in_and_sign_out_say_so(
    make_client: Any, okta: FakeOkta, store: FlakyStore
) -> None:
    a = make_client(session_store=store)
    value = sign_in_on(a, okta)
    store.down = True
    b = a.other_browser()
    config = start_login(b, "/reports")  # starting needs no store
    r = b.get(callback_url(config, okta.issue_code(config)), headers=NAV)
    assert r.status_code == 503
    assert okta.token.call_count == 1  # refused before Okta: the spent state cannot be kept
    a.cookies.clear()
    a.cookies.set(SESSION, value, domain="app.example")
    out = a.post("/logout", headers=SAME_SITE)
    assert out.status_code == 503
    assert "could not be signed out" in out.text
    assert "Try signing out again" in out.text
    assert SESSION not in out.headers.get("set-cookie", "")  # the browser keeps it to retry
    store.down = False
    assert a.post("/logout", headers=SAME_SITE).status_code == 303
    assert seen_by(a, value) == 302


def test_websocket_with_the_store_down_is_told_to_come_back(
    clock: FakeClock, store: FlakyStore
) -> None:
    from tests.adapters.test_adapter_specific import _websocket, _ws_app

    mw = OktaMagicLink(_ws_app(), make_settings(), clock=clock, session_store=store)
    claims = {"sub": "00u-ada", "name": "Ada"}
    _, header = anyio.run(mw._drive, mw.core.sessions.mint_flow(claims, None, clock()))
    cookie = (b"cookie", header.split(";")[0].encode())
    store.down = True
    sent = anyio.run(_websocket, mw, "/ws", [cookie])
    assert sent[0]["type"] == "websocket.accept"  # within the grace
    clock.advance(6)
    sent = anyio.run(_websocket, mw, "/ws", [cookie])
    assert sent == [{"type": "websocket.close", "code": 1013}]


def test_settings_name_the_store() -> None:
    assert make_settings(session_store="redis://127.0.0.1:6379/0").session_store
    with pytest.raises(ValueError, match="session_store"):
        make_settings(session_store="memcached://x")
    with pytest.raises(ValueError, match="store_grace"):
        make_settings(store_grace=-5)
    env = {
        "OKTA_ISSUER": "https://org.example/oauth2/default",
        "OKTA_CLIENT_ID": "x",
        "OKTA_REDIRECT_URI": "https://app.example/cb",
        "OKTA_MW_SECRET_KEYS": "k" * 32,
        "OKTA_MW_SESSION_STORE": "rediss://cache.example:6380/1",
        "OKTA_MW_STORE_GRACE": "2.5",
    }
    from okta_magiclink_mw import Settings

    settings = Settings.from_env(env)
    assert (settings.session_store, settings.store_grace) == (env["OKTA_MW_SESSION_STORE"], 2.5)
    with pytest.raises(ValueError, match="OKTA_MW_STORE_GRACE"):
        Settings.from_env({**env, "OKTA_MW_STORE_GRACE": "soon"})
    assert json.dumps(settings.scopes)


def test_a_public_page_sees_the_person_and_survives_the_store_down(
    two: tuple[Browser, Browser], okta: FakeOkta, store: FlakyStore, make_client: Any
) -> None:
    a, b = two
    value = sign_in_on(a, okta)
    b.cookies.clear()
    seen = b.get("/public/page", headers={**NAV, "cookie": f"{SESSION}={value}"})
    assert seen.json()["authenticated"] is True  # B never saw it before: read from the store
    store.down = True
    fresh = make_client(session_store=store)  # a third instance: nothing cached
    page = fresh.get("/public/page", headers={**NAV, "cookie": f"{SESSION}={value}"})
    assert page.status_code == 200  # a public page needs nobody, so it is still served
    assert page.json()["authenticated"] is False
    assert store.calls["load"] >= 2
    protected = fresh.get("/reports", headers={**NAV, "cookie": f"{SESSION}={value}"})
    assert protected.status_code == 503
