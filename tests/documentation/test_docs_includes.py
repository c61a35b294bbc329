"""Every ``--8<--`` include of the documentation reaches pymdownx.snippets intact.

``ruff format`` formats ```` ```python ```` fences in Markdown files, and turns an include
line in one into ``--8 < --"file"``, which snippets no longer recognises: the page then shows
that line instead of the code, and the strict build does not notice. A fence that holds an
include must sit between ``<!-- fmt: off -->`` and ``<!-- fmt: on -->``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").rglob("*.md"))
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>\w*)")
MANGLED = re.compile(r"--8\s+<\s*--|--8<\s+--|--8\s+<--")


def unprotected_python_includes(text: str) -> list[int]:
    """Line numbers of include lines in ```python fences that ruff format may rewrite."""
    lines = text.splitlines()
    found: list[int] = []
    formatting = True
    fence_lang: str | None = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped == "<!-- fmt: off -->":
            formatting = False
        elif stripped == "<!-- fmt: on -->":
            formatting = True
        match = FENCE.match(line)
        if match:
            fence_lang = match["lang"] if fence_lang is None else None
            continue
        if fence_lang in {"python", "py"} and formatting and "--8<--" in line:
            found.append(number)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_include_line_is_mangled(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert not MANGLED.search(text), f"{page}: an include line was reformatted"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_fences_with_includes_are_kept_from_ruff_format(page: Path) -> None:
    assert unprotected_python_includes(page.read_text(encoding="utf-8")) == []


def test_the_checks_see_a_mangled_or_unprotected_include() -> None:
    unprotected = '```python\n--8<-- "examples/a.py"\n```\n'
    protected = "<!-- fmt: off -->\n" + unprotected + "<!-- fmt: on -->\n"
    indented = '    <!-- fmt: off -->\n    ```python\n    --8<-- "a.py"\n    ```\n'
    assert unprotected_python_includes(unprotected) == [2]
    assert unprotected_python_includes(protected) == []
    assert unprotected_python_includes(indented) == []
    assert unprotected_python_includes('```console\n--8<-- "a.txt"\n```\n') == []
    assert MANGLED.search('--8 < --"examples/a.py"')
    assert not MANGLED.search('--8<-- "examples/a.py"')
