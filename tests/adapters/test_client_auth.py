"""Client authentication end to end, through both adapters, against the in-process FakeOkta
(okta_magiclink_mw.testing), which checks it as Okta does: a sign-in, a refresh and a
sign-out with ``private_key_jwt`` (RSA and EC keys) and with ``client_secret_basic``; what a
person sees, and what the logs say, when Okta refuses the app's credentials (an unregistered
key, a clock behind Okta's, a replayed assertion) or requires DPoP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from okta_magiclink_mw import OktaMagicLink, OktaMagicLinkWSGI
from okta_magiclink_mw.stores.memory import MemoryRecordStore
from okta_magiclink_mw.testing import FakeClient, FakeUser
from okta_magiclink_mw.testing import FakeOkta as Emulator
from tests.conftest import (
    APP_ORIGIN,
    NAV,
    Browser,
    FakeClock,
    asgi_echo_app,
    make_settings,
    start_login,
    wsgi_echo_app,
)

OKTA = "https://org.example"
SECRET = "cs-" + "q" * 40
OFFLINE = ("openid", "profile", "email", "offline_access")
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
CONFIG_PAGE = "configuration problem"
DPOP_SETTING = "Require Demonstrating Proof of Possession (DPoP) header in token requests"


def _pem(key: Any) -> str:
    text: str = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return text


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def ec_pem() -> str:
    return _pem(ec.generate_private_key(ec.SECP256R1()))


def _public(private_pem: str) -> Any:
    return serialization.load_pem_private_key(private_pem.encode(), password=None).public_key()


# -- the wire between the middleware and FakeOkta ------------------------------------------


@dataclass
class Call:
    url: str
    headers: httpx.Headers
    form: dict[str, str]


@dataclass
class Wire:
    """Records every POST to Okta; ``rewrite`` may change a form on the way (an attacker
    on the path, replaying what it saw)."""

    calls: list[Call] = field(default_factory=list)
    rewrite: Callable[[dict[str, str]], dict[str, str]] | None = None

    def carry(self, request: httpx.Request, body: bytes) -> httpx.Request:
        if request.method != "POST":
            return request
        form = dict(parse_qsl(body.decode()))
        self.calls.append(Call(str(request.url), request.headers, form))
        if self.rewrite is None:
            return request
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        return httpx.Request(
            "POST", request.url, headers=headers, content=urlencode(self.rewrite(form)).encode()
        )

    def to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.url.endswith(path)]


class _AsyncWire(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, wire: Wire) -> None:
        self._inner, self._wire = inner, wire

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        return await self._inner.handle_async_request(self._wire.carry(request, body))


class _SyncWire(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, wire: Wire) -> None:
        self._inner, self._wire = inner, wire

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(self._wire.carry(request, request.read()))


# -- one deployment: FakeOkta, the app's Okta registration, the middleware -------------------


@dataclass
class Deployment:
    fake: Emulator
    client: FakeClient
    user: FakeUser
    browser: Browser
    wire: Wire
    clock: FakeClock

    def sign_in(self, browser: Browser | None = None) -> httpx.Response:
        """Start at a protected page, "sign in" at Okta, come back to the callback."""
        browser = browser or self.browser
        config = start_login(browser, "/reports")
        code = self.fake.issue_interaction_code(
            self.client.client_id,
            self.user,
            config["codeChallenge"],
            state=config["state"],
            nonce=config["nonce"],
            scopes=config["scopes"],
        )
        return browser.get(
            f"/login/callback?interaction_code={code}&state={config['state']}", headers=NAV
        )


def register(fake: Emulator, redirect_uri: str, **registration: Any) -> FakeClient:
    """The app registered as the README tells an admin to: ``add_web_app`` where this
    FakeOkta has it (strict about grants, assignments and origins), else ``add_client``."""
    add_web_app = getattr(fake, "add_web_app", None)
    if add_web_app is not None:
        client: FakeClient = add_web_app(redirect_uri, **registration)
        return client
    return fake.add_client(redirect_uris=[redirect_uri], **registration)


@pytest.fixture
def deploy(adapter: str, portal: Any, clock: FakeClock) -> Iterator[Callable[..., Deployment]]:
    """``deploy(registration, **settings)``: FakeOkta with the app registered as
    ``registration`` says (``add_client`` arguments), and a middleware in front of the echo
    app with ``settings``; ``okta_clock`` gives FakeOkta a clock of its own."""
    made: list[tuple[Browser, Any, Any]] = []

    def make(
        registration: dict[str, Any], *, okta_clock: FakeClock | None = None, **overrides: Any
    ) -> Deployment:
        fake = Emulator(base_url=OKTA, clock=okta_clock or clock)
        user = fake.add_user("ada@example.com", "Ada Lovelace")
        client = register(fake, f"{APP_ORIGIN}/login/callback", **registration)
        values: dict[str, Any] = {
            "issuer": fake.issuer,
            "client_id": client.client_id,
            "scopes": OFFLINE,
            "session_store": MemoryRecordStore(clock=clock),
            "revalidate_every": 60,
        }
        values.update(overrides)
        settings = make_settings(**values)
        wire = Wire()
        if adapter == "asgi":
            http: Any = httpx.AsyncClient(transport=_AsyncWire(fake.async_transport(), wire))
            mw: Any = OktaMagicLink(asgi_echo_app(), settings, http_client=http, clock=clock)
            browser = Browser("asgi", mw, APP_ORIGIN, portal=portal)
        else:
            http = httpx.Client(transport=_SyncWire(fake.sync_transport(), wire))
            mw = OktaMagicLinkWSGI(wsgi_echo_app, settings, http_client=http, clock=clock)
            browser = Browser("wsgi", mw, APP_ORIGIN, wsgi_app=mw)
        made.append((browser, http, mw))
        return Deployment(fake, client, user, browser, wire, clock)

    yield make
    for browser, http, _ in made:
        browser.close()
        if adapter == "asgi":
            portal.call(http.aclose)
        else:
            http.close()


def _registrations(rsa_pem: str, ec_pem: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """(FakeOkta registration, middleware settings) for each way of authenticating."""
    return {
        "private_key_jwt-rsa": (
            {"jwks": [_public(rsa_pem)]},
            {"client_private_key": rsa_pem},
        ),
        "private_key_jwt-ec-kid": (
            {"jwks": [_public(rsa_pem), {**_jwk(ec_pem), "kid": "ec-2"}]},
            {"client_private_key": ec_pem, "client_key_id": "ec-2"},
        ),
        "client_secret_basic": (
            {"client_secret": SECRET},
            {"client_secret": SECRET, "client_auth": "client_secret_basic"},
        ),
        "client_secret_post": (
            {"client_secret": SECRET, "token_endpoint_auth_method": "client_secret_post"},
            {"client_secret": SECRET},
        ),
    }


def _jwk(private_pem: str) -> dict[str, Any]:
    from okta_magiclink_mw.testing._client_auth import public_jwk

    return public_jwk(_public(private_pem))


@pytest.mark.parametrize(
    "method",
    ["private_key_jwt-rsa", "private_key_jwt-ec-kid", "client_secret_basic", "client_secret_post"],
)
def test_sign_in_refresh_and_sign_out(
    deploy: Callable[..., Deployment], rsa_pem: str, ec_pem: str, method: str
) -> None:
    registration, settings = _registrations(rsa_pem, ec_pem)[method]
    app = deploy(registration, **settings)
    r = app.sign_in()
    assert r.status_code == 302, r.text
    assert app.browser.get("/reports", headers=NAV).status_code == 200
    # A re-check: the session's refresh token, redeemed with the same credentials.
    app.clock.advance(61)
    assert app.browser.get("/reports", headers=NAV).status_code == 200
    refresh_calls = [c for c in app.wire.to("/v1/token") if c.form["grant_type"] == "refresh_token"]
    assert len(refresh_calls) == 1
    family = app.fake.refresh_tokens[refresh_calls[0].form["refresh_token"]].family
    r = app.browser.post("/logout", headers=SAME_ORIGIN)
    assert r.status_code == 303
    assert family.revoked  # the revocation was accepted: authenticated as the app
    assert len(app.wire.to("/v1/revoke")) == 2
    for call in app.wire.calls:
        _assert_one_credential(call, method, app.fake.issuer)


def _assert_one_credential(call: Call, method: str, issuer: str) -> None:
    form, header = call.form, call.headers.get("authorization")
    if method.startswith("private_key_jwt"):
        assert header is None
        assert "client_id" not in form
        assert "client_secret" not in form
        claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
        assert claims["aud"] == call.url  # the full URL of the endpoint called
        assert call.url.startswith(f"{issuer}/v1/")
        kid = jwt.get_unverified_header(form["client_assertion"]).get("kid")
        assert kid == ("ec-2" if method.endswith("kid") else None)
    elif method == "client_secret_basic":
        assert header is not None
        assert header.startswith("Basic ")
        assert not {"client_id", "client_secret", "client_assertion"} & set(form)
    else:
        assert header is None
        assert form["client_secret"] == SECRET


def test_every_assertion_is_used_once(deploy: Callable[..., Deployment], rsa_pem: str) -> None:
    app = deploy({"jwks": [_public(rsa_pem)]}, client_private_key=rsa_pem)
    assert app.sign_in().status_code == 302
    assert app.sign_in(app.browser.other_browser()).status_code == 302
    app.clock.advance(61)
    assert app.browser.get("/reports", headers=NAV).status_code == 200
    jtis = [
        jwt.decode(c.form["client_assertion"], options={"verify_signature": False})["jti"]
        for c in app.wire.calls
    ]
    assert len(jtis) == 3
    assert len(set(jtis)) == 3


# -- Okta refuses the credentials: a clear page, and a log line that says where to look ------


def _config_failure(r: httpx.Response) -> None:
    assert r.status_code == 502, r.text
    assert CONFIG_PAGE in r.text
    assert "Traceback" not in r.text
    assert "client_assertion" not in r.text


def _warnings(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == event]


def test_an_unregistered_key_gets_the_configuration_page_and_a_hint(
    deploy: Callable[..., Deployment],
    rsa_pem: str,
    ec_pem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = deploy({"jwks": [_public(rsa_pem)]}, client_private_key=ec_pem)  # not this one
    with caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"):
        r = app.sign_in()
    _config_failure(r)
    (record,) = _warnings(caplog, "token.failed")
    assert record.code == "invalid_client"  # type: ignore[attr-defined]
    assert "'Public key / Private key'" in record.getMessage()
    assert "General > Client Credentials" in record.getMessage()
    assert ec_pem.splitlines()[1] not in caplog.text


def test_a_clock_behind_okta_sends_expired_assertions(
    deploy: Callable[..., Deployment], rsa_pem: str, caplog: pytest.LogCaptureFixture
) -> None:
    okta_clock = FakeClock()
    app = deploy({"jwks": [_public(rsa_pem)]}, okta_clock=okta_clock, client_private_key=rsa_pem)
    okta_clock.advance(400)  # Okta's clock is 400 s ahead: a 300 s assertion arrives expired
    with caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"):
        r = app.sign_in()
    _config_failure(r)
    (record,) = _warnings(caplog, "token.failed")
    assert "this host's clock is right" in record.getMessage()


def test_a_replayed_assertion_is_refused_and_the_person_sees_a_clear_page(
    deploy: Callable[..., Deployment], rsa_pem: str
) -> None:
    app = deploy({"jwks": [_public(rsa_pem)]}, client_private_key=rsa_pem)
    assert app.sign_in().status_code == 302
    seen = app.wire.calls[-1].form["client_assertion"]
    # An attacker on the path swaps in the assertion it saw: Okta accepts it once.
    app.wire.rewrite = lambda form: {**form, "client_assertion": seen}
    r = app.sign_in(app.browser.other_browser())
    _config_failure(r)
    app.wire.rewrite = None
    assert app.sign_in(app.browser.other_browser()).status_code == 302


def test_an_assertion_for_another_endpoint_is_refused(
    deploy: Callable[..., Deployment], rsa_pem: str
) -> None:
    app = deploy({"jwks": [_public(rsa_pem)]}, client_private_key=rsa_pem)
    assert app.sign_in().status_code == 302
    revoked: list[str] = []

    def to_revoke(form: dict[str, str]) -> dict[str, str]:
        revoked.append(form["client_assertion"])
        return form

    app.wire.rewrite = to_revoke
    assert app.browser.post("/logout", headers=SAME_ORIGIN).status_code == 303
    # The revocation's assertion, carried to the token endpoint, is refused there.
    app.wire.rewrite = lambda form: {**form, "client_assertion": revoked[-1]}
    _config_failure(app.sign_in(app.browser.other_browser()))


def test_a_wrong_secret_with_basic_gets_the_page_and_a_hint(
    deploy: Callable[..., Deployment], caplog: pytest.LogCaptureFixture
) -> None:
    app = deploy(
        {"client_secret": SECRET}, client_secret="not-the-secret", client_auth="client_secret_basic"
    )
    with caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"):
        _config_failure(app.sign_in())
    (record,) = _warnings(caplog, "token.failed")
    assert "check client_id and client_secret" in record.getMessage()
    assert "not-the-secret" not in caplog.text


# -- an app that requires DPoP --------------------------------------------------------------


def test_an_app_that_requires_dpop_gets_a_configuration_page_naming_the_setting(
    deploy: Callable[..., Deployment], rsa_pem: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = deploy({"jwks": [_public(rsa_pem)], "require_dpop": True}, client_private_key=rsa_pem)
    with caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"):
        r = app.sign_in()
    _config_failure(r)
    assert "DPoP" not in r.text  # the person is not told how the app is set up
    (record,) = _warnings(caplog, "token.failed")
    assert record.code == "invalid_dpop_proof"  # type: ignore[attr-defined]
    assert DPOP_SETTING in record.getMessage()
    assert "General > General Settings" in record.getMessage()
    assert app.browser.get("/reports", headers=NAV).status_code == 302  # not signed in


def test_dpop_turned_on_later_is_named_at_the_next_recheck(
    deploy: Callable[..., Deployment], caplog: pytest.LogCaptureFixture
) -> None:
    app = deploy({"client_secret": SECRET}, client_secret=SECRET)
    assert app.sign_in().status_code == 302
    app.client.require_dpop = True  # an admin ticks the box
    app.clock.advance(61)
    with caplog.at_level(logging.WARNING, logger="okta_magiclink_mw"):
        r = app.browser.get("/reports", headers=NAV)
    assert r.status_code == 200  # as when Okta is down: the session goes on for now
    (record,) = _warnings(caplog, "refresh.failed")
    assert DPOP_SETTING in record.getMessage()
