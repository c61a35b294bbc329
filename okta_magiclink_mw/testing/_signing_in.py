"""``sign_in`` and ``sign_in_with_magic_link``: a real session for a test client.

Both drive the middleware's own pages and FakeOkta; neither reaches into the middleware.
They take Starlette's ``TestClient`` or any ``httpx.Client`` (over ``httpx.WSGITransport``,
or a real server), Flask's or Werkzeug's test client, and an ``httpx.AsyncClient`` (over
``httpx.ASGITransport``): then they return an awaitable.
"""

from __future__ import annotations

import inspect
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar, overload

import httpx

from ._conversation import (
    Conversation,
    MagicLinkSignIn,
    magic_link_conversation,
    sign_in_conversation,
)
from ._drivers import (
    AsyncHttpxBrowser,
    HttpxBrowser,
    WerkzeugBrowser,
    WerkzeugClient,
    adrive,
    drive,
)

if TYPE_CHECKING:
    from ._app import FakeOkta
    from ._model import FakeUser

T = TypeVar("T")

#: The person the plugin's FakeOkta has from the start.
DEFAULT_EMAIL = "ada@example.com"
DEFAULT_NAME = "Ada Lovelace"

Transport = httpx.BaseTransport | httpx.AsyncBaseTransport | None


@overload
def sign_in(
    client: httpx.AsyncClient,
    fake: FakeOkta,
    *,
    email: str = ...,
    groups: Sequence[str] | None = ...,
    name: str | None = ...,
    next: str = ...,
    okta_transport: Transport = ...,
) -> Coroutine[Any, Any, FakeUser]: ...
@overload
def sign_in(
    client: httpx.Client | WerkzeugClient,
    fake: FakeOkta,
    *,
    email: str = ...,
    groups: Sequence[str] | None = ...,
    name: str | None = ...,
    next: str = ...,
    okta_transport: Transport = ...,
) -> FakeUser: ...
def sign_in(
    client: httpx.AsyncClient | httpx.Client | WerkzeugClient,
    fake: FakeOkta,
    *,
    email: str = DEFAULT_EMAIL,
    groups: Sequence[str] | None = None,
    name: str | None = None,
    next: str = "/",
    okta_transport: Transport = None,
) -> FakeUser | Coroutine[Any, Any, FakeUser]:
    """Sign ``client`` in as ``email``, as Django's ``force_login`` does, but for real.

    Opens ``next`` (a protected path) as a browser, follows to the middleware's login
    page, has ``fake`` issue an interaction code for that sign-in (as the widget would
    get one), then opens the callback: the middleware redeems the code at FakeOkta's
    ``/v1/token`` with its PKCE verifier and sets its session cookie in the client.

    The user is created in ``fake`` if new; ``groups`` (and ``name``) are set when given.
    Returns the :class:`~okta_magiclink_mw.testing.FakeUser` (awaitable for an
    ``httpx.AsyncClient``).

    :raises SignInError: a step failed (``next`` is public, the user may not sign in to
        the app, the middleware refused the callback...), with what was answered.
    """
    conversation = sign_in_conversation(fake, email=email, next=next, name=name, groups=groups)
    return _run(client, conversation, okta_transport)


@overload
def sign_in_with_magic_link(
    client: httpx.AsyncClient,
    fake: FakeOkta,
    *,
    email: str = ...,
    next: str = ...,
    same_browser: bool = ...,
    groups: Sequence[str] | None = ...,
    name: str | None = ...,
    okta_transport: Transport = ...,
) -> Coroutine[Any, Any, MagicLinkSignIn]: ...
@overload
def sign_in_with_magic_link(
    client: httpx.Client | WerkzeugClient,
    fake: FakeOkta,
    *,
    email: str = ...,
    next: str = ...,
    same_browser: bool = ...,
    groups: Sequence[str] | None = ...,
    name: str | None = ...,
    okta_transport: Transport = ...,
) -> MagicLinkSignIn: ...
def sign_in_with_magic_link(
    client: httpx.AsyncClient | httpx.Client | WerkzeugClient,
    fake: FakeOkta,
    *,
    email: str = DEFAULT_EMAIL,
    next: str = "/",
    same_browser: bool = True,
    groups: Sequence[str] | None = None,
    name: str | None = None,
    okta_transport: Transport = None,
) -> MagicLinkSignIn | Coroutine[Any, Any, MagicLinkSignIn]:
    """Sign ``client`` in the whole way a person does, with the email's magic link.

    The widget's conversation with Okta over HTTP (interact, introspect, identify, "send
    me an email"), the email read from FakeOkta's outbox, its link followed through
    Okta's hop to the app's callback, then:

    - ``same_browser=True``: in ``client``; the middleware finds its sign-in there and
      hands the code to a new widget, which finishes;
    - ``same_browser=False``: in another browser (no cookies of ``client``), which gets
      the page "enter this code in your first tab"; the widget in ``client`` finishes
      with the code.

    The user is created in ``fake`` if new; ``groups`` (and ``name``) are set when given.
    Returns a :class:`~okta_magiclink_mw.testing.MagicLinkSignIn` (awaitable for an
    ``httpx.AsyncClient``). ``okta_transport`` reaches FakeOkta other than over HTTP at
    its URL (``fake.sync_transport()`` / ``fake.async_transport()``).

    :raises SignInError: a step failed, with what was answered.
    """
    conversation = magic_link_conversation(
        fake, email=email, next=next, same_browser=same_browser, name=name, groups=groups
    )
    return _run(client, conversation, okta_transport)


