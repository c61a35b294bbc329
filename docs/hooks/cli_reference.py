"""The command-line reference: each command's ``--help``, from the real argument parsers.

docs/reference/cli.md holds the marker line ``<!-- cli-help -->``; this hook replaces it
with the help of ``okta-magiclink-mw``, of each of its commands and of
``python -m okta_magiclink_mw.client_key``, as argparse prints them, so the page lists
exactly the commands and options there are.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

MARKER = "<!-- cli-help -->"
PROG = "okta-magiclink-mw"
CONFIDENTIAL = "../okta-setup.md#confidential-apps-client-secret-or-private-key"


class _Built(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def built_parser(main: Callable[[], object]) -> argparse.ArgumentParser:
    """The parser ``main`` builds, caught at its ``parse_args``, before it runs anything."""

    def caught(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Built(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", caught):
        try:
            main()
        except _Built as built:
            return built.parser
    raise PluginError(f"{main} did not parse its arguments")


@contextmanager
def _columns(width: int) -> Iterator[None]:
    # argparse wraps help to $COLUMNS: a fixed width makes the page the same everywhere.
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def commands(main: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """The subcommands of ``main``, by name, in the order of its help: (help, parser)."""
    for action in main._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return {name: (helps.get(name, ""), sub) for name, sub in action.choices.items()}
    return {}


def _console(command: str, parser: argparse.ArgumentParser) -> list[str]:
    return ["```console", f"$ {command} --help", parser.format_help().rstrip(), "```", ""]


def help_markdown() -> str:
    from okta_magiclink_mw import cli, client_key

    with _columns(88):
        main = built_parser(lambda: cli.main([], prog=PROG))
        parts = _console(PROG, main)
        for name, (summary, sub) in commands(main).items():
            parts += [f"## `{name}`", "", summary[:1].upper() + summary[1:] + ".", ""]
            parts += _console(f"{PROG} {name}", sub)
        parts += [
            "## `python -m okta_magiclink_mw.client_key`",
            "",
            "The public half of a `private_key_jwt` key, as the JWK to register in Okta (see",
            f"[Confidential apps]({CONFIDENTIAL})).",
            "",
            *_console(
                "python -m okta_magiclink_mw.client_key",
                built_parser(lambda: client_key.main([])),
            ),
        ]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri != "reference/cli.md":
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"reference/cli.md must hold the line {MARKER}")
    return markdown.replace(MARKER, help_markdown())
