"""A FastAPI dependency that lets in only some of the signed-in people.

.. code-block:: python

    from fastapi import Depends
    from okta_magiclink_mw.fastapi import require

    @app.get("/admin")
    async def admin(user: OktaUser = Depends(require(groups={"admins"}))):
        return {"hello": user.display_name}

A person it refuses gets the middleware's 403 page (JSON for an API call); nobody signed
in (a public path) is sent to sign in, or gets a 401. FastAPI itself is not imported:
the dependency asks only for Starlette's ``HTTPConnection``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection

from . import _guards
from .user import OktaUser

__all__ = ["require"]

Dependency = Callable[[HTTPConnection], Coroutine[Any, Any, OktaUser]]


def require(
    *, emails: Iterable[str] = (), domains: Iterable[str] = (), groups: Iterable[str] = ()
) -> Dependency:
    """A dependency returning the signed-in :class:`~okta_magiclink_mw.OktaUser` when their
    verified email is in ``emails``, or its domain in ``domains``, or one of their groups in
    ``groups`` (all empty: anyone signed in). On a websocket, a refusal closes it (1008)."""
    required = _guards.requirement(emails, domains, groups)

    async def signed_in_person(connection: HTTPConnection) -> OktaUser:
        scope = connection.scope
        user = scope.get("user")
        if scope["type"] == "websocket" and not (
            isinstance(user, OktaUser) and required.allows(user)
        ):
            raise WebSocketException(code=1008)  # as a refused handshake is closed
        return _guards.check(required, user, scope.get("path", ""))

    return signed_in_person
