"""FakeOkta bodies have the keys and structure of verbatim Okta bodies (fixtures)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import FIXTURES, Flow, Org

IGNORED = {"step"}  # only in the oldest identify mock
NOT_EMULATED = {"select-enroll-profile"}  # self-service registration is not emulated


@pytest.fixture(autouse=True)
def _need_fixtures() -> None:
    if not FIXTURES.is_dir():
        pytest.skip("../shared/okta-idx-fixtures not present")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def missing(fixture: Any, ours: Any, path: str = "$") -> list[str]:
    """Paths present in ``fixture`` but absent (or of another kind) in ``ours``."""
    if isinstance(fixture, dict):
        if not isinstance(ours, dict):
            return [f"{path}: expected object"]
        out: list[str] = []
        for key, value in fixture.items():
            if key in IGNORED:
                continue
            if key not in ours:
                out.append(f"{path}.{key}")
            else:
                out += missing(value, ours[key], f"{path}.{key}")
        return out
    if isinstance(fixture, list):
        if not isinstance(ours, list):
            return [f"{path}: expected array"]
        out = []
        ours_by_name = {o.get("name"): o for o in ours if isinstance(o, dict)}
        for i, item in enumerate(fixture):
            name = item.get("name") if isinstance(item, dict) else None
            if name is not None and name in ours_by_name:
                out += missing(item, ours_by_name[name], f"{path}[{name}]")
            elif name is not None and name not in NOT_EMULATED:
                out.append(f"{path}[{name}]")
            elif name is None and i < len(ours):
                out += missing(item, ours[i], f"{path}[{i}]")
            elif name is None and not ours and fixture:
                out.append(f"{path}[{i}]")
        return out
    if isinstance(fixture, bool) != isinstance(ours, bool):
        return [f"{path}: expected {type(fixture).__name__}"]
    return []


def test_discovery_shape(org: Org) -> None:
    ours = org.http.get("/oauth2/default/.well-known/openid-configuration").json()
    assert missing(load("playground/oauth2/well-known-openid-configuration.json"), ours) == []


def test_interact_shape(flow: Flow) -> None:
    ours = flow.interact().json()
    assert set(ours) == set(load("v3/oauth2/default/v1/interact/default.json"))


def test_identify_shape(flow: Flow) -> None:
    flow.interact()
    ours = flow.introspect().json()
    assert missing(load("playground/idp/idx/identify.json"), ours) == []
    bad = flow.identify("nobody@example.com").json()
    assert missing(load("playground/idp/idx/identify-unknown-user.json"), bad) == []


def test_verification_data_shape(flow: Flow) -> None:
    flow.interact()
    flow.introspect()
    ours = flow.identify().json()
    fixture = load("playground/idp/idx/authenticator-verification-data-email.json")
    assert missing(fixture, ours) == []


def test_challenge_shapes(flow: Flow, org: Org) -> None:
    flow.to_challenge()
    ours = flow.last
    assert missing(load("v3/idp/idx/challenge/default.json"), ours) == []
    poll = flow.poll().json()
    assert missing(load("v3/idp/idx/challenge/default.json"), poll) == []
    too_fast = flow.poll().json()
    fixture = load("playground/idp/idx/error-429-authenticator-verification-email-polling.json")
    assert missing(fixture, too_fast) == []
    wrong = flow.answer("not-it").json()
    fixture = load("playground/idp/idx/error-401-invalid-email-otp-passcode.json")
    assert missing(fixture, wrong) == []


def test_success_shape(flow: Flow) -> None:
    otp = flow.to_challenge()
    ours = flow.answer(otp).json()
    assert missing(load("v3/idp/idx/challenge/answer/default.json"), ours) == []
    assert missing(load("playground/idp/idx/success-with-interaction-code.json"), ours) == []
    terminal = flow.poll().json()
    assert missing(load("playground/idp/idx/terminal-transfered-email.json"), terminal) == []


def test_session_expired_shape(flow: Flow, org: Org) -> None:
    flow.interact()
    flow.introspect()
    org.clock.advance(3600)
    ours = flow.identify().json()
    assert missing(load("playground/idp/idx/error-401-session-expired.json"), ours) == []


def test_token_shapes(flow: Flow) -> None:
    ours = flow.token(flow.code()).json()
    assert set(ours) == set(load("v3/oauth2/default/v1/token/default.json"))
    assert set(ours) == set(load("playground/oauth2/success-tokens.json"))
    pkce = flow.token(flow.code(), code_verifier="z" * 43).json()
    assert pkce == load("playground/oauth2/error-token-invalid-grant-pkce.json")


def test_missing_helper_finds_differences() -> None:
    assert missing({"a": {"b": 1}}, {"a": {}}) == ["$.a.b"]
    assert missing({"v": [{"name": "x", "k": 1}]}, {"v": [{"name": "x"}]}) == ["$.v[x].k"]
