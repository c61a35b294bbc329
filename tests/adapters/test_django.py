"""okta_magiclink_mw.django: REMOTE_USER and request.okta_user come from the middleware only."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction
from hypothesis import given
from hypothesis import strategies as st

from okta_magiclink_mw import AnonymousUser, ConfigurationError, OktaUser
from okta_magiclink_mw.django import REMOTE_USER_KEYS, OktaUserMiddleware, adopt_okta_user
from okta_magiclink_mw.wsgi import USER_KEY

ADA = OktaUser(
    {"sub": "00uAda", "email": "ada@example.com", "email_verified": True, "groups": ["staff"]}
)
UNVERIFIED = OktaUser({"sub": "00uEve", "email": "eve@example.com", "email_verified": False})
SPOOFED = {"REMOTE_USER": "eve@example.com", "HTTP_REMOTE_USER": "eve@example.com"}


def wsgi_request(user: object = None, **meta: Any) -> Any:
    """What a WSGIRequest offers: META is the environ."""
    if user is not None:
        meta[USER_KEY] = user
    return SimpleNamespace(META=meta)


def asgi_request(user: object = None, **meta: Any) -> Any:
    """What an ASGIRequest offers: its scope, and a META built from the headers."""
    scope: dict[str, Any] = {"type": "http"}
    if user is not None:
        scope["user"] = user
    return SimpleNamespace(META=meta, scope=scope)


@pytest.mark.parametrize("make", [wsgi_request, asgi_request])
def test_a_signed_in_person_is_remote_user(make: Any) -> None:
    request = make(ADA)
    assert adopt_okta_user(request) is ADA
    assert request.okta_user is ADA
    assert request.META["REMOTE_USER"] == request.META["HTTP_REMOTE_USER"] == "ada@example.com"


@pytest.mark.parametrize("make", [wsgi_request, asgi_request])
def test_what_the_client_sent_is_replaced(make: Any) -> None:
    request = make(ADA, **SPOOFED)
    adopt_okta_user(request)
    assert request.META["REMOTE_USER"] == request.META["HTTP_REMOTE_USER"] == "ada@example.com"


@pytest.mark.parametrize("make", [wsgi_request, asgi_request])
def test_nobody_signed_in_is_no_remote_user(make: Any) -> None:
    request = make(AnonymousUser(), **SPOOFED, HTTP_X_REMOTE_USER="eve")
    adopt_okta_user(request)
    assert not set(REMOTE_USER_KEYS) & set(request.META)
    assert request.okta_user.is_authenticated is False
    assert request.META["HTTP_X_REMOTE_USER"] == "eve"  # not an identity Django reads


def test_an_unverified_email_is_not_who_they_are() -> None:
    request = wsgi_request(UNVERIFIED)
    adopt_okta_user(request)
    assert request.META["REMOTE_USER"] == "00uEve"


def test_under_asgi_only_the_scope_counts() -> None:
    # META holds headers under ASGI: a key there is not the middleware's.
    request = asgi_request(AnonymousUser(), **{USER_KEY: ADA})
    adopt_okta_user(request)
    assert "REMOTE_USER" not in request.META
    with pytest.raises(ConfigurationError):
        adopt_okta_user(asgi_request(None, **{USER_KEY: ADA}))


@pytest.mark.parametrize(
    "request_",
    [
        wsgi_request(None, **SPOOFED),
        asgi_request(None, **SPOOFED),
        wsgi_request("ada@example.com"),
        # Another middleware's user (Channels puts a Django user in scope["user"]).
        asgi_request(SimpleNamespace(is_authenticated=True, remote_user="eve@example.com")),
    ],
    ids=["wsgi", "asgi", "wsgi-not-an-okta-user", "asgi-not-an-okta-user"],
)
def test_a_request_the_middleware_did_not_see_is_refused(request_: Any) -> None:
    with pytest.raises(ConfigurationError, match="wrap the Django application"):
        adopt_okta_user(request_)
    assert not hasattr(request_, "okta_user")


def test_sync_middleware() -> None:
    seen: list[Any] = []

    def view(request: Any) -> str:
        seen.append(dict(request.META))
        return "response"

    middleware = OktaUserMiddleware(view)
    assert not iscoroutinefunction(middleware)
    assert middleware(wsgi_request(ADA, **SPOOFED)) == "response"
    assert seen[0]["REMOTE_USER"] == "ada@example.com"


@pytest.mark.anyio
async def test_async_middleware() -> None:
    seen: list[Any] = []

    async def view(request: Any) -> str:
        seen.append(dict(request.META))
        return "response"

    middleware = OktaUserMiddleware(view)
    assert iscoroutinefunction(middleware)  # Django awaits it: no thread per request
    assert await middleware(asgi_request(ADA, **SPOOFED)) == "response"
    assert seen[0]["HTTP_REMOTE_USER"] == "ada@example.com"
    with pytest.raises(ConfigurationError):
        await middleware(asgi_request(None))
    assert len(seen) == 1  # the view never ran for the request the middleware did not see


def test_django_declares_both_modes() -> None:
    assert OktaUserMiddleware.sync_capable is True
    assert OktaUserMiddleware.async_capable is True


keys = st.one_of(
    st.sampled_from([*REMOTE_USER_KEYS, "HTTP_X_REMOTE_USER", "remote_user"]), st.text()
)


@given(meta=st.dictionaries(keys, st.text()), signed_in=st.booleans(), asgi=st.booleans())
def test_remote_user_is_only_ever_the_middlewares(
    meta: dict[str, str], signed_in: bool, asgi: bool
) -> None:
    meta.pop(USER_KEY, None)
    user = ADA if signed_in else AnonymousUser()
    request = (asgi_request if asgi else wsgi_request)(user, **meta)
    adopt_okta_user(request)
    for key in REMOTE_USER_KEYS:
        assert request.META.get(key) == ("ada@example.com" if signed_in else None)


def test_importing_it_does_not_import_django() -> None:
    code = "import sys, okta_magiclink_mw.django; print('django' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
