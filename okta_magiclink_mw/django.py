"""Django: the signed-in person as ``request.META["REMOTE_USER"]`` and ``request.okta_user``.

Wrap the Django application in the middleware (``OktaMagicLinkWSGI`` in wsgi.py,
``OktaMagicLink`` in asgi.py), then hand the person to Django's own remote-user login:

.. code-block:: python

    MIDDLEWARE = [
        ...,
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "okta_magiclink_mw.django.OktaUserMiddleware",  # before RemoteUserMiddleware
        "django.contrib.auth.middleware.RemoteUserMiddleware",
    ]
    AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.RemoteUserBackend"]

``request.user`` is then a Django user named after the verified email (else the Okta id),
created on the first visit, and logged out of Django as soon as the Okta session ends.
Django is not imported here (only asgiref, which Django depends on): it is not a
dependency of this package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
except ImportError as exc:  # pragma: no cover - Django installs asgiref
    raise ImportError("okta_magiclink_mw.django needs Django: pip install django") from exc

from .errors import ConfigurationError
from .user import AnonymousUser, OktaUser
from .wsgi import USER_KEY

__all__ = ["REMOTE_USER_KEYS", "OktaUserMiddleware", "adopt_okta_user"]

#: The ``META`` keys that hold the person. Django's ``RemoteUserMiddleware`` reads
#: ``REMOTE_USER`` under WSGI; under ASGI, depending on the Django version and on whether it
#: runs async, it reads ``HTTP_REMOTE_USER`` (Django tickets #36300, #37079), the key of a
#: ``Remote-User`` request header. Both are set from the middleware, or removed.
REMOTE_USER_KEYS = ("REMOTE_USER", "HTTP_REMOTE_USER")

_NOT_WRAPPED = (
    "OktaUserMiddleware found no okta_magiclink_mw user on this request: wrap the Django "
    "application in the middleware (OktaMagicLinkWSGI(get_wsgi_application(), settings) in "
    "wsgi.py, OktaMagicLink(get_asgi_application(), settings) in asgi.py). Django's test "
    "Client calls the views without the WSGI application, so it never passes through it: "
    "test with an httpx client over the application instead (see the docs, Django page)."
)


class DjangoRequest(Protocol):
    """What this module reads and writes of a Django ``HttpRequest``."""

    META: MutableMapping[str, Any]
    okta_user: OktaUser | AnonymousUser


class OktaUserMiddleware:
    """Django middleware (sync and async) that gives every request:

    - ``request.okta_user``: the :class:`~okta_magiclink_mw.OktaUser` (groups, claims,
      display name), or an :class:`~okta_magiclink_mw.AnonymousUser` on a public path;
    - ``request.META["REMOTE_USER"]`` (and ``"HTTP_REMOTE_USER"``, see
      :data:`REMOTE_USER_KEYS`): their ``remote_user`` (the verified email, else the Okta
      id), and neither key when nobody is signed in, for Django's ``RemoteUserMiddleware``
      placed after it.

    Under WSGI the person is ``environ["okta_magiclink_mw.user"]``; under ASGI, where Django
    puts no ``REMOTE_USER`` in ``META``, it is ``scope["user"]``. Both are set by the
    middleware only: whatever those two keys held before is replaced or removed (the
    middleware also strips ``Remote-User`` and the other identity headers a client sends).

    :raises ConfigurationError: on a request that did not pass through the middleware.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)  # Django then awaits this middleware

    def __call__(self, request: DjangoRequest) -> Any:
        if self._async:
            return self._acall(request)
        adopt_okta_user(request)
        return self.get_response(request)

    async def _acall(self, request: DjangoRequest) -> Any:
        adopt_okta_user(request)
        response: Awaitable[Any] = self.get_response(request)
        return await response


def adopt_okta_user(request: DjangoRequest) -> OktaUser | AnonymousUser:
    """Set ``request.okta_user`` and ``request.META["REMOTE_USER"]`` from the person the
    middleware let through (what :class:`OktaUserMiddleware` does), and return them."""
    meta = request.META
    # An ASGIRequest carries its scope; a WSGIRequest's META is the WSGI environ.
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else meta.get(USER_KEY)
    if not isinstance(user, OktaUser | AnonymousUser):
        raise ConfigurationError(_NOT_WRAPPED)
    # Only the middleware says who someone is: whatever else put these keys here goes.
    for key in REMOTE_USER_KEYS:
        meta.pop(key, None)
    if user.is_authenticated:
        for key in REMOTE_USER_KEYS:
            meta[key] = user.remote_user
    request.okta_user = user
    return user
