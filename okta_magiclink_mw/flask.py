"""A Flask decorator that lets in only some of the signed-in people.

.. code-block:: python

    from okta_magiclink_mw.flask import require

    @app.route("/admin")
    @require(groups={"admins"})
    def admin():
        return "hello"

A person it refuses gets the middleware's 403 page (JSON for an API call); nobody signed
in (a public path) is sent to sign in, or gets a 401. Flask is imported only when a
guarded view runs: it is not a dependency of this package.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from . import _guards
from ._policy import Requirement
from .wsgi import USER_KEY

__all__ = ["require"]

View = TypeVar("View", bound=Callable[..., Any])


def require(
    *, emails: Iterable[str] = (), domains: Iterable[str] = (), groups: Iterable[str] = ()
) -> Callable[[View], View]:
    """Guard a Flask view (put it under ``@app.route``): only a person whose verified
    email is in ``emails``, or its domain in ``domains``, or one of whose groups is in
    ``groups`` gets through (all empty: anyone signed in)."""
    required = _guards.requirement(emails, domains, groups)

    def decorate(view: View) -> View:
        if inspect.iscoroutinefunction(view):  # Flask's async views

            @functools.wraps(view)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                _check(required)
                return await view(*args, **kwargs)

            return cast(View, guarded_async)

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            _check(required)
            return view(*args, **kwargs)

        return cast(View, guarded)

    return decorate


def _check(required: Requirement) -> None:
    from flask import request  # here, not at import: flask is not a dependency

    _guards.check(required, request.environ.get(USER_KEY), request.path)
