"""The legacy app itself (examples/forward_auth/legacy/cgi-bin/hello.sh under busybox
httpd, no proxy): what it prints is escaped, and it reports every X-Auth-Request-*
header it got, whatever spelling the client used. The gateway tests rely on both."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration._cluster import free_port

from ._gateway import LEGACY_PAGE, legacy_app, legacy_fields, legacy_headers, need

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def legacy() -> Iterator[str]:
    need("busybox")
    directory = Path(tempfile.mkdtemp(prefix="omw-legacy-"))
    port = free_port()
    child = legacy_app(directory, port)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        cleanup.callback(child.stop)
        child.spawn()
        child.wait_ready()
        yield f"http://127.0.0.1:{port}"


HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "a&amp;b",
    "$(touch {marker}) `touch {marker}` ${PATH}",
    "\\n\\\\ %s %n -e",
    "ada@example.com; rm -rf /",
    "ünïcödé@exämple.com",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_what_the_app_prints_is_escaped_and_never_run(
    legacy: str, template: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    value = template.replace("{marker}", str(marker))
    page = httpx.get(
        f"{legacy}{LEGACY_PAGE}",
        # Bytes: UTF-8 as sent, where a str would be encoded as latin-1 (or refused).
        headers={b"X-Auth-Request-Email": value.encode(), b"X-Auth-Request-Groups": value.encode()},
    )
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == "default-src 'none'"
    fields = legacy_fields(page.text)
    assert fields["email"] == value
    assert fields["groups"] == value
    assert legacy_headers(page.text)["HTTP_X_AUTH_REQUEST_EMAIL"] == value
    escaped = (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )
    # The greeting, the email, the groups, and both in the list of headers seen.
    assert page.text.count(escaped) == 5
    if escaped != value:
        assert value not in page.text
    assert not marker.exists()


def test_without_identity_headers_it_greets_a_stranger(legacy: str) -> None:
    page = httpx.get(f"{legacy}{LEGACY_PAGE}")
    assert "Hello, stranger." in page.text
    assert legacy_headers(page.text) == {}
    assert legacy_fields(page.text) == {"email": "", "user": "", "groups": ""}


@pytest.mark.parametrize(
    "name",
    [
        "X-Auth-Request-Email",
        "x-auth-request-email",
        "X_Auth_Request_Email",
        "X.Auth.Request.Email",
    ],
)
def test_every_spelling_of_a_header_reaches_it_as_the_same_variable(legacy: str, name: str) -> None:
    # Why the proxies must drop aliases: to a CGI app they are all the same header.
    page = httpx.get(f"{legacy}{LEGACY_PAGE}", headers={name: "mallory@evil.example"})
    assert legacy_headers(page.text) == {"HTTP_X_AUTH_REQUEST_EMAIL": "mallory@evil.example"}
    assert legacy_fields(page.text)["email"] == "mallory@evil.example"
