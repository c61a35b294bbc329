"""A missing proxy skips the gateway tests with its reason, except under CI, where
OKTA_MW_REQUIRE_PROXIES (or OKTA_MW_REQUIRE_REDIS) makes it a failure."""

from __future__ import annotations

import pytest

from . import _gateway


@pytest.fixture
def no_caddy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(_gateway, "binary", lambda name: None if name == "caddy" else "/bin/true")
    monkeypatch.delenv("OKTA_MW_REQUIRE_PROXIES", raising=False)
    monkeypatch.delenv("OKTA_MW_REQUIRE_REDIS", raising=False)
    return monkeypatch


def test_a_missing_proxy_is_a_skip_that_says_how_to_install_it(
    no_caddy: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(
        pytest.skip.Exception, match=r"caddy not installed \(apt-get install caddy\)"
    ):
        _gateway.need("busybox", "caddy")
    _gateway.need("busybox", "nginx")  # present: nothing happens


@pytest.mark.parametrize("variable", ["OKTA_MW_REQUIRE_PROXIES", "OKTA_MW_REQUIRE_REDIS"])
def test_under_ci_a_missing_proxy_is_a_failure(no_caddy: pytest.MonkeyPatch, variable: str) -> None:
    no_caddy.setenv(variable, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{variable} is set"):
        _gateway.need("caddy")
