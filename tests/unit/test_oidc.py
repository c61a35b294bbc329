"""The Okta conversation (:mod:`okta_magiclink_mw._oidc`) driven by hand, sans-IO: several
conversations interleaved exactly as concurrent sign-ins would be, and the log records each
kind of Okta failure leaves (issues 17 and 18)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from okta_magiclink_mw._oidc import OktaConversation
from okta_magiclink_mw._transactions import Transaction
from okta_magiclink_mw.errors import IdentityProviderError, InvalidIdToken, TokenExchangeError
from tests.conftest import (
    CLIENT_ID,
    DISCOVERY_URL,
    END_SESSION_URL,
    ISSUER,
    JWKS_URL,
    TOKEN_URL,
    FakeClock,
    make_settings,
    public_jwk,
)

CLIENT_SECRET = "client-secret-" + "c" * 24
CODE = "ic-interaction-code-value"

Flow = Generator[httpx.Request, httpx.Response, Any]


@pytest.fixture
def conversation(clock: FakeClock) -> OktaConversation:
    return OktaConversation(make_settings(client_secret=CLIENT_SECRET), clock)


def discovery() -> httpx.Response:
    doc = {
        "issuer": ISSUER,
        "token_endpoint": TOKEN_URL,
        "jwks_uri": JWKS_URL,
        "end_session_endpoint": END_SESSION_URL,
    }
    return httpx.Response(200, json=doc)


def id_token(key: rsa.RSAPrivateKey, kid: str, nonce: str, clock: FakeClock) -> str:
    now = int(clock())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "00u1", "iat": now, "exp": now + 300}
    return jwt.encode({**claims, "nonce": nonce}, key, algorithm="RS256", headers={"kid": kid})


def tokens(idt: str) -> httpx.Response:
    return httpx.Response(200, json={"token_type": "Bearer", "access_token": "at", "id_token": idt})


def jwks(*pairs: tuple[str, rsa.RSAPrivateKey]) -> httpx.Response:
    return httpx.Response(200, json={"keys": [public_jwk(key, kid) for kid, key in pairs]})


def start(conversation: OktaConversation, clock: FakeClock) -> tuple[Flow, Transaction]:
    txn = Transaction.start("/", clock())
    return conversation.redeem(txn, CODE), txn


def to_token_post(conversation: OktaConversation, clock: FakeClock) -> tuple[Flow, Transaction]:
    """A new conversation, driven up to its token POST (discovery answered if asked)."""
    flow, txn = start(conversation, clock)
    request = next(flow)
    if str(request.url) == DISCOVERY_URL:
        request = flow.send(discovery())
    assert (request.method, str(request.url)) == ("POST", TOKEN_URL)
    return flow, txn


def finish(flow: Flow, response: httpx.Response) -> Any:
    with pytest.raises(StopIteration) as stop:
        flow.send(response)
    return stop.value.value


def signed_in(
    conversation: OktaConversation, clock: FakeClock, key: rsa.RSAPrivateKey, kid: str = "k1"
) -> None:
    """One whole sign-in that fetches the JWKS (which publishes ``kid``)."""
    flow, txn = to_token_post(conversation, clock)
    request = flow.send(tokens(id_token(key, kid, txn.nonce, clock)))
    assert str(request.url) == JWKS_URL
    claims, _ = finish(flow, jwks((kid, key)))
    assert claims["sub"] == "00u1"


# -- issue 17: single flight and rotation --------------------------------------------------------


def test_two_sign_ins_during_one_rotation_fetch_both_succeed(
    conversation: OktaConversation, clock: FakeClock, rsa_key: Any, other_rsa_key: Any
) -> None:
    """The second conversation must not be refused because the first one started a fetch:
    it sends the same GET (the adapters share it) and is verified with its answer."""
    signed_in(conversation, clock, rsa_key)
    clock.advance(1)
    first, txn1 = to_token_post(conversation, clock)
    second, txn2 = to_token_post(conversation, clock)
    get1 = first.send(tokens(id_token(other_rsa_key, "k2", txn1.nonce, clock)))
    get2 = second.send(tokens(id_token(other_rsa_key, "k2", txn2.nonce, clock)))
    assert str(get1.url) == str(get2.url) == JWKS_URL
    rotated = jwks(("k1", rsa_key), ("k2", other_rsa_key))
    assert finish(first, rotated)[0]["nonce"] == txn1.nonce
    assert finish(second, rotated)[0]["nonce"] == txn2.nonce


def test_an_abandoned_sign_in_does_not_hold_the_flight(
    conversation: OktaConversation, clock: FakeClock, rsa_key: Any, other_rsa_key: Any
) -> None:
    """A client that disconnects mid-fetch closes its conversation: the next one leads a
    fetch of its own rather than joining one nobody will finish."""
    signed_in(conversation, clock, rsa_key)
    abandoned, txn = to_token_post(conversation, clock)
    abandoned.send(tokens(id_token(other_rsa_key, "k2", txn.nonce, clock)))
    abandoned.close()
    flow, txn = to_token_post(conversation, clock)
    assert str(flow.send(tokens(id_token(other_rsa_key, "k2", txn.nonce, clock))).url) == JWKS_URL
    fetch = conversation.jwks._flight
    assert fetch is not None
    assert fetch.leader
    finish(flow, jwks(("k2", other_rsa_key)))
    assert conversation.jwks._flight is None


def test_unknown_kid_when_rate_limited_is_try_again(
    conversation: OktaConversation, clock: FakeClock, rsa_key: Any, caplog: Any
) -> None:
    signed_in(conversation, clock, rsa_key)
    for _ in range(2):  # the rest of the burst: fresh sets without the kid -> forged, 403
        flow, txn = to_token_post(conversation, clock)
        flow.send(tokens(id_token(rsa_key, "forged", txn.nonce, clock)))
        with pytest.raises(InvalidIdToken) as forged:
            flow.send(jwks(("k1", rsa_key)))
        assert forged.value.status == 403
        assert forged.value.code == "unknown_signing_key"
    caplog.clear()
    flow, txn = to_token_post(conversation, clock)
    with pytest.raises(IdentityProviderError) as limited:
        flow.send(tokens(id_token(rsa_key, "forged", txn.nonce, clock)))  # no GET this time
    assert limited.value.status == 503
    assert "try again" in limited.value.public_message
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.event == "id_token.unknown_key"
    assert record.reason == "jwks: unknown kid while refetching is rate-limited"
    # A known kid still signs in meanwhile, without a fetch.
    flow, txn = to_token_post(conversation, clock)
    assert finish(flow, tokens(id_token(rsa_key, "k1", txn.nonce, clock)))[0]["sub"] == "00u1"


# -- issue 18: one WARNING per Okta failure, no secrets --------------------------------------------


def warnings_of(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def assert_no_secrets(caplog: Any, *secrets: str) -> None:
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        for secret in secrets:
            assert secret not in text, (record.getMessage(), secret[:8])


def run_to_failure(
    conversation: OktaConversation,
    clock: FakeClock,
    rsa_key: Any,
    step: str,
    answer: httpx.Response | Exception,
    kid: str = "k1",
) -> tuple[Exception, list[str]]:
    """Run one conversation, answering ``step`` with ``answer``; return the error raised
    and the secrets that were in play."""
    flow, txn = start(conversation, clock)
    idt = id_token(rsa_key, kid, txn.nonce, clock)
    answers = {"discovery": discovery(), "token": tokens(idt), "jwks": jwks(("k1", rsa_key))}
    names = {DISCOVERY_URL: "discovery", TOKEN_URL: "token", JWKS_URL: "jwks"}
    request = next(flow)
    with pytest.raises(Exception) as info:  # noqa: PT011 -- the type is checked by callers
        drive(flow, request, lambda name: answer if name == step else answers[name], names)
    return info.value, [txn.code_verifier, txn.nonce, idt, CODE, CLIENT_SECRET]


def drive(
    flow: Flow,
    request: httpx.Request,
    reply_for: Callable[[str], httpx.Response | Exception],
    names: dict[str, str],
) -> None:
    """Answer every request until the conversation ends (callers expect it to raise)."""
    while True:
        reply = reply_for(names[str(request.url)])
        request = flow.throw(reply) if isinstance(reply, Exception) else flow.send(reply)


FAILURES = [
    pytest.param(
        "discovery",
        httpx.Response(500, text="upstream-secret-body"),
        IdentityProviderError,
        "discovery.failed",
        "discovery: unexpected HTTP status",
        id="discovery-500",
    ),
    pytest.param(
        "discovery",
        httpx.Response(
            200,
            json={
                "issuer": ISSUER,
                "token_endpoint": "https://evil.example/t",
                "jwks_uri": JWKS_URL,
            },
        ),
        IdentityProviderError,
        "discovery.failed",
        "discovery: token_endpoint not on the issuer's origin",
        id="discovery-foreign-token-endpoint",
    ),
    pytest.param(
        "discovery",
        httpx.ConnectError("refused"),
        IdentityProviderError,
        "discovery.failed",
        "discovery: unreachable (ConnectError)",
        id="discovery-unreachable",
    ),
    pytest.param(
        "token",
        httpx.Response(503, html="<html>upstream-secret-body</html>"),
        IdentityProviderError,
        "token.failed",
        "token: unexpected HTTP status",
        id="token-503",
    ),
    pytest.param(
        "token",
        httpx.ReadTimeout("slow"),
        IdentityProviderError,
        "token.failed",
        "token: timed out",
        id="token-timeout",
    ),
    pytest.param(
        "token",
        httpx.TooManyRedirects("r"),
        IdentityProviderError,
        "token.failed",
        "token: bad response (TooManyRedirects)",
        id="token-http-error",
    ),
    pytest.param(
        "token",
        httpx.Response(401, json={"error": "invalid_client", "error_description": "secret?"}),
        TokenExchangeError,
        "token.failed",
        "token: OAuth error",
        id="token-invalid-client",
    ),
    pytest.param(
        "jwks",
        httpx.Response(500, text="upstream-secret-body"),
        IdentityProviderError,
        "jwks.failed",
        "jwks: unexpected HTTP status",
        id="jwks-500",
    ),
    pytest.param(
        "jwks",
        httpx.ConnectError("refused"),
        IdentityProviderError,
        "jwks.failed",
        "jwks: unreachable (ConnectError)",
        id="jwks-unreachable",
    ),
]


@pytest.mark.parametrize(("step", "answer", "error", "event", "reason"), FAILURES)
def test_each_okta_failure_is_one_warning_without_secrets(
    conversation: OktaConversation,
    clock: FakeClock,
    rsa_key: Any,
    caplog: Any,
    step: str,
    answer: Any,
    error: type[Exception],
    event: str,
    reason: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    exc, secrets = run_to_failure(conversation, clock, rsa_key, step, answer)
    assert type(exc) is error
    [record] = warnings_of(caplog)
    assert record.name == "okta_magiclink_mw"
    assert record.levelno == logging.WARNING
    assert record.event == event
    assert record.reason == reason
    assert reason in record.getMessage()
    assert_no_secrets(caplog, *secrets, "upstream-secret-body", "secret?")


@pytest.mark.parametrize(
    ("kid", "key_name", "reason"),
    [
        pytest.param("k9", "rsa_key", "id_token: kid not in Okta's current keys", id="unknown"),
        pytest.param("k1", "other_rsa_key", "id_token: PyJWT rejected the token", id="bad-sig"),
    ],
)
def test_id_token_rejections_are_warnings(
    conversation: OktaConversation,
    clock: FakeClock,
    caplog: Any,
    request: pytest.FixtureRequest,
    rsa_key: Any,
    kid: str,
    key_name: str,
    reason: str,
) -> None:
    """A token straight from Okta's token endpoint that fails to verify means a rotation we
    missed, a misconfiguration or an attack: never only INFO."""
    caplog.set_level(logging.DEBUG)
    signer = request.getfixturevalue(key_name)
    flow, txn = to_token_post(conversation, clock)
    idt = id_token(signer, kid, txn.nonce, clock)
    flow.send(tokens(idt))
    with pytest.raises(InvalidIdToken) as info:
        flow.send(jwks(("k1", rsa_key)))
    assert info.value.status == 403
    [record] = warnings_of(caplog)
    expected = "id_token.unknown_key" if kid == "k9" else "id_token.invalid"
    assert (record.event, record.reason) == (expected, reason)
    assert_no_secrets(caplog, idt, txn.nonce, txn.code_verifier, CODE, CLIENT_SECRET)


def test_malformed_id_token_is_a_warning(
    conversation: OktaConversation, clock: FakeClock, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    flow, _ = to_token_post(conversation, clock)
    with pytest.raises(InvalidIdToken):
        flow.send(tokens("not-a-jwt-secretish"))
    [record] = warnings_of(caplog)
    assert (record.event, record.reason) == ("id_token.invalid", "id_token: not three segments")
    assert_no_secrets(caplog, "not-a-jwt-secretish")


def test_invalid_grant_is_not_an_okta_failure(
    conversation: OktaConversation, clock: FakeClock, rsa_key: Any, caplog: Any
) -> None:
    """The person's expired or used code: below WARNING (the core logs it at INFO)."""
    caplog.set_level(logging.DEBUG)
    answer = httpx.Response(400, json={"error": "invalid_grant", "error_description": "x"})
    exc, secrets = run_to_failure(conversation, clock, rsa_key, "token", answer)
    assert isinstance(exc, TokenExchangeError)
    assert exc.status == 400
    assert warnings_of(caplog) == []
    assert_no_secrets(caplog, *secrets)


def test_jwks_failure_with_a_cached_key_warns_and_signs_in(
    conversation: OktaConversation, clock: FakeClock, rsa_key: Any, caplog: Any
) -> None:
    """#80: last-known-good keys carry the sign-in, but Okta failing still shows."""
    signed_in(conversation, clock, rsa_key)
    clock.advance(3601)  # keys stale: a refresh is due
    caplog.set_level(logging.DEBUG)
    flow, txn = to_token_post(conversation, clock)
    assert str(flow.send(tokens(id_token(rsa_key, "k1", txn.nonce, clock))).url) == JWKS_URL
    claims, _ = finish(flow, httpx.Response(503, text="down"))
    assert claims["sub"] == "00u1"
    [record] = warnings_of(caplog)
    assert (record.event, record.reason) == ("jwks.failed", "jwks: unexpected HTTP status")
