"""Shared fixtures: an RSA key, a respx-built fake Okta, settings, a fake clock, and a
``client`` (a cookie-keeping browser) that runs every scenario through both adapters.

The fake Okta plays the part of the org for the token exchange only: the tests read the
widget configuration the login page renders (state, nonce, PKCE challenge), "sign in" with
:meth:`FakeOkta.issue_code` as the widget would, and the token endpoint then checks the PKCE
verifier against that challenge and mints an RS256 ID token carrying the transaction's nonce.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import re
import secrets
import time
import wsgiref.validate
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio.from_thread
import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from okta_magiclink_mw import OktaMagicLink, OktaMagicLinkWSGI, Settings
from tests._redis_server import _shared_redis  # noqa: F401 - a fixture, for session modes

ISSUER = "https://org.example/oauth2/default"
CLIENT_ID = "0oa-test-client"
APP_ORIGIN = "https://app.example"
REDIRECT_URI = f"{APP_ORIGIN}/login/callback"
HTTP_ORIGIN = "http://app.example"
SECRET_OLD = "old-secret-" + "o" * 32
SECRET_NEW = "new-secret-" + "n" * 32
DISCOVERY_URL = f"{ISSUER}/.well-known/openid-configuration"
TOKEN_URL = f"{ISSUER}/v1/token"
JWKS_URL = f"{ISSUER}/v1/keys"
END_SESSION_URL = f"{ISSUER}/v1/logout"
#: A top-level browser navigation.
NAV = {"accept": "text/html,application/xhtml+xml", "sec-fetch-mode": "navigate"}
#: Identity headers a client might send to pose as someone (R29, #96).
SPOOF_HEADERS = {
    "x-remote-user": "admin",
    "x_remote_user": "admin",
    "x-forwarded-email": "ceo@example.com",
    "remote-user": "root",
}


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "secret_keys": [SECRET_NEW],
        "public_paths": ("/health", "/public/"),
    }
    values.update(overrides)
    return Settings(**values)


# -- keys and clock ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return jwk


class FakeClock:
    """Seconds since the epoch, moved only by the test."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time())) if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- the fake Okta ------------------------------------------------------------------------


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class IssuedCode:
    nonce: str
    challenge: str
    claims: dict[str, Any] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()


