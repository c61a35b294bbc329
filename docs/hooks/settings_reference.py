"""The settings reference: the table of docs/reference/settings.md, made from ``Settings``.

The page holds the marker line ``<!-- settings-table -->``; this hook puts in its place the
table of ``okta_magiclink_mw._reference`` (one row per field: its variable, type, default
and the field's ``#:`` comment in settings.py), so the page cannot drift from the code.
"""

from __future__ import annotations

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

MARKER = "<!-- settings-table -->"


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri != "reference/settings.md":
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"reference/settings.md must hold the line {MARKER}")
    from okta_magiclink_mw import _reference

    table = f'<div class="settings-reference" markdown>\n\n{_reference.table()}\n</div>'
    return markdown.replace(MARKER, table)
