"""A plain WSGI app that only knows REMOTE_USER, as CGI-era apps do.

python examples/legacy_wsgi.py   # with the OKTA_* variables set; serves on port 8000
"""

from collections.abc import Callable, Iterable
from html import escape
from typing import Any

from okta_magiclink_mw import OktaMagicLinkWSGI, Settings


def legacy_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    # The middleware sets REMOTE_USER (and removes any a client tried to send).
    user = environ.get("REMOTE_USER", "nobody")
    body = f"<p>Welcome back, {escape(user)}. <a href='/logout'>Sign out</a></p>".encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


def application() -> OktaMagicLinkWSGI:
    return OktaMagicLinkWSGI(legacy_app, Settings.from_env())


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    make_server("localhost", 8000, application()).serve_forever()