def _is_werkzeug(client: object) -> TypeGuard[WerkzeugClient]:
    return hasattr(client, "application") and callable(getattr(client, "open", None))


def _sync(transport: Transport) -> httpx.BaseTransport | None:
    if isinstance(transport, httpx.AsyncBaseTransport):
        raise TypeError("a sync test client needs a sync okta_transport")
    return transport


def _run(
    client: httpx.AsyncClient | httpx.Client | WerkzeugClient,
    conversation: Conversation[T],
    transport: Transport,
) -> T | Coroutine[Any, Any, T]:
    if _is_werkzeug(client):
        return drive(conversation, WerkzeugBrowser(client), _sync(transport))
    request = getattr(client, "request", None)
    if request is not None and hasattr(client, "cookies"):
        if inspect.iscoroutinefunction(request):  # httpx.AsyncClient, or httpx2's
            if isinstance(transport, httpx.BaseTransport):
                raise TypeError("an async test client needs an async okta_transport")
            return adrive(conversation, AsyncHttpxBrowser(client), transport)
        # httpx.Client, Starlette's TestClient (on httpx or httpx2)
        return drive(conversation, HttpxBrowser(client), _sync(transport))
    raise TypeError(
        f"cannot sign in a {type(client).__name__}: pass Starlette's TestClient, an "
        "httpx.Client or httpx.AsyncClient, or Flask's / Werkzeug's test client"
    )


class SignInFixture:
    """The ``sign_in`` fixture: :func:`sign_in` bound to the test's ``fake_okta``."""

    def __init__(self, fake: FakeOkta) -> None:
        self.fake = fake

    @overload
    def __call__(
        self,
        client: httpx.AsyncClient,
        *,
        email: str = ...,
        groups: Sequence[str] | None = ...,
        name: str | None = ...,
        next: str = ...,
    ) -> Coroutine[Any, Any, FakeUser]: ...
    @overload
    def __call__(
        self,
        client: httpx.Client | WerkzeugClient,
        *,
        email: str = ...,
        groups: Sequence[str] | None = ...,
        name: str | None = ...,
        next: str = ...,
    ) -> FakeUser: ...
    def __call__(
        self,
        client: httpx.AsyncClient | httpx.Client | WerkzeugClient,
        *,
        email: str = DEFAULT_EMAIL,
        groups: Sequence[str] | None = None,
        name: str | None = None,
        next: str = "/",
    ) -> FakeUser | Coroutine[Any, Any, FakeUser]:
        conversation = sign_in_conversation(
            self.fake, email=email, next=next, name=name, groups=groups
        )
        return _run(client, conversation, None)


class MagicLinkSignInFixture:
    """The ``sign_in_with_magic_link`` fixture: :func:`sign_in_with_magic_link` bound to
    the test's ``fake_okta``."""

    def __init__(self, fake: FakeOkta) -> None:
        self.fake = fake

    @overload
    def __call__(
        self,
        client: httpx.AsyncClient,
        *,
        email: str = ...,
        next: str = ...,
        same_browser: bool = ...,
        groups: Sequence[str] | None = ...,
        name: str | None = ...,
    ) -> Coroutine[Any, Any, MagicLinkSignIn]: ...
    @overload
    def __call__(
        self,
        client: httpx.Client | WerkzeugClient,
        *,
        email: str = ...,
        next: str = ...,
        same_browser: bool = ...,
        groups: Sequence[str] | None = ...,
        name: str | None = ...,
    ) -> MagicLinkSignIn: ...
    def __call__(
        self,
        client: httpx.AsyncClient | httpx.Client | WerkzeugClient,
        *,
        email: str = DEFAULT_EMAIL,
        next: str = "/",
        same_browser: bool = True,
        groups: Sequence[str] | None = None,
        name: str | None = None,
    ) -> MagicLinkSignIn | Coroutine[Any, Any, MagicLinkSignIn]:
        conversation = magic_link_conversation(
            self.fake, email=email, next=next, same_browser=same_browser, name=name, groups=groups
        )
        return _run(client, conversation, None)
