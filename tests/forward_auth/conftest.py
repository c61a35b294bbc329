"""A failing test through a proxy gets the tail of every process's log in its report."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from ._gateway import attach_logs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    attach_logs(item, outcome.get_result())
