"""The pictures of docs/magic-link.md cannot go missing or stale without a test failing.

They are screenshots the browser tests take (``make docs-screenshots``): every picture the page
shows exists, every PNG in its folder is shown, each is a whole PNG of the browser tests'
window size and small, and every step the tests publish has its picture. (Not in tests/unit:
``make mutation`` runs those in a copy of the package and the tests, without docs/.)
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest

from tests.e2e.test_browser_signin import (
    EXPIRED_LINK,
    OKTA_ERROR,
    OTHER_BROWSER,
    SAME_BROWSER,
    VIEWPORT,
)
from tests.e2e.test_browser_strict_okta import OKTA_HOSTED

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = DOCS / "magic-link.md"
FOLDER = DOCS / "img" / "magic-link"
MAX_BYTES = 150_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# ![alt](target) or ![alt](target "title"), as Markdown writes an image.
IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def shown() -> dict[str, str]:
    """The page's images: target -> alt text."""
    return {m["target"]: m["alt"] for m in IMAGE.finditer(PAGE.read_text(encoding="utf-8"))}


def pngs() -> list[Path]:
    return sorted(FOLDER.glob("*.png"))


class NotAPng(ValueError):
    """The bytes are not one whole PNG."""


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a whole PNG: the signature, every chunk's CRC, IHDR first, the
    image data inflating, IEND last and nothing after it. Raises NotAPng otherwise."""
    if not data.startswith(PNG_SIGNATURE):
        raise NotAPng("not a PNG signature")
    at, chunks, idat = len(PNG_SIGNATURE), [], b""
    while at < len(data):
        if at + 12 > len(data):
            raise NotAPng("truncated chunk")
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        if len(body) != length or zlib.crc32(kind + body) != crc:
            raise NotAPng(f"bad {kind!r} chunk")
        chunks.append((kind, body))
        if kind == b"IDAT":
            idat += body
        at += 12 + length
        if kind == b"IEND":
            break
    if at != len(data) or not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise NotAPng("IHDR not first, IEND not last, or bytes after IEND")
    try:
        zlib.decompress(idat)  # the pixels are all there
    except zlib.error as exc:
        raise NotAPng(f"image data: {exc}") from None
    width, height = struct.unpack(">II", chunks[0][1][:8])
    return width, height


def test_the_page_shows_pictures() -> None:
    assert PAGE.exists(), "docs/magic-link.md is missing"
    assert len(shown()) >= 5


def test_every_picture_the_page_shows_exists_in_its_folder() -> None:
    for target, alt in shown().items():
        assert target.startswith("img/magic-link/"), f"{target}: keep the pictures together"
        assert target.endswith(".png"), target
        assert (DOCS / target).is_file(), f"{target} is missing: make docs-screenshots"
        assert alt.strip(), f"{target} has no alt text"


def test_every_png_in_the_folder_is_shown() -> None:
    used = {DOCS / target for target in shown()}
    unused = [p.name for p in pngs() if p not in used]
    assert not unused, f"not shown by docs/magic-link.md (stale? delete them): {unused}"


def test_every_step_the_browser_tests_publish_has_its_picture() -> None:
    published = {
        name
        for steps in (SAME_BROWSER, OTHER_BROWSER, EXPIRED_LINK, OKTA_ERROR, OKTA_HOSTED)
        for name in steps.values()
    }
    assert len(published) == sum(
        len(s) for s in (SAME_BROWSER, OTHER_BROWSER, EXPIRED_LINK, OKTA_ERROR, OKTA_HOSTED)
    ), "two steps publish the same picture"
    on_disk = {p.stem for p in pngs()}
    assert published == on_disk, (
        f"missing: {sorted(published - on_disk)}, not from a test: {sorted(on_disk - published)}"
        " (make docs-screenshots)"
    )


@pytest.mark.parametrize("png", pngs(), ids=lambda p: p.name)
def test_each_picture_is_a_whole_png_of_the_browser_window_size_and_small(png: Path) -> None:
    data = png.read_bytes()
    assert png_size(data) == (VIEWPORT["width"], VIEWPORT["height"])
    assert len(data) < MAX_BYTES, f"{png.name}: {len(data)} bytes"


def test_the_png_check_refuses_broken_files() -> None:
    good = (FOLDER / "same-browser-1-sign-in-page.png").read_bytes()
    assert png_size(good) == (900, 640)
    ihdr, iend = good[8:33], good[-12:]
    garbage = b"not zlib"
    idat = struct.pack(">I", len(garbage)) + b"IDAT" + garbage
    idat += struct.pack(">I", zlib.crc32(b"IDAT" + garbage))
    broken = [
        b"GIF89a" + good[6:],  # another format
        PNG_SIGNATURE + ihdr + idat + iend,  # every CRC right, the pixels not
        PNG_SIGNATURE + ihdr + iend,  # no pixels at all
        PNG_SIGNATURE + iend,  # no header
        good[:-20],  # cut short
        good + b"junk",  # something after IEND
        good[:40] + bytes([good[40] ^ 0xFF]) + good[41:],  # a flipped byte
    ]
    for data in broken:
        with pytest.raises(NotAPng):
            png_size(data)
