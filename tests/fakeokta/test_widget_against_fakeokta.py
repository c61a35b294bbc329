"""The real Okta Sign-In Widget (7.49.0) signs in against FakeOkta in Chromium.

Two flows, each from a widget page on a different origin than FakeOkta:
(a) the user types the emailed code ("Enter a verification code instead");
(b) the user opens the magic link in a new tab of the same browser.
Both must land on the callback with ``interaction_code`` + ``state``, and the
code must redeem at ``/v1/token`` for an RS256 ID token that verifies
against the JWKS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from okta_magiclink_mw.testing import FakeOkta, find_widget_dist

from ._servers import Transaction, WidgetPageApp, bind_free_port, serve

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CLIENT_ID = "0oaFakeWidgetE2E0001"
EMAIL = "ada@example.com"
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)
if find_widget_dist() is None:
    pytest.skip(
        "node_modules/@okta/okta-signin-widget is missing (run `npm install`)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Env:
    fake: FakeOkta
    okta_url: str
    pages: WidgetPageApp
    app_url: str


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    okta_sock, app_sock = bind_free_port(), bind_free_port()
    okta_url = f"http://127.0.0.1:{okta_sock.getsockname()[1]}"
    app_url = f"http://127.0.0.1:{app_sock.getsockname()[1]}"
    fake = FakeOkta(base_url=okta_url)
    fake.add_user(email=EMAIL, name="Ada Lovelace")
    fake.add_web_app(f"{app_url}/login/callback", client_id=CLIENT_ID)
    pages = WidgetPageApp(fake=fake, client_id=CLIENT_ID, base_url=app_url)
    with serve(fake, okta_sock), serve(pages.asgi(), app_sock):
        yield Env(fake, okta_url, pages, app_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROME_ARGS)
        try:
            yield b
        finally:
            b.close()


class Recorder:
    """Console messages and network requests of one browser context, for diagnosis."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []

    def attach(self, page: Any, tab: str) -> None:
        page.on("console", lambda m: self.lines.append(f"[{tab} console.{m.type}] {m.text}"))
        page.on("pageerror", lambda e: self.lines.append(f"[{tab} pageerror] {e}"))
        page.on("request", lambda r: self.lines.append(f"[{tab} >] {r.method} {r.url}"))
        page.on("response", lambda r: self.lines.append(f"[{tab} <] {r.status} {r.request.url}"))
        page.on(
            "requestfailed",
            lambda r: self.lines.append(f"[{tab} failed] {r.url} {r.failure}"),
        )

    def dump(self) -> str:
        ARTIFACTS.mkdir(exist_ok=True)
        text = "\n".join(self.lines)
        (ARTIFACTS / f"{self.name}.log").write_text(text)
        return text


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_for_mail(env: Env, count: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = httpx.get(f"{env.okta_url}/outbox.json").json()
        if len(mails) >= count:
            return dict(mails[-1])
        time.sleep(0.1)
    raise AssertionError("no email arrived in /outbox.json")


def start_and_request_email(env: Env, page: Any, tx: Transaction, name: str) -> dict[str, Any]:
    """Open the widget, identify, press "Send me an email"; return the email."""
    sent_before = len(env.fake.outbox)
    page.goto(f"{env.app_url}/login?state={tx.state}")
    page.locator('input[name="identifier"]').fill("nobody@example.com")
    page.locator('input[type="submit"]').click()
    # the widget localises errors.E0000004 by its i18n key
    page.get_by_text("Unable to sign in").wait_for(timeout=15_000)
    shot(page, f"{name}-0-unknown-user")
    # The widget re-renders the form after an error; an input typed during that is lost,
    # so retry until the next step shows.
    send = page.locator('input[type="submit"][value="Send me an email"]')
    for _attempt in range(3):
        page.locator('input[name="identifier"]').fill(EMAIL)
        shot(page, f"{name}-1-identify")
        page.locator('input[type="submit"]').click()
        try:
            send.wait_for(timeout=5_000)
            break
        except sync_api.TimeoutError:
            continue
    shot(page, f"{name}-2-send-email")
    send.click()
    page.get_by_text("Enter a verification code instead").wait_for(timeout=15_000)
    shot(page, f"{name}-3-check-your-email")
    return wait_for_mail(env, sent_before + 1)


def redeem(env: Env, callback_url: str, tx: Transaction) -> dict[str, Any]:
    """Check the callback URL and redeem its code; return verified ID token claims."""
    query = parse_qs(urlsplit(callback_url).query)
    assert query["state"] == [tx.state]
    code = query["interaction_code"][0]
    token = httpx.post(
        f"{env.fake.issuer}/v1/token",
        data={
            "client_id": CLIENT_ID,
            "redirect_uri": f"{env.app_url}/login/callback",
            "grant_type": "interaction_code",
            "code_verifier": tx.verifier,
            "interaction_code": code,
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer"
    jwks = jwt.PyJWKSet.from_dict(httpx.get(f"{env.fake.issuer}/v1/keys").json())
    kid = jwt.get_unverified_header(body["id_token"])["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        body["id_token"],
        key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=env.fake.issuer,
    )
    assert claims["email"] == EMAIL
    assert claims["nonce"] == tx.nonce
    assert claims["amr"] == ["email"]
    return claims


CALLBACK_WITH_CODE = re.compile(r".*/login/callback\?.*interaction_code=.*")


def test_widget_typed_code(env: Env, browser: Any) -> None:
    rec = Recorder("widget-typed-code")
    context = browser.new_context()
    page = context.new_page()
    rec.attach(page, "tab1")
    tx = env.pages.new_transaction()
    try:
        mail = start_and_request_email(env, page, tx, "typed")
        assert mail["to"] == EMAIL
        page.get_by_text("Enter a verification code instead").click()
        passcode = page.locator('input[name="credentials.passcode"]')
        wrong = "000000" if mail["otp"] != "000000" else "111111"
        passcode.fill(wrong)
        page.locator('input[type="submit"]').click()
        page.get_by_text("Invalid code. Try again.").wait_for(timeout=15_000)
        shot(page, "typed-4-invalid-code")
        # A poll answered while we type re-renders the form (dropping the error and the
        # typed value), so submit until the widget navigates.
        for _attempt in range(3):
            passcode.fill(mail["otp"])
            shot(page, "typed-5-code")
            page.locator('input[type="submit"]').click()
            try:
                page.wait_for_url(CALLBACK_WITH_CODE, timeout=5_000)
                break
            except sync_api.TimeoutError:
                continue
        assert CALLBACK_WITH_CODE.match(page.url), page.url
        shot(page, "typed-6-callback")
        redeem(env, page.url, tx)
    except Exception:
        shot(page, "typed-failure")
        print(rec.dump())
        raise
    finally:
        rec.dump()
        context.close()


def test_widget_magic_link_in_new_tab(env: Env, browser: Any) -> None:
    rec = Recorder("widget-magic-link")
    context = browser.new_context()
    page = context.new_page()
    rec.attach(page, "tab1")
    tx = env.pages.new_transaction()
    tab2 = None
    try:
        mail = start_and_request_email(env, page, tx, "magic")
        link = urlsplit(mail["magic_link"])  # Okta's /email/verify hop to the callback
        assert link.path == f"/email/verify/{CLIENT_ID}"
        tab2 = context.new_page()
        rec.attach(tab2, "tab2")
        tab2.goto(mail["magic_link"])
        tab2.wait_for_url(CALLBACK_WITH_CODE, timeout=15_000)
        shot(tab2, "magic-4-new-tab-callback")
        redeem(env, tab2.url, tx)
        # The original tab polls and learns that the flow went on elsewhere.
        page.get_by_text("Flow continued in a new tab.").wait_for(timeout=15_000)
        shot(page, "magic-5-original-tab")
    except Exception:
        shot(page, "magic-failure-tab1")
        if tab2 is not None:
            shot(tab2, "magic-failure-tab2")
        print(rec.dump())
        raise
    finally:
        rec.dump()
        context.close()
