"""The pytest plugin's FakeOkta server: one for the session, the current test's org."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from okta_magiclink_mw.testing import FakeOkta
from okta_magiclink_mw.testing._loopback import MISSING_UVICORN, FakeOktaServer


@pytest.fixture
def server() -> Iterator[FakeOktaServer]:
    running = FakeOktaServer()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_serves_the_current_org_only(server: FakeOktaServer) -> None:
    discovery = "/oauth2/default/.well-known/openid-configuration"
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        idle = http.get(discovery)
        assert idle.status_code == 503
        assert "No test is running" in idle.text
        first, second = FakeOkta(base_url=server.url), FakeOkta(base_url=server.url)
        with server.serving(first):
            answer = http.get(discovery)
            assert answer.status_code == 200
            assert answer.headers["connection"] == "close"
        with server.serving(second):
            http.get(discovery)
        assert http.get(discovery).status_code == 503
    assert first.request_count(discovery) == 1
    assert second.request_count(discovery) == 1


def test_listens_on_loopback_only(server: FakeOktaServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")


def test_without_uvicorn_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    server = FakeOktaServer()
    try:
        with pytest.raises(RuntimeError, match=r"okta-magiclink-mw\[testing\]") as failed:
            server.start()
        assert str(failed.value) == MISSING_UVICORN
    finally:
        server.stop()
