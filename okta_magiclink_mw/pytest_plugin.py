"""pytest fixtures to test an app behind okta-magiclink-mw, with a FakeOkta org.

Installed with the package (entry point ``pytest11``), so the fixtures are there in every
test: ``okta_app_url``, ``fake_okta``, ``okta_settings``, ``okta_env``, ``sign_in`` and
``sign_in_with_magic_link``::

    def test_home(okta_settings, sign_in):
        client = TestClient(OktaMagicLink(app, okta_settings))
        sign_in(client)                      # a real session, as after a real sign-in
        assert client.get("/").status_code == 200

FakeOkta is served on a loopback port by one uvicorn server for the session (a fresh org
for each test), so the middleware's own HTTP client reaches it as it reaches Okta. The
page "Testing your app" of the docs tells the rest.

This module loads in every pytest run: it imports nothing heavy until a fixture runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from okta_magiclink_mw.settings import Settings
    from okta_magiclink_mw.testing import FakeOkta, MagicLinkSignInFixture, SignInFixture
    from okta_magiclink_mw.testing._loopback import FakeOktaServer

#: The client id of the app the plugin registers in FakeOkta.
CLIENT_ID = "0oaPytestClient"


@pytest.fixture
def okta_app_url() -> str:
    """The app's origin as the test client sees it: ``http://testserver`` (Starlette's
    ``TestClient``, the default ``base_url`` to give an ``httpx`` client too). Override
    it in a ``conftest.py``, e.g. ``"http://localhost"`` for Flask's test client."""
    return "http://testserver"


@pytest.fixture(scope="session")
def _okta_magiclink_server() -> Iterator[FakeOktaServer]:
    from okta_magiclink_mw.testing._loopback import FakeOktaServer

    server = FakeOktaServer()
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_okta(_okta_magiclink_server: FakeOktaServer, okta_app_url: str) -> Iterator[FakeOkta]:
    """A fresh FakeOkta org for this test, served on a loopback port.

    Set up the way the README tells an admin to: the user ``ada@example.com`` ("Ada
    Lovelace"), a Web app ``0oaPytestClient`` with ``{okta_app_url}/login/callback`` as
    its redirect and Email verify callback URIs, ``{okta_app_url}/`` as its sign-out
    redirect URI, assigned to Everyone, and ``okta_app_url`` a trusted origin. Change it
    for a test: ``fake_okta.deny_access(...)``, ``fake_okta.set_groups(...)``,
    ``fake_okta.faults``...
    """
    from okta_magiclink_mw.testing import FakeOkta

    app_url = okta_app_url.rstrip("/")
    fake = FakeOkta(base_url=_okta_magiclink_server.url)
    fake.add_user(email="ada@example.com", name="Ada Lovelace")
    fake.add_web_app(
        f"{app_url}/login/callback",
        post_logout_redirect_uri=f"{app_url}/",
        client_id=CLIENT_ID,
        client_secret=secrets.token_urlsafe(24),
    )
    with _okta_magiclink_server.serving(fake):
        yield fake


@pytest.fixture
def okta_settings(fake_okta: FakeOkta, okta_app_url: str) -> Settings:
    """:class:`~okta_magiclink_mw.Settings` for the app under test, pointing at
    ``fake_okta``; ``dataclasses.replace(okta_settings, allowed_groups=["admins"])`` for
    more. ``allow_insecure_http=True``: test clients speak http to a name like
    ``testserver``."""
    from okta_magiclink_mw.settings import Settings

    app_url = okta_app_url.rstrip("/")
    client = fake_okta.clients[CLIENT_ID]
    return Settings(
        issuer=fake_okta.issuer,
        client_id=client.client_id,
        client_secret=client.client_secret,
        redirect_uri=f"{app_url}/login/callback",
        post_logout_redirect_uri=f"{app_url}/",
        secret_keys=[secrets.token_urlsafe(32)],
        allow_insecure_http=True,
        # FakeOkta's copy of the widget when it has one (node_modules), else Okta's CDN.
        widget_js_url=fake_okta.widget_js_url,
        widget_css_url=fake_okta.widget_css_url,
    )


@pytest.fixture
def okta_env(okta_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``okta_settings`` as ``OKTA_*`` environment variables, set for this test (the other
    settings' variables are removed), for an app that calls ``Settings.from_env()``: build
    or import it inside the test. Returns the variables set."""
    env = {
        "OKTA_ISSUER": okta_settings.issuer,
        "OKTA_CLIENT_ID": okta_settings.client_id,
        "OKTA_CLIENT_SECRET": okta_settings.client_secret or "",
        "OKTA_REDIRECT_URI": okta_settings.redirect_uri,
        "OKTA_POST_LOGOUT_REDIRECT_URI": okta_settings.post_logout_redirect_uri or "",
        "OKTA_MW_SECRET_KEYS": ",".join(str(key) for key in okta_settings.secret_keys),
        "OKTA_MW_ALLOW_INSECURE_HTTP": "true",
    }
    if okta_settings.widget_js_url and okta_settings.widget_css_url:
        env["OKTA_MW_WIDGET_JS_URL"] = okta_settings.widget_js_url
        env["OKTA_MW_WIDGET_CSS_URL"] = okta_settings.widget_css_url
    env = {name: value for name, value in env.items() if value}
    from okta_magiclink_mw import _environment

    # Any other setting's variable in the environment of the test run would leak into the
    # app under test: the test sets its own, after okta_env.
    for variable, _ in (*_environment.REQUIRED.values(), *_environment.OPTIONAL.values()):
        if variable not in env:
            monkeypatch.delenv(variable, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def sign_in(fake_okta: FakeOkta) -> SignInFixture:
    """``sign_in(client, *, email="ada@example.com", groups=None, name=None, next="/")``:
    a real session for ``client``, through the middleware's own pages and FakeOkta's
    token endpoint (like Django's ``force_login``, without a back door). Returns the
    signed-in :class:`~okta_magiclink_mw.testing.FakeUser`; for an
    ``httpx.AsyncClient``, an awaitable of it. Raises
    :class:`~okta_magiclink_mw.testing.SignInError` when a step fails."""
    from okta_magiclink_mw.testing import SignInFixture

    return SignInFixture(fake_okta)


@pytest.fixture
def sign_in_with_magic_link(fake_okta: FakeOkta) -> MagicLinkSignInFixture:
    """``sign_in_with_magic_link(client, *, email="ada@example.com", next="/",
    same_browser=True, groups=None, name=None)``: the whole sign-in with the email's magic
    link, as a person and the widget make it. Returns a
    :class:`~okta_magiclink_mw.testing.MagicLinkSignIn` (awaitable for an
    ``httpx.AsyncClient``)."""
    from okta_magiclink_mw.testing import MagicLinkSignInFixture

    return MagicLinkSignInFixture(fake_okta)
