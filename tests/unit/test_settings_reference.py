"""The settings reference is made from ``Settings``: every field described, every field
with a variable (or code-only), one row each; and the README's table names them all."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from okta_magiclink_mw import _environment, _reference
from okta_magiclink_mw.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ARGUMENTS = [f.name for f in dataclasses.fields(Settings) if f.init]


def test_every_setting_has_a_description() -> None:
    described = _reference.descriptions()
    missing = [name for name in ARGUMENTS if not described.get(name, "").strip()]
    assert not missing, f"add a #: comment above these fields in settings.py: {missing}"


def test_every_setting_has_an_environment_variable_or_is_code_only() -> None:
    for name in ARGUMENTS:
        variable = _environment.variable_of(name)
        assert (variable is None) == (name in _environment.CODE_ONLY), name


def test_descriptions_are_the_comments_right_above_each_field() -> None:
    described = _reference.descriptions()
    assert described["issuer"] == (
        "The authorization server, e.g. ``https://{org}.okta.com/oauth2/default``."
    )
    # Two fields in a row: each has its own comment, not its neighbour's.
    assert described["login_path"] != described["logout_path"]
    assert "sign-out page" in described["logout_path"]
    assert not any(text.startswith("#") for text in described.values())


def test_the_table_has_one_row_per_setting_in_order() -> None:
    lines = _reference.table().splitlines()
    assert lines[0].startswith("| Setting | Environment | Default | Description |")
    body = lines[2:]
    assert [re.match(r"\| `(\w+)`", line)[1] for line in body] == ARGUMENTS  # type: ignore[index]
    rows = dict(zip(ARGUMENTS, body, strict=True))
    assert "`OKTA_ISSUER`" in rows["issuer"]
    assert "required" in rows["issuer"]
    assert "(code only)" in rows["login_page"]
    assert "`28800` (8 h)" in rows["session_max_age"]
    assert "(comma-separated)" in rows["allowed_groups"]
    assert "(true, false or auto)" in rows["cookie_secure"]
    # Each row has exactly four cells: no unescaped | in a description.
    for line in body:
        outside_code = "".join(line.split("`")[::2]).replace(r"\|", "")
        assert outside_code.count("|") == 5, line


def test_markup_becomes_markdown() -> None:
    text = "A :class:`~okta_magiclink_mw.AccessRule`, a ``code`` and :data:`LoginPage`."
    assert _reference.markdown(text) == (
        "A [`AccessRule`][okta_magiclink_mw.AccessRule], a `code` and `LoginPage`."
    )
    titled = ":meth:`the guard <okta_magiclink_mw.starlette.require>`"
    assert _reference.markdown(titled) == "[`the guard`][okta_magiclink_mw.starlette.require]"


def _readme_settings_table() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| Setting (`Settings(...)`) |")
    rows = readme[start:].split("\n\n", 1)[0].splitlines()[2:]
    table: dict[str, str] = {}
    for row in rows:
        names_cell, variables_cell = row.split(" | ")[:2]
        for name in re.findall(r"`(\w+)`", names_cell):
            table[name] = variables_cell
    return table


def test_the_readme_table_names_every_setting_and_its_variable() -> None:
    table = _readme_settings_table()
    assert sorted(table) == sorted(ARGUMENTS), "the README's settings table is out of date"
    for name in ARGUMENTS:
        variable = _environment.variable_of(name)
        expected = f"`{variable}`" if variable else "(code only)"
        assert expected in table[name], (name, table[name])
