"""Browser tests need Debian's chromium and the widget from npm; CI requires them."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from okta_magiclink_mw.testing import find_widget_dist
from tests.forward_auth._gateway import attach_logs

CHROMIUM = Path("/usr/bin/chromium")


def missing_prerequisite() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    if find_widget_dist() is None:
        return "node_modules/@okta/okta-signin-widget is missing (npm ci)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[tests]')"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing_prerequisite()
    if reason is None:
        return
    if os.environ.get("OKTA_MW_REQUIRE_E2E"):
        raise pytest.UsageError(f"OKTA_MW_REQUIRE_E2E is set but {reason}")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """A failing test through a proxy gets the tail of every process's log in its report."""
    outcome = yield
    attach_logs(item, outcome.get_result())
