"""Fixtures for FakeOkta unit tests (in-process, through httpx)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from okta_magiclink_mw.testing import FakeClient, FakeOkta, FakeUser, s256

BASE = "http://okta.test"
APP = "http://app.test"
CALLBACK = f"{APP}/login/callback"
CLIENT_ID = "0oaUnitTestClient001"
SECRET_CLIENT_ID = "0oaUnitTestSecret001"
SECRET = "s3cr3t-value"
FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "okta-idx-fixtures"


class Clock:
    """A settable clock."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Org:
    fake: FakeOkta
    clock: Clock
    http: httpx.Client
    user: FakeUser
    client: FakeClient
    secret_client: FakeClient
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def org(clock: Clock) -> Iterator[Org]:
    fake = FakeOkta(base_url=BASE, clock=clock)
    user = fake.add_user(email="ada@example.com", name="Ada Lovelace")
    # Both apps set up the way the README tells an admin to (FakeOkta is strict).
    client = fake.add_web_app(CALLBACK, post_logout_redirect_uri=f"{APP}/bye", client_id=CLIENT_ID)
    secret_client = fake.add_web_app(CALLBACK, client_id=SECRET_CLIENT_ID, client_secret=SECRET)
    with httpx.Client(transport=fake.sync_transport(), base_url=BASE) as http:
        yield Org(fake, clock, http, user, client, secret_client)


@dataclass
class Flow:
    """One widget-like sign-in driven over HTTP."""

    org: Org
    verifier: str = field(default_factory=lambda: secrets.token_hex(32))
    state: str = field(default_factory=lambda: secrets.token_hex(16))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    client_id: str = CLIENT_ID
    scope: str = "openid profile email"
    handle: str = ""
    state_handle: str = ""
    last: dict[str, Any] = field(default_factory=dict)

    def interact(self) -> httpx.Response:
        r = self.org.http.post(
            "/oauth2/default/v1/interact",
            data={
                "client_id": self.client_id,
                "scope": self.scope,
                "redirect_uri": CALLBACK,
                "code_challenge": s256(self.verifier),
                "code_challenge_method": "S256",
                "state": self.state,
                "nonce": self.nonce,
            },
        )
        if r.status_code == 200:
            self.handle = r.json()["interaction_handle"]
        return r

    def idx(self, path: str, body: dict[str, Any]) -> httpx.Response:
        r = self.org.http.post(
            f"/idp/idx/{path}",
            json=body,
            headers={"Accept": "application/json; okta-version=1.0.0"},
        )
        self.last = r.json()
        if "stateHandle" in self.last:
            self.state_handle = self.last["stateHandle"]
        return r

    def introspect(self) -> httpx.Response:
        return self.idx("introspect", {"interactionHandle": self.handle})

    def identify(self, identifier: str = "ada@example.com") -> httpx.Response:
        return self.idx("identify", {"identifier": identifier, "stateHandle": self.state_handle})

    def challenge(self) -> httpx.Response:
        aut = self.org.fake.info.email_authenticator_id
        return self.idx(
            "challenge",
            {"authenticator": {"id": aut, "methodType": "email"}, "stateHandle": self.state_handle},
        )

    def poll(self) -> httpx.Response:
        return self.idx("challenge/poll", {"stateHandle": self.state_handle})

    def resend(self) -> httpx.Response:
        return self.idx("challenge/resend", {"stateHandle": self.state_handle})

    def answer(self, passcode: str) -> httpx.Response:
        return self.idx(
            "challenge/answer",
            {"credentials": {"passcode": passcode}, "stateHandle": self.state_handle},
        )

    def to_challenge(self) -> str:
        """interact .. challenge; return the emailed OTP."""
        assert self.interact().status_code == 200
        assert self.introspect().status_code == 200
        assert self.identify().status_code == 200
        assert self.challenge().status_code == 200
        return self.org.fake.outbox[-1].otp

    def code(self) -> str:
        """A full sign-in; return the interaction code."""
        otp = self.to_challenge()
        r = self.answer(otp)
        assert r.status_code == 200, r.text
        fields = {
            f["name"]: f.get("value") for f in r.json()["successWithInteractionCode"]["value"]
        }
        return str(fields["interaction_code"])

    def token(self, code: str, **overrides: str) -> httpx.Response:
        data = {
            "client_id": self.client_id,
            "redirect_uri": CALLBACK,
            "grant_type": "interaction_code",
            "code_verifier": self.verifier,
            "interaction_code": code,
        }
        data.update(overrides)
        return self.org.http.post("/oauth2/default/v1/token", data=data)


@pytest.fixture
def flow(org: Org) -> Flow:
    return Flow(org)