class FakeOkta:
    """Discovery, JWKS and a token endpoint on a respx router, with fault knobs.

    ``fault`` is one of: ``timeout``, ``connect_error``, ``html_500``, ``malformed_json``,
    ``html_200``, ``missing_id_token``, ``wrong_token_type``, ``invalid_grant``,
    ``invalid_client``, ``redirect``, ``huge_body``. ``claims`` overrides ID-token claims,
    ``header`` overrides its JOSE header, ``signing_key``/``kid`` choose how it is signed,
    ``jwks`` is the list of (kid, key) published.

    A refresh returns a new ID token, as Okta does when ``openid`` was granted (unless
    ``refresh_id_token`` is False): the sign-in's claims, updated with ``current_claims``
    (what Okta says of the person now, e.g. ``{"groups": ["admins"]}``), and broken on
    purpose by ``refresh_id_token_fault`` (``other_sub``, ``wrong_aud``, ``expired``,
    ``bad_signature``, ``garbage``).
    """

    def __init__(self, router: respx.MockRouter, key: rsa.RSAPrivateKey, clock: FakeClock) -> None:
        self.router = router
        self.key = key
        self.clock = clock
        self.signing_key = key
        self.kid = "k1"
        self.jwks: list[tuple[str, rsa.RSAPrivateKey]] = [("k1", key)]
        self.fault: str | None = None
        self.claims: dict[str, Any] = {}
        self.header: dict[str, Any] = {}
        self.codes: dict[str, IssuedCode] = {}
        self.token_forms: list[dict[str, str]] = []
        self.token_bodies: list[bytes] = []
        self.id_tokens: list[str] = []
        self.discovery_doc: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/v1/authorize",
            "token_endpoint": TOKEN_URL,
            "jwks_uri": JWKS_URL,
            "end_session_endpoint": END_SESSION_URL,
        }
        self.discovery = router.get(DISCOVERY_URL).mock(
            side_effect=lambda request: httpx.Response(200, json=self.discovery_doc)
        )
        self.keys = router.get(JWKS_URL).mock(side_effect=self._jwks)
        self.token = router.post(TOKEN_URL).mock(side_effect=self._token)
        self.revoked: list[dict[str, str]] = []
        self.revoke_status = 200
        self.revoke = router.post(f"{ISSUER}/v1/revoke").mock(side_effect=self._revoke)
        # Refresh tokens: the live ones, how long access tokens last, rotation, faults.
        self.access_lifetime = 3600
        self.rotate_refresh = False
        self.live_refresh: set[str] = set()
        self.refresh_forms: list[dict[str, str]] = []
        self.refresh_fault: str | None = None
        self.access_tokens: list[str] = []
        self.refresh_id_token = True
        self.refresh_id_token_fault: str | None = None
        self.current_claims: dict[str, Any] = {}
        self.refresh_claims: dict[str, dict[str, Any]] = {}  # refresh token -> sign-in claims
        self.refreshed_id_tokens: list[str] = []

    # The widget's part: the person proves themselves, Okta hands back an interaction code.
    def issue_code(self, widget_config: dict[str, Any], **claims: Any) -> str:
        code = "ic-" + secrets.token_urlsafe(12)
        self.codes[code] = IssuedCode(
            widget_config["nonce"],
            widget_config["codeChallenge"],
            dict(claims),
            tuple(widget_config.get("scopes", ())),
        )
        return code

    @property
    def outbound_calls(self) -> int:
        return self.discovery.call_count + self.keys.call_count + self.token.call_count

    def _revoke(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        self.revoked.append(form)
        self.live_refresh.discard(form.get("token", ""))
        return httpx.Response(self.revoke_status)

    def _new_access_token(self) -> str:
        token = "at-" + secrets.token_urlsafe(16)
        self.access_tokens.append(token)
        return token

    def _refresh(self, request: httpx.Request, form: dict[str, str]) -> httpx.Response:
        self.refresh_forms.append(form)
        if self.refresh_fault == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if self.refresh_fault == "html_500":
            return httpx.Response(500, html="<html>upstream-secret-body</html>")
        token = form.get("refresh_token", "")
        if self.refresh_fault == "invalid_grant" or token not in self.live_refresh:
            return httpx.Response(
                400,
                json={"error": "invalid_grant", "error_description": "upstream-secret-body"},
            )
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self._new_access_token(),
            "expires_in": self.access_lifetime,
            "scope": "openid profile email offline_access",
        }
        claims = self.refresh_claims.get(token)
        if self.rotate_refresh:
            self.live_refresh.discard(token)
            body["refresh_token"] = "rt-" + secrets.token_urlsafe(16)
            self.live_refresh.add(body["refresh_token"])
            if claims is not None:
                self.refresh_claims[body["refresh_token"]] = claims
        if self.refresh_id_token and claims is not None:
            body["id_token"] = self._refreshed_id_token(claims)
        return httpx.Response(200, json=body)

    def _refreshed_id_token(self, sign_in_claims: dict[str, Any]) -> str:
        """The ID token of a refresh: no nonce, fresh times, Okta's current claims."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "00u-ada",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
            "auth_time": now,
        }
        claims.update(sign_in_claims)
        claims.update(self.current_claims)
        fault = self.refresh_id_token_fault
        key = self.signing_key
        if fault == "other_sub":
            claims["sub"] = "00u-mallory"
        elif fault == "wrong_aud":
            claims["aud"] = "0oa-another-app"
        elif fault == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif fault == "bad_signature":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif fault == "garbage":
            return "not.a-jwt"
        claims = {k: v for k, v in claims.items() if v is not None}
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
        self.refreshed_id_tokens.append(token)
        return token

    def _jwks(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"keys": [public_jwk(k, kid) for kid, k in self.jwks]})

    def mint(self, nonce: str, extra: dict[str, Any] | None = None) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "00u-ada",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
            "nonce": nonce,
            "auth_time": now,
        }
        claims.update(extra or {})
        claims.update(self.claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        header = {"kid": self.kid, **self.header}
        return jwt.encode(claims, self.signing_key, algorithm="RS256", headers=header)

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_bodies.append(request.content)
        form = dict(parse_qsl(request.content.decode("ascii"), keep_blank_values=True))
        self.token_forms.append(form)
        if form.get("grant_type") == "refresh_token":
            return self._refresh(request, form)
        fault = self.fault
        if fault == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if fault == "connect_error":
            raise httpx.ConnectError("connection refused", request=request)
        if fault == "html_500":
            return httpx.Response(
                500, html="<html><body>Traceback upstream-secret-body</body></html>"
            )
        if fault == "malformed_json":
            return httpx.Response(200, content=b'{"token_type": "Bearer", ', headers=_JSON_HEADERS)
        if fault == "html_200":
            return httpx.Response(200, html="<html>upstream-secret-body</html>")
        if fault == "redirect":
            return httpx.Response(302, headers={"location": "https://evil.example/token"})
        if fault == "huge_body":
            return httpx.Response(200, content=b" " * 2_000_000, headers=_JSON_HEADERS)
        if fault == "invalid_client":
            return httpx.Response(401, json={"error": "invalid_client"})
        issued = self.codes.pop(form.get("interaction_code", ""), None)
        if (
            fault == "invalid_grant"
            or issued is None
            or s256(form.get("code_verifier", "")) != issued.challenge
        ):
            return httpx.Response(
                400,
                json={"error": "invalid_grant", "error_description": "upstream-secret-body"},
            )
        id_token = self.mint(issued.nonce, issued.claims)
        self.id_tokens.append(id_token)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self._new_access_token(),
            "id_token": id_token,
            "expires_in": self.access_lifetime,
            "scope": " ".join(issued.scopes),
        }
        if "offline_access" in issued.scopes:  # as Okta: a refresh token only when asked
            body["refresh_token"] = "rt-" + secrets.token_urlsafe(16)
            self.live_refresh.add(body["refresh_token"])
            if "openid" in issued.scopes:  # its refreshes return an ID token too
                self.refresh_claims[body["refresh_token"]] = dict(issued.claims)
        if fault == "missing_id_token":
            del body["id_token"]
        if fault == "wrong_token_type":
            body["token_type"] = "DPoP"
        return httpx.Response(200, json=body)


_JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture
def okta(rsa_key: rsa.RSAPrivateKey, clock: FakeClock) -> Iterator[FakeOkta]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield FakeOkta(router, rsa_key, clock)


# -- settings ----------------------------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    """https redirect_uri: cookies are ``__Host-`` and Secure."""
    return make_settings()


@pytest.fixture
def http_settings() -> Settings:
    """A plain-http deployment: no Secure, no ``__Host-`` prefix."""
    return make_settings(redirect_uri=f"{HTTP_ORIGIN}/login/callback", allow_insecure_http=True)


# -- the apps behind the middleware ---------------------------------------------------------

_ECHOED_HEADERS = ("x-remote-user", "x_remote_user", "x-forwarded-email", "remote-user")


async def _asgi_echo(request: Request) -> JSONResponse:
    user = request.scope.get("user")
    headers = {name: request.headers.get(name) for name in _ECHOED_HEADERS}
    headers = {k: v for k, v in headers.items() if v is not None}
    return JSONResponse(
        {
            "path": request.url.path,
            "query": request.url.query,
            "authenticated": bool(user is not None and user.is_authenticated),
            "sub": user.identity if user is not None else None,
            "name": user.display_name if user is not None else None,
            "email": user.email if user is not None else None,
            "auth_scopes": list(request.auth.scopes) if "auth" in request.scope else None,
            "remote_user": None,
            "identity_headers": headers,
        },
        headers={"cache-control": "public, max-age=600"},
    )


def asgi_echo_app() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", _asgi_echo, methods=["GET", "POST", "HEAD"])])


def wsgi_echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    user = environ.get("okta_magiclink_mw.user")
    headers = {}
    for name in _ECHOED_HEADERS:
        key = "HTTP_" + name.upper().replace("-", "_")
        if key in environ:
            headers[name] = environ[key]
    body = json.dumps(
        {
            "path": environ["PATH_INFO"],
            "query": environ.get("QUERY_STRING", ""),
            "authenticated": bool(user is not None and user.is_authenticated),
            "sub": user.identity if user is not None else None,
            "name": user.display_name if user is not None else None,
            "email": user.email if user is not None else None,
            "auth_scopes": None,
            "remote_user": environ.get("REMOTE_USER"),
            "identity_headers": headers,
        }
    ).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "public, max-age=600"),
        ],
    )
    return [body]


# -- the browser -----------------------------------------------------------------------------


class Browser:
    """A cookie-keeping client in front of one middleware, sync for both adapters."""

    def __init__(
        self,
        kind: str,
        mw: OktaMagicLink | OktaMagicLinkWSGI,
        base_url: str,
        portal: Any = None,
        wsgi_app: Any = None,
    ) -> None:
        self.kind = kind
        self.mw = mw
        self.core = mw.core
        self.base_url = base_url
        self._portal = portal
        self._wsgi_app = wsgi_app
        if kind == "asgi":
            self._client: Any = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=mw), base_url=base_url
            )
        else:
            self._client = httpx.Client(
                transport=httpx.WSGITransport(app=wsgi_app), base_url=base_url
            )

    @property
    def cookies(self) -> httpx.Cookies:
        return self._client.cookies

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("follow_redirects", False)
        if self.kind == "asgi":
            call = functools.partial(self._client.request, method, url, **kwargs)
            response: httpx.Response = self._portal.call(call)
            return response
        response = self._client.request(method, url, **kwargs)
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def other_browser(self) -> Browser:
        """Another browser (empty cookie jar) in front of the same middleware."""
        return Browser(self.kind, self.mw, self.base_url, self._portal, self._wsgi_app)

    def close(self) -> None:
        if self.kind == "asgi":
            self._portal.call(self._client.aclose)
        else:
            self._client.close()


def _pep3333(app: Any) -> Any:
    """httpx's WSGITransport hands PATH_INFO over as text; a real server (PEP 3333) gives
    the bytes decoded as latin-1. Do what a server does."""

    def server(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["PATH_INFO"] = environ["PATH_INFO"].encode("utf-8").decode("latin-1")
        return app(environ, start_response)

    return server


@pytest.fixture(params=["asgi", "wsgi"])
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def portal() -> Iterator[Any]:
    with anyio.from_thread.start_blocking_portal() as p:
        yield p


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules that set ``ALL_SESSION_MODES = True`` run each test with sessions in the
    cookie, in a shared in-process store, and in a real Redis (when it can be started)."""
    if "session_mode" in metafunc.fixturenames:
        modes = ["cookie"]
        if getattr(metafunc.module, "ALL_SESSION_MODES", False):
            modes += ["memory", "redis"]
        if getattr(metafunc.module, "STORE_SESSION_MODES", False):
            modes = ["memory", "redis"]
        metafunc.parametrize("session_mode", modes, indirect=True)


