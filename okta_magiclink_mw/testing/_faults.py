"""Fault injection knobs for :class:`~okta_magiclink_mw.testing.FakeOkta`."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Endpoint names accepted by the knobs (``"*"`` means every endpoint).
ENDPOINTS = frozenset(
    {
        "discovery",
        "keys",
        "org_keys",
        "interact",
        "token",
        "userinfo",
        "revoke",
        "logout",
        "introspect",
        "identify",
        "challenge",
        "poll",
        "resend",
        "answer",
        "cancel",
    }
)


class ConnectionDropped(Exception):
    """Raised inside the app to make the server abort the connection.

    Over a real socket uvicorn closes the connection after the response
    headers, so clients see an incomplete response. The in-process
    transports of :class:`FakeOkta` turn it into :class:`httpx.RemoteProtocolError`.
    """


@dataclass
class Faults:
    """Knobs that make endpoints slow or broken. All default to "healthy".

    Endpoints are named ``discovery, keys, org_keys, interact, token, userinfo,
    revoke, logout, introspect, identify, challenge, poll, resend, answer, cancel``
    (``org_keys`` is the org authorization server's ``/oauth2/v1/keys``);
    ``"*"`` in a mapping or set applies to all of them.

    Example::

        fake.faults.latency = 0.2                  # every endpoint
        fake.faults.endpoint_latency["token"] = 2  # plus 2 s on /v1/token
        fake.faults.status_5xx["keys"] = 503
        fake.faults.malformed_body.add("discovery")
        fake.faults.drop_connection.add("token")
        fake.faults.jwks_down = True               # /v1/keys answers 503
        fake.faults.reset()
    """

    latency: float = 0.0
    endpoint_latency: dict[str, float] = field(default_factory=dict)
    status_5xx: dict[str, int] = field(default_factory=dict)
    malformed_body: set[str] = field(default_factory=set)
    drop_connection: set[str] = field(default_factory=set)
    jwks_down: bool = False

    def reset(self) -> None:
        """Back to a healthy org."""
        self.latency = 0.0
        self.endpoint_latency.clear()
        self.status_5xx.clear()
        self.malformed_body.clear()
        self.drop_connection.clear()
        self.jwks_down = False

    def delay_for(self, endpoint: str) -> float:
        """Seconds to wait before answering ``endpoint``."""
        extra = self.endpoint_latency.get(endpoint, self.endpoint_latency.get("*", 0.0))
        return self.latency + extra

    def status_for(self, endpoint: str) -> int | None:
        """Forced 5xx status for ``endpoint``, if any."""
        status = self.status_5xx.get(endpoint, self.status_5xx.get("*"))
        if status is None and endpoint == "keys" and self.jwks_down:
            return 503
        return status

    def is_malformed(self, endpoint: str) -> bool:
        """Whether ``endpoint`` answers with a broken body."""
        return endpoint in self.malformed_body or "*" in self.malformed_body

    def drops(self, endpoint: str) -> bool:
        """Whether ``endpoint`` aborts the connection instead of answering."""
        return endpoint in self.drop_connection or "*" in self.drop_connection
