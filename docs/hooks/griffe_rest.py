"""A griffe extension: the package's reST-ish docstrings, read as Markdown by mkdocstrings.

The docstrings are written for ``help()`` and editors, in the Sphinx manner that the
``sphinx`` docstring style parses (``:param x:``, ``:raises X:``). The rest of their reST
would show raw on the site, so before rendering:

- roles (``:class:`~okta_magiclink_mw.OktaUser```, ``:meth:`close```...) become code that
  links to the object's entry when the reference documents it (an optional cross-reference:
  a private object, documented nowhere, stays plain code instead of failing the build);
- ``.. code-block:: python`` and a paragraph ending in ``::`` become fenced code blocks;
- the field list (``:param x:``...) moves to the end: the parser would make a paragraph
  that follows it part of the last field's text (of the last parameter's, say).

``Xs`` in double backticks is already a Markdown code span.
"""

from __future__ import annotations

import re
import textwrap
from html import escape
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|attr|exc|mod|obj|const):`(~?)([^`]+)`")
_TITLED = re.compile(r"^(.*?)\s*<([^<>]+)>$")
_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::\s*(\w*)\s*$")
_FIELD = re.compile(
    r"^:(?:param|parameter|arg|argument|key|keyword|type|raises?|except|exception"
    r"|returns?|rtype|yields?|var|ivar|cvar|vartype)\b"
)


def _qualified(target: str, obj: griffe.Object) -> str:
    if target.startswith("okta_magiclink_mw"):
        return target
    try:
        return obj.resolve(target)
    except (griffe.NameResolutionError, ValueError, AttributeError):
        return target


def roles(text: str, obj: griffe.Object) -> str:
    """Sphinx roles as optional cross-references around code."""

    def link(match: re.Match[str]) -> str:
        short, target = match[1], match[2].strip()
        titled = _TITLED.match(target)  # :meth:`the title <the.target>`
        if titled:
            shown, target = titled[1].strip(), titled[2].lstrip(".")
        else:
            target = target.lstrip(".")
            shown = target.rsplit(".", 1)[-1] if short else target
        identifier = escape(_qualified(target, obj), quote=True)
        return f'<autoref optional identifier="{identifier}"><code>{escape(shown)}</code></autoref>'

    return _ROLE.sub(link, text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int) -> tuple[list[str], int]:
    """The indented block that starts at ``lines[start]`` (blank lines first), dedented,
    and the index after it."""
    end = start
    while end < len(lines) and not lines[end].strip():
        end += 1
    if end == len(lines):
        return [], end
    indent = _indent(lines[end])
    body_end = end
    while body_end < len(lines) and (
        not lines[body_end].strip() or _indent(lines[body_end]) >= indent
    ):
        body_end += 1
    while body_end > end and not lines[body_end - 1].strip():
        body_end -= 1
    return textwrap.dedent("\n".join(lines[end:body_end])).splitlines(), body_end


def fields_last(text: str) -> str:
    """The field list (each ``:param x:`` line and its indented lines) after the rest.

    Paragraphs that follow the fields in the source (a usage note, an example) would
    otherwise be read as more text of the last field."""
    lines = text.splitlines()
    in_field = [False] * len(lines)
    current = False
    for index, line in enumerate(lines):
        if _FIELD.match(line):
            current = True
        elif current and line.strip() and _indent(line) == 0:
            current = False
        elif current and not line.strip():
            following = next((later for later in lines[index + 1 :] if later.strip()), "")
            current = _indent(following) > 0 or bool(_FIELD.match(following))
        in_field[index] = current
    if True not in in_field:
        return text
    first = in_field.index(True)
    if not any(
        line.strip() and not field
        for line, field in zip(lines[first:], in_field[first:], strict=True)
    ):
        return text  # nothing follows the fields
    rest: list[str] = []
    for index, (line, field) in enumerate(zip(lines, in_field, strict=True)):
        after_fields = index > 0 and in_field[index - 1]
        if not field and not (after_fields and not line.strip() and rest and not rest[-1].strip()):
            rest.append(line)  # (the blank lines around the fields become one)
    fields = [line for line, field in zip(lines, in_field, strict=True) if field]
    while rest and not rest[-1].strip():
        rest.pop()
    while fields and not fields[-1].strip():
        fields.pop()
    return "\n".join([*rest, "", *fields])


def code_blocks(text: str) -> str:
    """``.. code-block:: lang`` and ``...::`` literal blocks as fenced code."""
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE.match(line)
        literal = line.rstrip().endswith("::") and not directive and line.strip() != "::"
        if directive or literal:
            body, after = _block(lines, index + 1)
            if body:
                if directive:  # the directive's line becomes the fence
                    lang = directive[2] or "python"
                else:  # "in one line::" reads "in one line:", then the block
                    out += [line.rstrip()[:-1], ""]
                    lang = "python"
                out += [f"```{lang}", *body, "```"]
                index = after
                continue
        out.append(line)
        index += 1
    return "\n".join(out)


class RestToMarkdown(griffe.Extension):
    """Rewrites each docstring's reST roles and code blocks as Markdown."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = roles(code_blocks(fields_last(obj.docstring.value)), obj)