@pytest.fixture
def session_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shared_store(
    session_mode: str, clock: FakeClock, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """The record store every client of one test shares, or None for cookie sessions."""
    if session_mode != "cookie" and request.node.get_closest_marker("cookie_sessions"):
        pytest.skip("about sessions kept in the cookie itself")
    if session_mode == "cookie":
        yield None
        return
    if session_mode == "memory":
        from okta_magiclink_mw.stores.memory import MemoryRecordStore

        yield MemoryRecordStore(clock=clock)
        return
    server = request.getfixturevalue("_shared_redis")
    from okta_magiclink_mw.stores.redis import RedisSessionStore

    store = RedisSessionStore(url=server.url, prefix=f"t{secrets.token_hex(4)}")
    yield store
    if request.getfixturevalue("adapter") == "asgi":
        request.getfixturevalue("portal").call(store.aclose)
    store.close()


@pytest.fixture
def make_client(
    adapter: str, okta: FakeOkta, clock: FakeClock, portal: Any, shared_store: Any
) -> Iterator[Callable[..., Browser]]:
    """Build a browser in front of a fresh middleware: ``make_client(settings, **mw_kwargs)``."""
    made: list[tuple[Browser, Any]] = []

    def make(
        settings: Settings | None = None,
        *,
        asgi_app: Any = None,
        wsgi_app: Any = None,
        base_url: str = APP_ORIGIN,
        **mw_kwargs: Any,
    ) -> Browser:
        s = settings if settings is not None else make_settings()
        mw_kwargs.setdefault("clock", clock)
        if shared_store is not None:  # every client of the test: instances of one app
            mw_kwargs.setdefault("session_store", shared_store)
        if adapter == "asgi":
            mw: Any = OktaMagicLink(asgi_app or asgi_echo_app(), s, **mw_kwargs)
            browser = Browser("asgi", mw, base_url, portal=portal)
        else:
            inner = wsgiref.validate.validator(wsgi_app or wsgi_echo_app)
            mw = OktaMagicLinkWSGI(inner, s, **mw_kwargs)
            outer = _pep3333(wsgiref.validate.validator(mw))
            browser = Browser("wsgi", mw, base_url, wsgi_app=outer)
        made.append((browser, mw))
        return browser

    yield make
    for browser, mw in made:
        browser.close()
        if adapter == "asgi":
            portal.call(mw.aclose)
        else:
            mw.close()


@pytest.fixture
def client(make_client: Callable[..., Browser], settings: Settings) -> Browser:
    return make_client(settings)


# -- flow helpers ----------------------------------------------------------------------------

_CONFIG = re.compile(r'\{el: "#okta-sign-in-widget"\}, (\{.*?\})\)\)\.showSignInAndRedirect', re.S)


def widget_config(html: str) -> dict[str, Any]:
    """The configuration the login page hands to ``new OktaSignIn(...)``."""
    match = _CONFIG.search(html)
    assert match is not None, "no widget configuration on the page"
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))


