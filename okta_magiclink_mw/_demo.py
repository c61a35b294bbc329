"""``python -m okta_magiclink_mw demo``: a protected app and FakeOkta, no Okta account needed.

Two servers on two origins, as in real life: the app on ``localhost`` and the
emulated Okta org on ``127.0.0.1``. With ``OKTA_ISSUER`` and friends set, the
same app runs against a real Okta org and FakeOkta is not started.
"""

from __future__ import annotations

import asyncio
import html
import os
import sys
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from .asgi import OktaMagicLink
from .settings import Settings
from .testing._standalone import DEFAULT_CLIENT_ID, DEFAULT_EMAIL, DEFAULT_NAME

DEMO_EMAIL = DEFAULT_EMAIL
DEMO_NAME = DEFAULT_NAME
DEMO_CLIENT_ID = DEFAULT_CLIENT_ID

_PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:10vh auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1rem}}</style></head><body>{body}</body></html>"""


async def _home(request: Request) -> HTMLResponse:
    user = request.user
    body = (
        f"<h1>Hello, {html.escape(user.display_name)}!</h1>"
        f"<p>You are signed in as <code>{html.escape(user.email or user.identity)}</code>.</p>"
        '<p><a href="/reports?year=2026">See the reports page</a> (also protected).</p>'
        '<form method=post action="/logout"><button>Sign out</button></form>'
    )
    return HTMLResponse(_PAGE.format(title="Demo app", body=body))


async def _reports(request: Request) -> HTMLResponse:
    year = html.escape(request.query_params.get("year", ""))
    body = (
        f"<h1>Reports {year}</h1><p>Only signed-in people see this, "
        f"{html.escape(request.user.display_name)}.</p><p><a href='/'>Home</a></p>"
    )
    return HTMLResponse(_PAGE.format(title="Reports", body=body))


def demo_app(settings: Settings) -> ASGIApp:
    """The demo's app: every page protected, a greeting and a sign-out button."""
    app = Starlette(routes=[Route("/", _home), Route("/reports", _reports)])
    return OktaMagicLink(app, settings)


def _print_instructions(app_url: str, okta_url: str | None) -> None:
    lines = [
        "",
        "okta-magiclink-mw demo is running.",
        "",
        f"  1. Open the app:        {app_url}/",
    ]
    if okta_url:
        lines += [
            f"  2. Sign in as:          {DEMO_EMAIL}   (Next, then 'Send me an email')",
            f"  3. Open the mailbox:    {okta_url}/outbox",
            "  4. Click the magic link (or type the code in the sign-in tab).",
            "",
            f"  FakeOkta (the emulated Okta org) is at {okta_url}; its mailbox as JSON at "
            f"{okta_url}/outbox.json",
        ]
    else:
        lines.append("  2. Sign in with your Okta account (OKTA_* settings are in use).")
    lines += ["", "Press Ctrl+C to stop.", ""]
    print("\n".join(lines), flush=True)


async def _serve(apps: Sequence[tuple[ASGIApp, str, int]], okta: ASGIApp | None = None) -> None:
    import uvicorn

    servers = [
        uvicorn.Server(
            # FakeOkta writes its own Date header, from its clock.
            uvicorn.Config(
                app, host=host, port=port, log_level="warning", date_header=app is not okta
            )
        )
        for app, host, port in apps
    ]
    await asyncio.gather(*(server.serve() for server in servers))


def run_demo(app_port: int = 8000, okta_port: int = 8001) -> None:
    """Start the demo and block until interrupted."""
    app_url = f"http://localhost:{app_port}"
    if os.environ.get("OKTA_ISSUER"):
        settings = Settings.from_env()
        _print_instructions(app_url, None)
        asyncio.run(_serve([(demo_app(settings), "localhost", app_port)]))
        return

    from .testing import _standalone as standalone

    okta_url = f"http://127.0.0.1:{okta_port}"
    # FakeOkta is as strict as a real org: the app set up as the README tells an admin to,
    # as `okta-magiclink-mw fake-okta` does, and configured from the environment it prints.
    setup = standalone.OrgSetup(
        base_url=okta_url,
        redirect_uris=(f"{app_url}/login/callback",),
        users=(standalone.User(DEMO_EMAIL, DEMO_NAME),),
        client_id=DEMO_CLIENT_ID,
        post_logout_redirect_uri=f"{app_url}/",
    )
    fake = standalone.build_org(setup)
    if fake.widget_js_url is None:
        print(
            "note: @okta/okta-signin-widget is not installed (npm ci), so the login page "
            "loads the widget from Okta's CDN.",
            file=sys.stderr,
        )
    # A fresh key per run: demo sessions end with the process.
    environment = standalone.client_environment(fake, setup, secret_key=standalone.new_secret_key())
    settings = Settings.from_env(environment)
    _print_instructions(app_url, okta_url)
    asyncio.run(
        _serve(
            [(demo_app(settings), "localhost", app_port), (fake, "127.0.0.1", okta_port)],
            okta=fake,
        )
    )
