"""Prometheus metrics for the forward-auth server (the ``metrics`` extra).

An :class:`~okta_magiclink_mw._observe.Observer` that counts into its own registry
(two servers in one process, as in tests, never collide), and the text ``/metrics``
serves. Importing this module needs ``prometheus-client``; the server answers 501
on ``/metrics`` without it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from .._observe import AUTH_RESULTS

__all__ = ["CONTENT_TYPE", "PrometheusObserver"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Error codes are short snake_case words; anything else is counted as "other", so a
#: label can never grow without bound.
_REASON = re.compile(r"[a-z0-9_]{1,48}")
#: Okta answers in tens of milliseconds; a slow one takes seconds (the deadline is 10).
_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusObserver:
    """Counts sign-ins, Okta calls and auth checks; :meth:`render` is ``/metrics``.

    :param issuer: Okta endpoints are labelled by their path below the issuer's
        (``/v1/token``, ``/v1/keys``, ``/.well-known/openid-configuration``); other Okta
        paths keep their whole path (``/oauth2/v1/keys``, the org's keys).
    """

    def __init__(self, issuer: str) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self._base = urlsplit(issuer).path.rstrip("/")
        self._started = Counter(
            "okta_magiclink_signins_started",
            "Sign-in transactions begun (a redirect to sign in, or a fresh /login).",
            registry=registry,
        )
        self._completed = Counter(
            "okta_magiclink_signins_completed",
            "Sign-ins that ended with a session.",
            registry=registry,
        )
        self._failed = Counter(
            "okta_magiclink_signins_failed",
            "Sign-ins that ended on an error page, by the error's code.",
            ["reason"],
            registry=registry,
        )
        self._latency = Histogram(
            "okta_magiclink_okta_request_duration_seconds",
            "Time of each HTTP call to Okta, by endpoint path.",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self._okta = Counter(
            "okta_magiclink_okta_requests",
            "HTTP calls to Okta, by endpoint path and outcome (2xx, 4xx, 5xx, error).",
            ["endpoint", "outcome"],
            registry=registry,
        )
        checks = Counter(
            "okta_magiclink_auth_checks",
            "Forward-auth checks answered, by result.",
            ["result"],
            registry=registry,
        )
        # One child per result, made now: every result shows (at 0), and counting one
        # is a dict lookup and an increment, on the hot path of /auth.
        self._checks = {result: checks.labels(result=result) for result in AUTH_RESULTS}

    def signin_started(self) -> None:
        self._started.inc()

    def signin_completed(self) -> None:
        self._completed.inc()

    def signin_failed(self, reason: str) -> None:
        self._failed.labels(reason=reason if _REASON.fullmatch(reason) else "other").inc()

    def okta_request(self, endpoint: str, seconds: float, status: int | None) -> None:
        base = self._base
        if base and endpoint.startswith(base + "/"):
            endpoint = endpoint[len(base) :]
        outcome = "error" if status is None else f"{status // 100}xx"
        self._latency.labels(endpoint=endpoint).observe(seconds)
        self._okta.labels(endpoint=endpoint, outcome=outcome).inc()

    def auth_check(self, result: str) -> None:
        self._checks[result].inc()

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
