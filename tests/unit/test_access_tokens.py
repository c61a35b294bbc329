"""The access-token keeper's corners, driven as flows with an in-memory store and a
mock Okta: the lock, the waits, the session ending under a refresh, Okta's refusals."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from okta_magiclink_mw import IdentityProviderError
from okta_magiclink_mw._flow import MagicLinkCore
from okta_magiclink_mw._server_sessions import SessionHandle
from okta_magiclink_mw._sessions import Session, StoredTokens
from okta_magiclink_mw._tokens import TokenSet
from okta_magiclink_mw._transport import drive_sync
from okta_magiclink_mw.errors import SignInRequired
from okta_magiclink_mw.stores._base import StoreCall
from okta_magiclink_mw.stores.memory import MemoryRecordStore
from tests.conftest import DISCOVERY_URL, ISSUER, TOKEN_URL, FakeClock, make_settings

SCOPES = ("openid", "profile", "email", "offline_access")
CLAIMS = {"sub": "00u-ada", "email": "ada@example.com", "email_verified": True}
DISCOVERY = {
    "issuer": ISSUER,
    "token_endpoint": TOKEN_URL,
    "jwks_uri": f"{ISSUER}/v1/keys",
    "revocation_endpoint": f"{ISSUER}/v1/revoke",
}


class Okta:
    """Answers discovery and refreshes; counts refresh POSTs."""

    def __init__(self) -> None:
        self.refreshes = 0
        self.answer: httpx.Response | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == DISCOVERY_URL:
            return httpx.Response(200, json=DISCOVERY)
        self.refreshes += 1
        if self.answer is not None:
            return self.answer
        return httpx.Response(
            200, json={"token_type": "Bearer", "access_token": "at-2", "expires_in": 600}
        )


@pytest.fixture
def okta() -> Okta:
    return Okta()


@pytest.fixture
def store(clock: FakeClock) -> MemoryRecordStore:
    return MemoryRecordStore(clock=clock)


@pytest.fixture
def core(store: MemoryRecordStore, clock: FakeClock) -> MagicLinkCore:
    return MagicLinkCore(
        make_settings(scopes=SCOPES, session_store=store, revalidate_every=900), clock=clock
    )


def drive(core: MagicLinkCore, okta: Okta, flow: Any) -> Any:
    with httpx.Client(transport=httpx.MockTransport(okta)) as client:
        return drive_sync(flow, client, core.settings, None, core.record_store)


def signed_in(core: MagicLinkCore, okta: Okta, expires_in: float = 600) -> SessionHandle:
    now = core.clock()
    tokens = StoredTokens("at-1", now + expires_in, "openid", "rt-1", now)
    session, _ = drive(core, okta, core.sessions.mint_flow(CLAIMS, "idt", now, tokens))
    handle = core.sessions.handle_of(session)
    assert handle is not None
    return handle


def session_of(core: MagicLinkCore, okta: Okta, handle: SessionHandle) -> Session:
    session = drive(core, okta, core.sessions.reload(handle, core.clock()))
    assert session is not None
    return session


def test_a_valid_token_needs_neither_okta_nor_the_store(core: MagicLinkCore, okta: Okta) -> None:
    handle = signed_in(core, okta)
    flow = core.tokens.token_flow(handle, 60)  # type: ignore[union-attr]
    with pytest.raises(StopIteration) as done:
        next(flow)
    assert done.value.value == "at-1"
    assert okta.refreshes == 0


def test_a_session_deleted_elsewhere_asks_to_sign_in(
    core: MagicLinkCore, okta: Okta, store: MemoryRecordStore
) -> None:
    handle = signed_in(core, okta)
    store.delete(handle.session_id, "whoever")  # deletion by another instance
    core.sessions.on_invalidate(handle.session_id)
    with pytest.raises(SignInRequired):
        drive(core, okta, core.tokens.token_flow(handle, 60))  # type: ignore[union-attr]
    assert okta.refreshes == 0


def test_a_session_gone_while_refreshing_asks_to_sign_in(
    core: MagicLinkCore, okta: Okta, store: MemoryRecordStore, clock: FakeClock
) -> None:
    handle = signed_in(core, okta)
    clock.advance(600)

    def gone(request: httpx.Request) -> httpx.Response:
        if str(request.url) == DISCOVERY_URL:
            return httpx.Response(200, json=DISCOVERY)
        for sid in list(store._records):  # the person signs out on another instance
            store.delete(sid, store._records[sid].subject)
        return httpx.Response(
            200, json={"token_type": "Bearer", "access_token": "at-2", "expires_in": 600}
        )

    with httpx.Client(transport=httpx.MockTransport(gone)) as client:
        flow = core.tokens.token_flow(handle, 60)  # type: ignore[union-attr]
        with pytest.raises(SignInRequired):
            drive_sync(flow, client, core.settings, None, store)
    assert store.lock("x", 1) is not None  # and no lock is left behind
    assert store.wait_unlocked(_lock_key(core, handle), 0.01)


def _lock_key(core: MagicLinkCore, handle: SessionHandle) -> str:
    flow = core.tokens._refreshed(handle, lambda s: False)  # type: ignore[union-attr]
    first = next(flow)
    flow.close()
    assert isinstance(first, StoreCall)
    assert first.operation == "lock"
    return str(first.args[0])


def test_a_waiter_whose_token_is_still_stale_takes_the_lock_itself(
    core: MagicLinkCore, okta: Okta, store: MemoryRecordStore, clock: FakeClock
) -> None:
    handle = signed_in(core, okta)
    clock.advance(600)
    key = _lock_key(core, handle)
    holder = store.lock(key, 30)
    assert holder is not None
    # The holder gives up without refreshing (it crashed; here: unlocks at once).
    threading.Timer(0.05, store.unlock, (key, holder)).start()
    assert drive(core, okta, core.tokens.token_flow(handle, 60)) == "at-2"  # type: ignore[union-attr]
    assert okta.refreshes == 1


def test_a_lock_held_past_every_attempt_is_a_503(
    core: MagicLinkCore, okta: Okta, store: MemoryRecordStore, clock: FakeClock
) -> None:
    handle = signed_in(core, okta)
    clock.advance(600)
    flow = core.tokens.token_flow(handle, 60)  # type: ignore[union-attr]

    def run() -> None:
        effect = next(flow)
        while True:  # someone else holds the lock every time, and never refreshes
            assert isinstance(effect, StoreCall)
            if effect.operation == "lock":
                effect = flow.send(None)
            elif effect.operation == "wait_unlocked":
                effect = flow.send(True)
            else:
                effect = flow.send(getattr(store, effect.operation)(*effect.args))

    with pytest.raises(IdentityProviderError) as failed:
        run()
    assert failed.value.status == 503
    assert okta.refreshes == 0


def test_an_abandoned_refresh_leaves_the_lock_to_its_lease(
    core: MagicLinkCore, okta: Okta, store: MemoryRecordStore, clock: FakeClock
) -> None:
    handle = signed_in(core, okta)
    clock.advance(600)
    flow = core.tokens.token_flow(handle, 60)  # type: ignore[union-attr]
    effect = next(flow)
    while isinstance(effect, StoreCall):
        effect = flow.send(getattr(store, effect.operation)(*effect.args))
    flow.close()  # the request was cancelled while Okta was being asked
    assert store.lock(_lock_key(core, handle), 1) is None  # still held: the lease ends it


def test_okta_refusing_the_client_at_refresh_is_a_5xx_and_keeps_the_session(
    core: MagicLinkCore, okta: Okta, clock: FakeClock
) -> None:
    handle = signed_in(core, okta)
    clock.advance(600)
    okta.answer = httpx.Response(401, json={"error": "invalid_client"})
    with pytest.raises(IdentityProviderError) as failed:
        drive(core, okta, core.tokens.token_flow(handle, 60))  # type: ignore[union-attr]
    assert failed.value.status >= 500
    assert session_of(core, okta, handle).tokens.access_token == "at-1"  # type: ignore[union-attr]


def test_a_refresh_answer_without_a_new_refresh_token_keeps_the_old_one(
    core: MagicLinkCore, okta: Okta, clock: FakeClock
) -> None:
    handle = signed_in(core, okta)
    clock.advance(600)
    assert drive(core, okta, core.tokens.token_flow(handle, 60)) == "at-2"  # type: ignore[union-attr]
    tokens = session_of(core, okta, handle).tokens
    assert tokens is not None
    assert tokens.refresh_token == "rt-1"
    assert tokens.checked_at == clock()


def test_a_recheck_without_a_refresh_token_ends_the_session(
    core: MagicLinkCore, okta: Okta, clock: FakeClock
) -> None:
    now = clock()
    tokens = StoredTokens("at-1", now + 600, "openid", None, now)
    session, _ = drive(core, okta, core.sessions.mint_flow(CLAIMS, "idt", now, tokens))
    clock.advance(901)
    assert core.tokens.recheck_due(session, clock())  # type: ignore[union-attr]
    assert drive(core, okta, core.tokens.recheck_flow(session)) is None  # type: ignore[union-attr]
    assert okta.refreshes == 0


def test_the_recheck_backoff_table_stays_bounded(core: MagicLinkCore) -> None:
    keeper: Any = core.tokens
    for i in range(10_002):
        keeper._note_backoff(f"s{i}")
    assert len(keeper._backoff) <= 10_001


def test_handles_and_tokens_keep_secrets_out_of_repr(core: MagicLinkCore, okta: Okta) -> None:
    handle = signed_in(core, okta)
    session = session_of(core, okta, handle)
    text = repr(handle) + repr(session) + repr(session.tokens)
    assert "rt-1" not in text
    assert "at-1" not in text
    assert "idt" not in text
    assert repr(TokenSet("idt", "at-1", "Bearer", None, 1, "rt-1")).count("at-1") == 0