def start_login(browser: Browser, path: str = "/reports?id=5") -> dict[str, Any]:
    """Navigate to a protected page and follow to the login page; return the widget config."""
    r = browser.get(path, headers=NAV)
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith("/login?state=")
    page = browser.get(location, headers=NAV)
    assert page.status_code == 200, page.text
    config = widget_config(page.text)
    assert config["state"] == query_of(location)["state"]
    return config


def callback_url(config: dict[str, Any], code: str) -> str:
    return f"/login/callback?interaction_code={code}&state={config['state']}"


def sign_in(
    browser: Browser, okta: FakeOkta, path: str = "/reports?id=5", **claims: Any
) -> httpx.Response:
    """A complete sign-in; returns the callback's response."""
    config = start_login(browser, path)
    code = okta.issue_code(config, **claims)
    return browser.get(callback_url(config, code), headers=NAV)


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """Parse every Set-Cookie: name -> {"value": ..., attribute(lowercase): value or ""}."""
    parsed: dict[str, dict[str, str]] = {}
    for header in response.headers.get_list("set-cookie"):
        parts = [p.strip() for p in header.split(";")]
        name, _, value = parts[0].partition("=")
        attrs = {"value": value, "_raw": header}
        for part in parts[1:]:
            key, _, val = part.partition("=")
            attrs[key.lower()] = val
        parsed[name] = attrs
    return parsed


def assert_security_headers(response: httpx.Response) -> None:
    """R11, R12, R23: every page the middleware writes."""
    h = response.headers
    assert h["cache-control"] == "no-store"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in h["content-security-policy"]


@contextlib.contextmanager
def no_outbound(okta: FakeOkta) -> Iterator[None]:
    before = okta.outbound_calls
    yield
    assert okta.outbound_calls == before, "an outbound request was made"
