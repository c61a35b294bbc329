"""Through both adapters: tests that kill mutants the rest of the suite let survive.

See tests/unit/test_mutation_gaps.py for the unit-level ones and ``make mutation``.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from okta_magiclink_mw._transactions import Transaction
from tests.conftest import (
    APP_ORIGIN,
    END_SESSION_URL,
    NAV,
    Browser,
    FakeClock,
    FakeOkta,
    callback_url,
    make_settings,
    query_of,
    sign_in,
    start_login,
)

SESSION = "__Host-omw_session"
TXN = "__Host-omw_signin"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}


def cookie(browser: Browser, name: str) -> str:
    values = [c.value for c in browser.cookies.jar if c.name == name]
    assert len(values) == 1, values
    return values[0]


def signed_in(browser: Browser, okta: FakeOkta) -> str:
    r = sign_in(browser, okta)
    assert r.status_code == 302, r.text
    return cookie(browser, SESSION)


def authenticated(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    return bool(response.json()["authenticated"])


# -- a session_store passed to the middleware is the one used (R21) ---------------------------
# Mutant: the adapters or the core ignore session_store= and use an in-process store.


class RecordingStore:
    """A SessionStore that remembers what it was asked."""

    def __init__(self, *, deny_all: bool = False) -> None:
        self.deny_all = deny_all
        self.revoked: dict[str, float] = {}
        self.checked: list[str] = []

    def revoke(self, session_id: str, until: float) -> None:
        self.revoked[session_id] = until

    def is_revoked(self, session_id: str) -> bool:
        self.checked.append(session_id)
        return self.deny_all or session_id in self.revoked


def test_custom_session_store_gets_the_logout(
    make_client: Any, okta: FakeOkta, clock: FakeClock
) -> None:
    store = RecordingStore()
    client = make_client(make_settings(), session_store=store)
    issued_at = clock()
    value = signed_in(client, okta)
    assert authenticated(client.get("/x"))
    assert store.checked, "the store was not consulted on a signed-in request"
    session_id = store.checked[-1]
    r = client.post("/logout", headers=SAME_ORIGIN)
    assert r.status_code == 303
    # Revoked in the custom store until the session could no longer be valid anyway.
    assert store.revoked == {session_id: issued_at + 8 * 3600 + 60}
    replay = client.other_browser().get("/x", headers={"cookie": f"{SESSION}={value}", **NAV})
    assert replay.status_code == 302


def test_custom_session_store_is_consulted(make_client: Any, okta: FakeOkta) -> None:
    store = RecordingStore(deny_all=True)
    client = make_client(make_settings(), session_store=store)
    value = signed_in(client, okta)
    r = client.get("/x", headers=NAV)
    assert r.status_code == 302  # the store says revoked: back to sign-in
    assert r.headers["location"].startswith("/login?state=")
    assert store.checked
    r = client.post("/logout", headers={"cookie": f"{SESSION}={value}", **SAME_ORIGIN})
    assert r.headers["location"] == "/"  # no live session, so no id_token_hint either
    assert store.revoked == {}


# -- logout keeps id_token_hint after ordinary signed-in requests (R21) ------------------------
# Mutant: read(with_id_token=True) answers from the cache, which holds no id_token.


@pytest.mark.parametrize("advance", [0, 301], ids=["cached", "after-refresh"])
def test_logout_after_signed_in_requests_sends_id_token_hint(
    client: Browser, okta: FakeOkta, clock: FakeClock, advance: int
) -> None:
    signed_in(client, okta)
    id_token = okta.id_tokens[-1]
    for _ in range(3):
        assert authenticated(client.get("/x"))
    if advance:  # last_seen moves forward: the re-issued cookie must still hold the token
        clock.advance(advance)
        r = client.get("/x")
        assert authenticated(r)
        assert SESSION in r.headers.get("set-cookie", "")
        assert authenticated(client.get("/y"))
    r = client.post("/logout", headers=SAME_ORIGIN)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith(END_SESSION_URL + "?")
    assert query_of(location) == {"id_token_hint": id_token}


# -- the cookies carry HMAC-SHA256 MACs (R24) --------------------------------------------------


def test_cookie_macs_have_the_length_of_hmac_sha256(client: Browser, okta: FakeOkta) -> None:
    start_login(client)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie(client, TXN).rsplit(".", 1)[1])
    session = signed_in(client.other_browser(), okta)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session.rsplit(".", 1)[1])


# -- every page gets a fresh CSP nonce, and its scripts carry exactly that one (R11) -----------
# Mutant: pages.new_nonce() replaced by a constant (or None) in one kind of response.

_CSP_NONCE = re.compile(r"'nonce-([^']*)'")
_TAG = re.compile(r"<(script|style)\b[^>]*>", re.I)
_NONCE_ATTR = re.compile(r"""\bnonce\s*=\s*["']?([^"'\s>]*)""", re.I)


def _page_kinds(client: Browser) -> dict[str, httpx.Response]:
    """One response of every kind the middleware writes itself."""
    signed_out = client.other_browser()
    login = signed_out.get("/x", headers=NAV).headers["location"]
    return {
        "redirect-to-login": client.other_browser().get("/x", headers=NAV),
        "login-page": signed_out.get(login, headers=NAV),
        "401-json": client.get("/x", headers={"accept": "application/json"}),
        "error-page": client.get("/login/callback", headers=NAV),
        "error-page-okta": client.get("/login/callback?error=access_denied", headers=NAV),
        "enter-code-page": client.get(f"/login/callback?otp=123456&state={'s' * 43}"),
        "logout-page": client.get("/logout", headers=NAV),
        "logout-redirect": client.post("/logout", headers=SAME_ORIGIN),
        "logout-cross-site": client.post("/logout", headers={"sec-fetch-site": "cross-site"}),
        "405-plain": client.request("PUT", "/login"),
    }


def test_every_page_kind_gets_a_fresh_nonce_used_by_its_tags(client: Browser) -> None:
    first, second = _page_kinds(client), _page_kinds(client)
    for kind, response in first.items():
        other = second[kind]
        assert response.status_code == other.status_code, kind
        nonces = []
        for r in (response, other):
            found = _CSP_NONCE.findall(r.headers["content-security-policy"])
            assert len(found) == 1, (kind, found)
            nonce = found[0]
            assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", nonce), (kind, nonce)
            for match in _TAG.finditer(r.text):
                attrs = _NONCE_ATTR.findall(match.group(0))
                if match.group(1).lower() == "script":
                    assert attrs == [nonce], (kind, match.group(0))
                else:
                    assert attrs in ([], [nonce]), (kind, match.group(0))
            assert set(_NONCE_ATTR.findall(r.text)) <= {nonce}, kind
            nonces.append(nonce)
        assert nonces[0] != nonces[1], f"{kind}: the same nonce twice"


def test_pages_with_scripts_do_carry_the_nonce(client: Browser) -> None:
    """So the tag check above is not vacuous: these pages have nonce'd scripts."""
    pages = _page_kinds(client)
    for kind in ("login-page", "enter-code-page"):
        nonce = _CSP_NONCE.findall(pages[kind].headers["content-security-policy"])[0]
        assert f'<script nonce="{nonce}"' in pages[kind].text, kind


# -- a raw callback "error" never reaches the logs (R8, B10 #107) ------------------------------
# Mutant: the "is it a known code" check weakened, so the raw value is logged as the code.


@pytest.mark.parametrize(
    "error",
    [
        "zzmarker_unknown",  # the shape of an OAuth error code, but not a known one
        "zzmarker-<b>unknown</b> value",
    ],
)
@pytest.mark.parametrize("held", [False, True], ids=["no-transaction", "own-transaction"])
def test_unknown_callback_error_is_not_logged(
    client: Browser, caplog: Any, error: str, held: bool
) -> None:
    params = {"error": error, "error_description": "zzmarker description"}
    if held:
        params["state"] = start_login(client)["state"]
    caplog.set_level(logging.DEBUG)
    r = client.get("/login/callback?" + urlencode(params), headers=NAV)
    assert r.status_code == 400
    assert "zzmarker" not in r.text
    # Every record but the test browser's own request line (httpx logs the URL it sends).
    records = [
        rec
        for rec in caplog.records
        if not (rec.name == "httpx" and APP_ORIGIN in rec.getMessage())
    ]
    assert any(getattr(rec, "event", None) == "callback.error" for rec in records)
    for rec in records:
        assert "zzmarker" not in rec.getMessage(), rec
        assert "zzmarker" not in repr(rec.args), rec
        for name, value in vars(rec).items():
            assert "zzmarker" not in repr(value), (name, rec)


# -- a bad cookie value before the good one (R26) ----------------------------------------------
# Mutant: "continue" -> "break" in the loops over the values of a cookie.


def _bad_values(good: str) -> list[str]:
    wrong_mac = good[:-1] + ("A" if good[-1] != "A" else "B")
    return ["garbage", wrong_mac, ""]


def test_session_after_bad_values_is_found(client: Browser, okta: FakeOkta) -> None:
    good = signed_in(client, okta)
    for bad in _bad_values(good):
        header = f"{SESSION}={bad}; {SESSION}={good}"
        browser = client.other_browser()
        assert authenticated(browser.get("/x", headers={"cookie": header}))  # fast path
        # Logout reads the cookies the slow way; the session there must be found too.
        r = browser.post("/logout", headers={"cookie": header, **SAME_ORIGIN})
        assert "id_token_hint" in query_of(r.headers["location"]), bad
        # (revoked now: sign in again for the next round)
        good = signed_in(client, okta)


def test_transaction_after_bad_values_is_found(client: Browser, okta: FakeOkta) -> None:
    for bad in ("garbage", "", None):
        browser = client.other_browser()
        config = start_login(browser)
        good = cookie(browser, TXN)
        header = f"{TXN}={bad if bad is not None else _bad_values(good)[1]}; {TXN}={good}"
        code = okta.issue_code(config)
        r = client.other_browser().get(
            callback_url(config, code), headers={"cookie": header, **NAV}
        )
        assert r.status_code == 302, r.text
        assert r.headers["location"] == "/reports?id=5"
        assert SESSION in r.headers.get("set-cookie", "")


# -- more survivors of the baseline run -------------------------------------------------------


def test_logout_goes_to_the_discovered_end_session_endpoint(
    client: Browser, okta: FakeOkta
) -> None:
    """Mutant: the end_session_endpoint from discovery ignored for the built-in default."""
    elsewhere = "https://org.example/oauth2/default/v1/logout-from-discovery"
    okta.discovery_doc["end_session_endpoint"] = elsewhere
    signed_in(client, okta)
    r = client.post("/logout", headers=SAME_ORIGIN)
    assert r.headers["location"].startswith(elsewhere + "?id_token_hint=")


def test_error_reference_on_the_page_is_the_logged_one(client: Browser, caplog: Any) -> None:
    """Mutant: the failure log line loses its event, code or reference (R34: the reference a
    person reads out must find the log line)."""
    caplog.set_level(logging.INFO, logger="okta_magiclink_mw")
    r = client.get("/login/callback", headers=NAV)
    assert r.status_code == 400
    shown = re.findall(r"Reference: ([0-9a-f]{8})<", r.text)
    assert len(shown) == 1
    failed = [rec for rec in caplog.records if getattr(rec, "event", None) == "signin.failed"]
    assert [(rec.reference, rec.code) for rec in failed] == [(shown[0], "unknown_callback")]
    assert failed[0].getMessage() == "sign-in failed: unknown_callback"


def _events(caplog: Any) -> list[tuple[str, str | None]]:
    return [
        (rec.event, getattr(rec, "error", None))
        for rec in caplog.records
        if rec.name == "okta_magiclink_mw" and hasattr(rec, "event")
    ]


def test_security_events_are_logged(client: Browser, okta: FakeOkta, caplog: Any) -> None:
    """Mutant: the log call of an event dropped or its ``extra`` lost."""
    caplog.set_level(logging.INFO, logger="okta_magiclink_mw")
    client.get("/login/callback?error=access_denied", headers=NAV)
    assert ("callback.error", "access_denied") in _events(caplog)
    client.get(f"/login/callback?otp=123456&state={'s' * 43}")
    assert ("magic_link.other_browser", None) in _events(caplog)
    signed_in(client, okta)
    client.post("/logout", headers={"sec-fetch-site": "cross-site"})
    assert ("logout.cross_site", None) in _events(caplog)
    client.post("/logout", headers=SAME_ORIGIN)
    assert ("logout", None) in _events(caplog)


@pytest.mark.parametrize(
    ("description", "shown"),
    [
        ("d" * 200, "d" * 200),
        ("d" * 201, "d" * 199 + "…"),
        # Only the first 400 characters are looked at, printable or not.
        ("\x01" * 400 + "zzvisible", None),
    ],
    ids=["200", "201", "work-bound"],
)
def test_okta_error_description_is_bounded(
    client: Browser, description: str, shown: str | None
) -> None:
    """Mutant: the 200-character cut or the 400-character work bound of the description."""
    state = start_login(client)["state"]
    query = urlencode({"error": "access_denied", "error_description": description, "state": state})
    r = client.get(f"/login/callback?{query}", headers=NAV)
    assert r.status_code == 403
    said = re.findall(r"Okta said: ([^<]*)</p>", r.text)
    assert said == ([shown] if shown is not None else [])


def test_method_not_allowed_says_so(client: Browser) -> None:
    r = client.request("PUT", "/login")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    assert r.text == "Method not allowed"


@pytest.mark.parametrize("stored", ["/login", "/logout?x=1", "/login/callback"])
def test_stored_return_target_is_checked_again_before_the_redirect(
    client: Browser, okta: FakeOkta, clock: FakeClock, stored: str
) -> None:
    """Mutant: the second safe_return_target call (R10) loses its forbidden paths. A
    transaction carrying one of our own paths (minted here by the jar itself, as if an
    earlier version had stored it) must still land on "/"."""
    config = start_login(client)
    jar = client.core.transactions
    held = jar.load([cookie(client, TXN)], clock())
    txn = held[config["state"]]
    forged = Transaction(txn.state, txn.code_verifier, txn.nonce, stored, txn.created_at)
    value = jar.dump({txn.state: forged}, clock()).split(";")[0].split("=", 1)[1]
    browser = client.other_browser()
    code = okta.issue_code(config)
    r = browser.get(callback_url(config, code), headers={"cookie": f"{TXN}={value}", **NAV})
    assert r.status_code == 302, r.text
    assert r.headers["location"] == "/"
