"""What the middleware tells an observer: sign-ins, calls to Okta, forward-auth checks.

An observer is how metrics get in (the forward-auth server's Prometheus metrics are
one, ``server/_metrics.py``) without the core knowing about any metrics library. The
core and the drivers hold ``None`` when nobody observes and test for it before doing
any work, so an app without an observer pays one ``is None`` per sign-in step and per
call to Okta, and nothing on an authenticated request.

Nothing secret is ever handed to an observer: reasons are the errors' fixed codes
(``state_mismatch``, ``idp_timeout``...), endpoints are URL paths without the query.

.. code-block:: python

    class Counting(BaseObserver):
        def signin_failed(self, reason: str) -> None:
            failures[reason] += 1

    app = OktaMagicLink(app, settings, observer=Counting())
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["AUTH_RESULTS", "BaseObserver", "Observer"]

#: The results of a forward-auth check (:meth:`Observer.auth_check`).
AUTH_RESULTS = ("allowed", "unauthenticated", "forbidden", "bad_request")


class Observer(Protocol):
    """Hears what happens; every method must return quickly and never raise."""

    def signin_started(self) -> None:
        """A new sign-in transaction began (a redirect to sign in, or a fresh ``/login``)."""

    def signin_completed(self) -> None:
        """A sign-in ended with a new session (``signin.success`` in the log)."""

    def signin_failed(self, reason: str) -> None:
        """A sign-in ended on an error page (``signin.failed``); ``reason`` is its code."""

    def okta_request(self, endpoint: str, seconds: float, status: int | None) -> None:
        """One HTTP call to Okta finished: its URL path, how long it took, and its status
        (None when no answer came: a timeout, a refused connection)."""

    def auth_check(self, result: str) -> None:
        """The forward-auth server answered one check; ``result`` is in :data:`AUTH_RESULTS`."""


class BaseObserver:
    """An :class:`Observer` that does nothing: subclass it and override what you need."""

    def signin_started(self) -> None:
        pass

    def signin_completed(self) -> None:
        pass

    def signin_failed(self, reason: str) -> None:
        pass

    def okta_request(self, endpoint: str, seconds: float, status: int | None) -> None:
        pass

    def auth_check(self, result: str) -> None:
        pass
