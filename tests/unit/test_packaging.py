"""pyproject.toml: valid classifiers, the project's URLs, and extras the checks rely on."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from trove_classifiers import classifiers as valid_classifiers
from trove_classifiers import deprecated_classifiers

ROOT = Path(__file__).resolve().parents[2]
HOME = "https://github.com/okta-magiclink-mw/okta-magiclink-mw"


def project() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return data


def test_every_classifier_is_a_valid_trove_classifier() -> None:
    classifiers = project()["classifiers"]
    assert [c for c in classifiers if c not in valid_classifiers] == []
    assert [c for c in classifiers if c in deprecated_classifiers] == []
    assert classifiers == sorted(set(classifiers))
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    # a license classifier next to an SPDX `license` is refused by PEP 639 tools
    assert not [c for c in classifiers if c.startswith("License ::")]


def test_the_project_urls() -> None:
    assert project()["urls"] == {
        "Homepage": HOME,
        "Source": HOME,
        "Documentation": "https://okta-magiclink-mw.github.io/okta-magiclink-mw/",
        "Issues": f"{HOME}/issues",
        "Changelog": f"{HOME}/blob/main/CHANGES.md",
    }


def test_extras() -> None:
    extras = project()["optional-dependencies"]
    assert any(dep.startswith("uvicorn") for dep in extras["testing"])
    dev = " ".join(extras["dev"])
    assert "build" in dev
    assert "trove-classifiers" in dev
    assert "testing" in dev


def test_the_package_ships_its_type_marker_and_the_gitignore_keeps_junk_out() -> None:
    assert (ROOT / "okta_magiclink_mw" / "py.typed").is_file()
    ignored = (ROOT / ".gitignore").read_text().split()
    for junk in ("node_modules", ".venv", "test-artifacts/", "site/", "mutants/", "dist/"):
        assert junk in ignored, junk
