"""The settings reference, made from ``Settings`` itself (the docs site's settings page).

One row per argument of ``Settings``: its name, its environment variable (from
``_environment``), its type, its default, and its description: the ``#:`` comment above
the field in settings.py, read from the source with ``ast`` so the page cannot drift from
the code. A test checks that every field has both a description and a variable (or is
code-only).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from dataclasses import dataclass

from . import _environment, settings

#: Environment parsers and how their text is written.
_FORMATS: dict[_environment.Parse, str] = {
    _environment.items: "comma-separated",
    _environment.words: "space- or comma-separated",
    _environment.flag: "true or false",
    _environment.flag_or_auto: "true, false or auto",
    _environment.access_rules: "JSON",
    _environment.pem: r"PEM; `\n` may stand for line breaks",
}
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


@dataclass(frozen=True)
class Row:
    """One setting, as the reference shows it."""

    name: str
    variable: str | None  # None: code only
    variable_format: str | None
    type: str
    default: str
    required: bool
    description: str


def descriptions() -> dict[str, str]:
    """Each ``Settings`` field's ``#:`` comment (joined into one line), by field name; a
    field without one is missing."""
    source = inspect.getsource(settings)
    lines = source.splitlines()
    tree = ast.parse(source)
    found: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and node.name == "Settings"):
            continue
        for statement in node.body:
            if not isinstance(statement, ast.AnnAssign):
                continue
            if not isinstance(statement.target, ast.Name):
                continue
            comment: list[str] = []
            index = statement.lineno - 2  # the line above, 0-based
            while index >= 0 and lines[index].strip().startswith("#:"):
                comment.insert(0, lines[index].strip()[2:].strip())
                index -= 1
            if comment:
                found[statement.target.id] = " ".join(comment)
    return found


def _annotations() -> dict[str, str]:
    tree = ast.parse(inspect.getsource(settings.Settings))
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef)
    return {
        s.target.id: ast.unparse(s.annotation)
        for s in cls.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
    }


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _default(field: dataclasses.Field[object], parser: object) -> tuple[str, bool]:
    if field.default is not dataclasses.MISSING:
        value = field.default
        if parser is _environment.seconds and isinstance(value, int | float) and value:
            return f"`{value!r}` ({_duration(float(value))})", False
        return f"`{value!r}`", False
    return "required", True


def rows() -> list[Row]:
    """The reference's rows, in the order of ``Settings``'s fields."""
    described = descriptions()
    types = _annotations()
    table = {**_environment.REQUIRED, **_environment.OPTIONAL}
    result = []
    for field in dataclasses.fields(settings.Settings):
        if not field.init:
            continue
        variable, parser = table.get(field.name, (None, None))
        default, required = _default(field, parser)
        result.append(
            Row(
                name=field.name,
                variable=variable,
                variable_format=_FORMATS.get(parser) if parser else None,
                type=types[field.name],
                default=default,
                required=required,
                description=described.get(field.name, ""),
            )
        )
    return result


def markdown(text: str) -> str:
    """A ``#:`` comment's reST-ish markup as Markdown: ``code`` and :class:`~x.Y` roles
    become code spans; roles naming this package link to the API reference."""

    def role(match: re.Match[str]) -> str:
        target = match[1]
        name = target.rsplit(".", 1)[-1]
        titled = re.match(r"^(.*?)\s*<([^<>]+)>$", target)  # :meth:`title <target>`
        if titled:
            name, target = titled[1], titled[2]
        if target.startswith("okta_magiclink_mw."):
            return f"[`{name}`][{target}]"
        return f"`{name}`"

    return _LITERAL.sub(r"`\1`", _ROLE.sub(role, text))


def _cell(text: str) -> str:
    """``text`` safe in a table cell: a ``|`` outside code spans is escaped (Markdown's
    tables already leave the ones inside code spans alone)."""
    parts = text.split("`")
    return "`".join(part if i % 2 else part.replace("|", r"\|") for i, part in enumerate(parts))


def table() -> str:
    """The settings reference as a Markdown table: one row per argument of ``Settings``."""
    out = [
        "| Setting | Environment | Default | Description |",
        "|---|---|---|---|",
    ]
    for row in rows():
        if row.variable is None:
            variable = "(code only)"
        else:
            variable = f"`{row.variable}`" + (
                f"<br>({row.variable_format})" if row.variable_format else ""
            )
        cells = (
            f"`{row.name}`<br>`{row.type}`",
            variable,
            row.default,
            markdown(row.description),
        )
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out) + "\n"
