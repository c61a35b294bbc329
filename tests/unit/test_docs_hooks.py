"""The docs site's hooks: links in included README text, the command-line reference and
the docstring markup (``make docs`` builds the whole site, strictly, in CI)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install '.[docs]')")
pytest.importorskip("pymdownx", reason="the docs extra is not installed (pip install '.[docs]')")
pytest.importorskip("griffe", reason="the docs extra is not installed (pip install '.[docs]')")

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "docs" / "hooks"


def hook(name: str) -> ModuleType:
    """A hook of mkdocs.yml, imported as ``docs.hooks.<name>`` from this checkout."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"docs.hooks.{name}")


@pytest.fixture(scope="module")
def links() -> ModuleType:
    module = hook("included_links")
    module._repo_url = "https://github.com/o/r"
    return module


def test_readme_anchors_go_to_the_page_that_includes_the_section(links: ModuleType) -> None:
    lines = ["See [Deploying](#deploying) and [it](README.md#your-own-login-page)."]
    assert links.rewrite(lines, "README.md") == [
        "See [Deploying](/deploying.md) and [it](/login-page.md)."
    ]


def test_an_anchor_no_page_includes_fails_the_build(links: ModuleType) -> None:
    with pytest.raises(PluginError, match="#development"):
        links.rewrite(["[x](#development)"], "README.md")


def test_repository_files_go_to_github_and_pages_to_pages(links: ModuleType) -> None:
    lines = [
        "[a](examples/nginx.conf) [b](SECURITY.md) [c](benchmarks/README.md#forward-auth)",
        "![chart](benchmarks/results/latest.png) [d](https://example.com/x)",
    ]
    assert links.rewrite(lines, "README.md") == [
        "[a](https://github.com/o/r/blob/main/examples/nginx.conf) [b](/security.md) "
        "[c](https://github.com/o/r/blob/main/benchmarks/README.md#forward-auth)",
        "![chart](/img/benchmarks/latest.png) [d](https://example.com/x)",
    ]


def test_links_are_relative_to_the_included_file(links: ModuleType) -> None:
    assert links.rewrite(["[n](nginx.conf)"], "examples/forward_auth/README.md") == [
        "[n](https://github.com/o/r/blob/main/examples/forward_auth/nginx.conf)"
    ]


def test_a_link_to_nothing_fails_the_build(links: ModuleType) -> None:
    with pytest.raises(PluginError, match="does not exist"):
        links.rewrite(["[x](examples/nope.py)"], "README.md")
    with pytest.raises(PluginError, match="does not exist"):
        links.rewrite(["[x](../outside.md)"], "README.md")


def test_code_blocks_are_left_alone(links: ModuleType) -> None:
    lines = ["```python", "x = y[0](#deploying)", "```"]
    assert links.rewrite(lines, "README.md") == lines


def test_every_readme_anchor_points_at_a_page_that_exists(links: ModuleType) -> None:
    for target in links.README_ANCHORS.values():
        assert (HOOKS.parent / target.split("#")[0]).is_file(), target


def test_the_cli_reference_has_every_command() -> None:
    from okta_magiclink_mw import cli

    module = hook("cli_reference")
    main = module.built_parser(lambda: cli.main([], prog=module.PROG))
    names = list(module.commands(main))
    assert {"demo", "serve", "check-config", "doctor"} <= set(names)
    page = module.help_markdown()
    for name in names:
        assert f"## `{name}`" in page
        assert f"$ okta-magiclink-mw {name} --help\nusage: okta-magiclink-mw {name}" in page
    assert "usage: python -m okta_magiclink_mw.client_key" in page


def test_docstring_markup_becomes_markdown() -> None:
    module = hook("griffe_rest")
    text = "Wrap it::\n\n    app = X(app)\n\nThen\n\n.. code-block:: python\n\n    y = 1\n"
    assert module.code_blocks(text) == (
        "Wrap it:\n\n```python\napp = X(app)\n```\n\nThen\n\n```python\ny = 1\n```"
    )


def test_roles_become_optional_cross_references() -> None:
    import griffe

    module = hook("griffe_rest")
    package = griffe.load("okta_magiclink_mw", search_paths=[str(ROOT)])
    wsgi = package["OktaMagicLinkWSGI"]
    assert module.roles(":class:`~okta_magiclink_mw.OktaUser`", wsgi) == (
        '<autoref optional identifier="okta_magiclink_mw.OktaUser"><code>OktaUser</code></autoref>'
    )
    assert 'identifier="okta_magiclink_mw.wsgi.OktaMagicLinkWSGI.close"' in module.roles(
        ":meth:`close`", wsgi
    )
    titled = ":meth:`user.token() <okta_magiclink_mw.OktaUser.access_token>`"
    assert module.roles(titled, wsgi) == (
        '<autoref optional identifier="okta_magiclink_mw.OktaUser.access_token">'
        "<code>user.token()</code></autoref>"
    )


def test_github_nesting_becomes_python_markdown_nesting(links: ModuleType) -> None:
    nested = ["- a:", "  - b, then code:", "", "  ```console", "  $ run", "  ```"]
    at_the_margin = ["```python", "def f():", "    return 1", "```"]
    assert links.nest(nested + at_the_margin) == [
        "- a:",
        "    - b, then code:",
        "",
        "    ```console",
        "    $ run",
        "    ```",
        *at_the_margin,
    ]


def test_text_after_the_fields_stays_out_of_the_last_field() -> None:
    module = hook("griffe_rest")
    text = (
        "Wrap it.\n\n:param app: the app.\n:param observer: an observer;\n    None by default.\n\n"
        "Give the server time.\n\n.. code-block:: python\n\n    app = X(app)\n"
    )
    assert module.fields_last(text) == (
        "Wrap it.\n\nGive the server time.\n\n.. code-block:: python\n\n    app = X(app)\n\n"
        ":param app: the app.\n:param observer: an observer;\n    None by default."
    )
    fields_at_the_end = "Wrap it.\n\n:param app: the app.\n    More.\n"
    assert module.fields_last(fields_at_the_end) == fields_at_the_end
    assert module.fields_last("No fields.\n\nAt all.") == "No fields.\n\nAt all."
