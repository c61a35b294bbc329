"""Okta failures show at the default log level (issue 18), through both adapters.

Each failure is one WARNING record from ``okta_magiclink_mw`` with a stable ``event`` and a
fixed-phrase ``reason``; no record carries the verifier, the code, the ID token or the
client secret. What a visitor can cause on their own (a forged ``?error=server_error``,
an expired code) stays below WARNING.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.conftest import (
    Browser,
    FakeOkta,
    callback_url,
    make_settings,
    start_login,
)

CLIENT_SECRET = "client-secret-" + "q" * 24


@pytest.fixture
def confidential(make_client: Any) -> Browser:
    browser: Browser = make_client(make_settings(client_secret=CLIENT_SECRET))
    return browser


def attempt(browser: Browser, okta: FakeOkta) -> tuple[httpx.Response, list[str]]:
    """One sign-in; returns the callback response and every secret that was in play."""
    config = start_login(browser)
    code = okta.issue_code(config)
    r = browser.get(callback_url(config, code))
    secrets = [code, CLIENT_SECRET, *okta.id_tokens]
    secrets += [form["code_verifier"] for form in okta.token_forms]
    return r, secrets


def warnings_of(caplog: Any) -> list[logging.LogRecord]:
    return [rec for rec in caplog.records if rec.levelno >= logging.WARNING]


def assert_no_secrets(caplog: Any, secrets: list[str]) -> None:
    """The middleware's records, and httpx's for its calls to Okta (the test's own browser
    is an httpx client too, and logs the callback URL it requests)."""
    assert all(secrets), "a secret to look for is empty"
    ours = [
        rec
        for rec in caplog.records
        if rec.name.startswith("okta_magiclink_mw") or "org.example" in rec.getMessage()
    ]
    assert ours
    for rec in ours:
        text = rec.getMessage() + repr(rec.__dict__)
        for secret in secrets:
            assert secret not in text, (rec.name, rec.getMessage())


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ("html_500", 502, "token: unexpected HTTP status"),
        ("timeout", 504, "token: timed out"),
        ("connect_error", 503, "token: unreachable (ConnectError)"),
        ("malformed_json", 502, "token: malformed JSON"),
        ("invalid_client", 502, "token: OAuth error"),
    ],
)
def test_token_endpoint_failure_is_one_warning(
    confidential: Browser, okta: FakeOkta, caplog: Any, fault: str, status: int, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    okta.fault = fault
    r, secrets = attempt(confidential, okta)
    assert r.status_code == status
    [record] = warnings_of(caplog)
    assert record.name == "okta_magiclink_mw"
    assert record.levelno == logging.WARNING
    assert record.event == "token.failed"
    assert record.reason == reason
    assert_no_secrets(caplog, [*secrets, "upstream-secret-body"])
    assert len(secrets) == 3  # code, client secret, verifier: the POST was made


def test_jwks_failure_is_one_warning(confidential: Browser, okta: FakeOkta, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    okta.keys.mock(side_effect=None, return_value=httpx.Response(500, text="down"))
    r, secrets = attempt(confidential, okta)
    assert r.status_code == 503
    [record] = warnings_of(caplog)
    assert (record.event, record.reason) == ("jwks.failed", "jwks: unexpected HTTP status")
    assert_no_secrets(caplog, secrets)
    assert len(secrets) == 4  # ... and the ID token, which was minted


def test_unknown_key_is_one_warning(confidential: Browser, okta: FakeOkta, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    okta.kid = "k-not-published"
    r, secrets = attempt(confidential, okta)
    assert r.status_code == 403
    [record] = warnings_of(caplog)
    assert record.event == "id_token.unknown_key"
    assert record.reason == "id_token: kid not in Okta's current keys"
    assert_no_secrets(caplog, secrets)


def test_discovery_failure_is_one_warning(
    confidential: Browser, okta: FakeOkta, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    okta.discovery.mock(side_effect=None, return_value=httpx.Response(503, text="down"))
    r, secrets = attempt(confidential, okta)
    assert r.status_code == 503
    [record] = warnings_of(caplog)
    assert (record.event, record.reason) == (
        "discovery.failed",
        "discovery: unexpected HTTP status",
    )
    assert_no_secrets(caplog, secrets)


def test_invalid_grant_stays_info(confidential: Browser, okta: FakeOkta, caplog: Any) -> None:
    """The person's expired or used code is not an Okta failure."""
    caplog.set_level(logging.DEBUG)
    okta.fault = "invalid_grant"
    r, secrets = attempt(confidential, okta)
    assert r.status_code == 400
    assert warnings_of(caplog) == []
    assert any(getattr(rec, "event", "") == "signin.failed" for rec in caplog.records)
    assert_no_secrets(caplog, [*secrets, "upstream-secret-body"])


@pytest.mark.parametrize("with_state", [False, True])
def test_forged_server_error_callback_stays_below_warning(
    client: Browser, okta: FakeOkta, caplog: Any, with_state: bool
) -> None:
    """Anyone can send this link: it must not page anyone, nor count as Okta failing."""
    caplog.set_level(logging.DEBUG)
    state = f"&state={start_login(client)['state']}" if with_state else ""
    r = client.get(f"/login/callback?error=server_error{state}")
    assert r.status_code == 502
    assert [rec for rec in caplog.records if rec.levelno >= logging.WARNING] == []
    events = {getattr(rec, "event", None) for rec in caplog.records}
    assert "callback.error" in events  # it is logged, at INFO
    assert not events & {"token.failed", "jwks.failed", "discovery.failed"}
    assert okta.outbound_calls == 0
