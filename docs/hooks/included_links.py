"""Links in text included from the repository (README.md, SECURITY.md...) point at this site.

The pages include README sections with pymdownx.snippets rather than copying them. Those
sections link the way GitHub reads them, relative to the README (``#deploying``,
``SECURITY.md``, ``examples/nginx.conf``), which would be broken links here. This hook swaps
snippets for a subclass that rewrites each included Markdown file's links as it is read:

- a heading of the README (``#deploying``) goes to the page that includes that section
  (``README_ANCHORS``: a link to a section no page includes fails the build, naming it);
- README.md, SECURITY.md and CHANGES.md go to their pages;
- the benchmark chart goes to the copy this hook adds to the site (``img/benchmarks/``);
- any other file of the repository goes to its page on GitHub;
- a link to nothing that exists fails the build.

It also doubles the indentation of nested lines (outside code blocks at the margin): GitHub
nests a list, or a code block in a list item, at 2 spaces, Python-Markdown at 4.

Rewritten links are docs-absolute (``/deploying.md#x``), which mkdocs resolves and checks
(``validation.links.absolute_links: relative_to_docs``).
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from pymdownx.snippets import SnippetExtension, SnippetPreprocessor

ROOT = Path(__file__).resolve().parents[2]

#: The README's headings that it links to, and where each one lives on this site.
README_ANCHORS = {
    "running-against-a-real-okta-org": "okta-setup.md",
    "confidential-apps-client-secret-or-private-key": (
        "okta-setup.md#confidential-apps-client-secret-or-private-key"
    ),
    "who-may-enter-allow-lists-groups-and-per-path-rules": "access.md",
    "access-tokens-for-the-app-and-sign-out-driven-by-okta": "tokens.md",
    "your-own-login-page": "login-page.md",
    "deploying": "deploying.md",
    "behind-a-proxy-or-mounted-under-a-prefix": (
        "deploying.md#behind-a-proxy-or-mounted-under-a-prefix"
    ),
    "health-and-metrics": "deploying.md#health-and-metrics",
}
#: Repository files that are pages here.
PAGES = {"README.md": "index.md", "SECURITY.md": "security.md", "CHANGES.md": "changelog.md"}
#: Repository files copied into the site (by ``on_files`` below), and their place there.
COPIED = {"benchmarks/results/latest.png": "img/benchmarks/latest.png"}

_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
_FENCE = re.compile(r"^\s*(```|~~~)")
_repo_url = ""


def _target(link: str, source: str) -> str:
    """Where ``link``, written in repository file ``source``, points on this site."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # https:, mailto: ...
        return link
    path, _, anchor = link.partition("#")
    if not path:
        path = source
    else:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    if path == "README.md" and anchor:
        if anchor not in README_ANCHORS:
            raise PluginError(
                f"{source} links to README section #{anchor}, which no page of the docs "
                "includes: include it in a page and add it to README_ANCHORS in "
                "docs/hooks/included_links.py"
            )
        return "/" + README_ANCHORS[anchor]
    if path in PAGES:
        return "/" + PAGES[path] + (f"#{anchor}" if anchor else "")
    if path in COPIED:
        return "/" + COPIED[path]
    if not (ROOT / path).exists() or path.startswith("../"):
        raise PluginError(f"{source} links to {link}, which does not exist")
    kind = "tree" if (ROOT / path).is_dir() else "blob"
    return f"{_repo_url}/{kind}/main/{path}" + (f"#{anchor}" if anchor else "")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def nest(lines: list[str]) -> list[str]:
    """GitHub's 2-space nesting as Python-Markdown's 4: indented lines get twice their
    indentation; a fenced block shifts with its fence (one at the margin is left as is)."""
    out: list[str] = []
    fence: int | None = None  # the indentation of the open fence
    for line in lines:
        indent = _indent(line)
        if fence is None:
            out.append(" " * indent + line if line.strip() else line)
            if _FENCE.match(line):
                fence = indent
        else:
            out.append(" " * fence + line if line.strip() else line)
            if _FENCE.match(line) and indent <= fence:
                fence = None
    return out


def rewrite(lines: list[str], source: str) -> list[str]:
    """``lines`` of Markdown file ``source`` with their links pointing at this site."""
    out: list[str] = []
    in_code = False
    for line in lines:
        if _FENCE.match(line):
            in_code = not in_code
        if not in_code:
            line = _LINK.sub(lambda m: m[1] + _target(m[2], source) + m[3], line)
        out.append(line)
    return out


class _Preprocessor(SnippetPreprocessor):  # type: ignore[misc]
    def process_snippet_lines(self, lines: list[str], target: dict[str, Any]) -> list[str]:
        snippet = Path(target["snippet"]).resolve()
        if snippet.suffix != ".md" or target["is_url"]:
            return lines
        source = snippet.relative_to(ROOT).as_posix()
        if source.startswith("docs/"):  # a page's own include: its links are the site's
            return lines
        mask = self.get_syntax_mask(lines, is_section=target["section"] is not None)
        rewritten = rewrite(nest(lines), source)
        return [old if keep else new for old, new, keep in zip(lines, rewritten, mask, strict=True)]


class _Snippets(SnippetExtension):  # type: ignore[misc]
    def extendMarkdown(self, md: Any) -> None:
        self.md = md
        md.registerExtension(self)
        md.preprocessors.register(_Preprocessor(self.getConfigs(), md), "snippet", 32)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    # The hooks that import the package (the settings and CLI references) document this
    # checkout, not whichever copy is installed (mkdocs restores sys.path after loading
    # hooks, so this is done here rather than at import).
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    package = sys.modules.get("okta_magiclink_mw")
    if package is not None and not Path(package.__file__ or "").is_relative_to(ROOT):
        raise PluginError(f"okta_magiclink_mw was imported from {package.__file__}, not {ROOT}")
    global _repo_url
    _repo_url = (config.repo_url or "").rstrip("/")
    extensions = config.markdown_extensions
    if "pymdownx.snippets" not in extensions:
        raise PluginError("mkdocs.yml must configure pymdownx.snippets")
    options = config.mdx_configs.pop("pymdownx.snippets", {})
    extensions[extensions.index("pymdownx.snippets")] = _Snippets(**options)
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for source, destination in COPIED.items():
        files.append(File.generated(config, destination, abs_src_path=str(ROOT / source)))
    return files
