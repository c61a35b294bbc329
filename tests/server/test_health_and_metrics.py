"""``/ping``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

import sys
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from okta_magiclink_mw.stores import MemoryRecordStore, StoreUnavailable
from tests.conftest import NAV, Browser, FakeClock, FakeOkta, sign_in

from .conftest import MakeServer, auth, forward, sign_in_through_forward


def test_ping(server: Browser) -> None:
    r = server.get("/ping")
    assert (r.status_code, r.text) == (200, "ok\n")
    assert r.headers["cache-control"] == "no-store"


# -- /ready -------------------------------------------------------------------------------


def test_ready_when_okta_answers(server: Browser, okta: FakeOkta) -> None:
    r = server.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"okta": "ok"}}
    assert r.headers["cache-control"] == "no-store"
    assert (okta.discovery.call_count, okta.keys.call_count) == (1, 1)


def test_ready_is_cached_briefly(server: Browser, okta: FakeOkta) -> None:
    for _ in range(5):
        assert server.get("/ready").status_code == 200
    assert (okta.discovery.call_count, okta.keys.call_count) == (1, 1)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (httpx.ConnectError("refused"), "idp_unreachable: discovery: unreachable (ConnectError)"),
        (httpx.ReadTimeout("slow"), "idp_timeout: discovery: timed out"),
        (httpx.Response(500, text="upstream-secret-body"), "discovery: unexpected HTTP status"),
        (httpx.Response(200, json={"issuer": "https://evil.example"}), "issuer mismatch"),
    ],
)
def test_ready_okta_down_is_503(
    make_server: MakeServer, okta: FakeOkta, fault: Any, reason: str
) -> None:
    server = make_server(OKTA_MW_READY_CACHE="0")
    okta.discovery.mock(side_effect=[fault])
    r = server.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert reason in body["checks"]["okta"]
    assert "upstream-secret-body" not in r.text
    # Okta is back: so is the server, at the next probe (no cache here).
    okta.discovery.mock(side_effect=lambda request: httpx.Response(200, json=okta.discovery_doc))
    assert server.get("/ready").status_code == 200


def test_ready_bad_keys_is_503(make_server: MakeServer, okta: FakeOkta) -> None:
    server = make_server(OKTA_MW_READY_CACHE="0")
    okta.keys.mock(side_effect=[httpx.Response(200, json={"keys": []})])
    r = server.get("/ready")
    assert r.status_code == 503
    assert "jwks: no usable RS256 signing key" in r.json()["checks"]["okta"]


class FlakyStore(MemoryRecordStore):
    """An in-process store that can be made unreachable."""

    down = False

    async def aload(self, session_id: str) -> Any:
        if self.down:
            raise StoreUnavailable()
        return await super().aload(session_id)


def test_ready_checks_the_store(make_server: MakeServer, clock: FakeClock) -> None:
    store = FlakyStore(clock=clock)
    server = make_server(session_store=store, OKTA_MW_READY_CACHE="0")
    r = server.get("/ready")
    assert r.json() == {"status": "ready", "checks": {"okta": "ok", "store": "ok"}}
    store.down = True
    r = server.get("/ready")
    assert r.status_code == 503
    assert r.json()["checks"] == {"okta": "ok", "store": "store_unavailable"}


# -- /metrics --------------------------------------------------------------------------------


def samples(server: Browser) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = server.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_after_a_sign_in(server: Browser, okta: FakeOkta) -> None:
    done = sign_in_through_forward(server, okta)
    assert done.status_code == 302
    assert forward(server, "/reports").status_code == 200
    # A callback another browser did not start: a failed sign-in, by its reason.
    stranger = server.other_browser()
    bad = stranger.get("/login/callback?state=" + "s" * 43 + "&interaction_code=x", headers=NAV)
    assert bad.status_code == 403
    stranger.close()
    found = samples(server)
    assert value(found, "okta_magiclink_signins_started_total") == 1
    assert value(found, "okta_magiclink_signins_completed_total") == 1
    assert value(found, "okta_magiclink_signins_failed_total", reason="state_mismatch") == 1
    for endpoint in ("/.well-known/openid-configuration", "/v1/token", "/v1/keys"):
        assert (
            value(found, "okta_magiclink_okta_requests_total", endpoint=endpoint, outcome="2xx")
            == 1
        ), endpoint
        assert (
            value(found, "okta_magiclink_okta_request_duration_seconds_count", endpoint=endpoint)
            == 1
        )
        assert (
            value(
                found,
                "okta_magiclink_okta_request_duration_seconds_bucket",
                endpoint=endpoint,
                le="+Inf",
            )
            == 1
        )
    assert value(found, "okta_magiclink_auth_checks_total", result="unauthenticated") == 1
    assert value(found, "okta_magiclink_auth_checks_total", result="allowed") == 1
    assert value(found, "okta_magiclink_auth_checks_total", result="forbidden") == 0
    # Nothing secret in the metrics: no code, no state, no token.
    text = server.get("/metrics").text
    assert okta.id_tokens[0] not in text
    assert "interaction_code" not in text


def test_metrics_count_okta_failures(make_server: MakeServer, okta: FakeOkta) -> None:
    server = make_server(OKTA_MW_READY_CACHE="0")
    okta.fault = "timeout"
    done = sign_in(server, okta)
    assert done.status_code == 504
    found = samples(server)
    assert (
        value(found, "okta_magiclink_okta_requests_total", endpoint="/v1/token", outcome="error")
        == 1
    )
    assert value(found, "okta_magiclink_signins_failed_total", reason="idp_timeout") == 1
    okta.discovery.mock(side_effect=[httpx.Response(503)])
    server.get("/ready")
    found = samples(server)
    assert (
        value(
            found,
            "okta_magiclink_okta_requests_total",
            endpoint="/.well-known/openid-configuration",
            outcome="5xx",
        )
        == 1
    )


def test_without_prometheus_metrics_is_501(
    make_server: MakeServer, okta: FakeOkta, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.delitem(sys.modules, "okta_magiclink_mw.server._metrics", raising=False)
    server = make_server()
    r = server.get("/metrics")
    assert r.status_code == 501
    assert "pip install 'okta-magiclink-mw[metrics]'" in r.text
    # The rest of the server works, and sign-ins are not observed at all.
    assert server.core.observer is None
    assert sign_in(server, okta).status_code == 302
    assert auth(server, "/x").status_code == 202
    assert server.get("/ping").status_code == 200
