"""A Starlette decorator that lets in only some of the signed-in people.

.. code-block:: python

    from okta_magiclink_mw.starlette import require

    @require(groups={"admins"})
    async def admin(request):
        return PlainTextResponse(f"hello {request.user.display_name}")

A person it refuses gets the middleware's 403 page (JSON for an API call); nobody signed
in (a public path) is sent to sign in, or gets a 401; a websocket is closed (1008).
Starlette's own ``@requires("group:admins")`` works too: every group is a
``group:<name>`` scope of ``request.auth``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection

from . import _guards
from ._policy import Requirement
from .user import OktaUser

__all__ = ["require"]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def require(
    *, emails: Iterable[str] = (), domains: Iterable[str] = (), groups: Iterable[str] = ()
) -> Callable[[Endpoint], Endpoint]:
    """Guard an endpoint (``async def endpoint(request)``, a sync one, a websocket one,
    or a method of an ``HTTPEndpoint``): only a person whose verified email is in
    ``emails``, or its domain in ``domains``, or one of whose groups is in ``groups``
    gets through (all empty: anyone signed in)."""
    required = _guards.requirement(emails, domains, groups)

    def decorate(endpoint: Endpoint) -> Endpoint:
        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                _check(required, args, kwargs)
                return await endpoint(*args, **kwargs)

            return cast(Endpoint, guarded_async)

        @functools.wraps(endpoint)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            _check(required, args, kwargs)
            return endpoint(*args, **kwargs)

        return cast(Endpoint, guarded)

    return decorate


def _check(required: Requirement, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    connection = next((a for a in (*args, *kwargs.values()) if isinstance(a, HTTPConnection)), None)
    if connection is None:
        raise TypeError("@require guards an endpoint that receives a Request or a WebSocket")
    scope = connection.scope
    user = scope.get("user")
    if scope["type"] == "websocket":
        if not (isinstance(user, OktaUser) and required.allows(user)):
            raise WebSocketException(code=1008)  # as a refused handshake is closed
        return
    _guards.check(required, user, scope.get("path", ""))
