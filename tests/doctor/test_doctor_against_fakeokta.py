"""``okta-magiclink-mw doctor`` against FakeOkta on a loopback port, over real sockets
with the middleware's own HTTP client: set up as the README says, every check is OK;
set up wrong one way at a time, the check of that way names the problem and the fix."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from okta_magiclink_mw import Settings
from okta_magiclink_mw._doctor import Report, Status, run
from okta_magiclink_mw._transport import new_sync_client
from okta_magiclink_mw.cli import main
from okta_magiclink_mw.testing import FakeClient, FakeOkta
from tests.doctor._server import serve
from tests.fakeokta._servers import bind_free_port

APP = "http://localhost:8000"
REDIRECT_URI = f"{APP}/login/callback"
SIGN_OUT = f"{APP}/"
CLIENT_ID = "0oaDoctorTest"
CLIENT_SECRET = "doctor-client-secret-Zq8-do-not-print"
API_TOKEN = "00doctor-api-token-Zq8-do-not-print-xxxxxxxxxx"
SECRET_KEY = "doctor-signing-key-Zq8-" + "k" * 32
SECRETS = (CLIENT_SECRET, API_TOKEN, SECRET_KEY, "Zq8")
RULES = json.dumps([{"path": "/admin", "groups": ["admins"]}])


class Switch:
    """An ASGI app that hands each request to the FakeOkta of the running test: one
    server for the module, a fresh org per test."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def widget_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of the widget's dist/ that the login page makes the browser fetch."""
    dist = tmp_path_factory.mktemp("dist")
    for name, text in (
        ("js/okta-sign-in.min.js", "/* Okta Sign-In Widget */"),
        ("css/okta-sign-in.min.css", "body{}"),
        ("labels/json/login_fr.json", "{}"),
    ):
        (dist / name).parent.mkdir(parents=True, exist_ok=True)
        (dist / name).write_text(text)
    return dist


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Switch, str]]:
    switch = Switch()
    with serve(switch) as url:
        yield switch, url


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """The middleware's own client (made once: its TLS context takes a while to load)."""
    settings = Settings(
        issuer="https://org.example",
        client_id="x",
        redirect_uri=REDIRECT_URI,
        secret_keys=[SECRET_KEY],
    )
    with new_sync_client(settings) as client:
        yield client


@dataclass
class Org:
    fake: FakeOkta
    client: FakeClient
    env: dict[str, str]
    http: httpx.Client

    def doctor(self, **changes: str | None) -> Report:
        """Run the doctor with the environment, ``changes`` applied (None unsets)."""
        env = {**self.env, **changes}
        report = run({k: v for k, v in env.items() if v is not None}, client=self.http)
        _no_secrets(report.as_text() + report.as_json())
        return report


def _no_secrets(output: str) -> None:
    for secret in SECRETS:
        assert secret not in output


@pytest.fixture
def org(server: tuple[Switch, str], widget_dist: Path, http: httpx.Client) -> Org:
    """An org set up the way the README tells an admin to."""
    switch, url = server
    fake = FakeOkta(base_url=url, widget_dist=widget_dist)
    fake.add_user(email="ada@example.com", groups=["admins"])
    client = fake.add_web_app(
        REDIRECT_URI,
        post_logout_redirect_uri=SIGN_OUT,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    fake.add_api_token(API_TOKEN)
    switch.app = fake
    assert fake.widget_js_url is not None
    assert fake.widget_css_url is not None
    env = {
        "OKTA_ISSUER": fake.issuer,
        "OKTA_CLIENT_ID": CLIENT_ID,
        "OKTA_CLIENT_SECRET": CLIENT_SECRET,
        "OKTA_REDIRECT_URI": REDIRECT_URI,
        "OKTA_POST_LOGOUT_REDIRECT_URI": SIGN_OUT,
        "OKTA_MW_SECRET_KEYS": SECRET_KEY,
        "OKTA_MW_WIDGET_JS_URL": fake.widget_js_url,
        "OKTA_MW_WIDGET_CSS_URL": fake.widget_css_url,
        "OKTA_MW_ACCESS_RULES": RULES,
        "OKTA_API_TOKEN": API_TOKEN,
    }
    return Org(fake, client, env, http)


def status_of(report: Report) -> dict[int, Status]:
    return {f.number: f.status for f in report.findings}


def finding(report: Report, number: int) -> Any:
    (found,) = [f for f in report.findings if f.number == number]
    return found


def only_failures(report: Report, *numbers: int) -> None:
    """Exactly checks ``numbers`` failed; the exit status says so."""
    failed = sorted(f.number for f in report.findings if f.status is Status.FAIL)
    assert failed == sorted(numbers), report.as_text()
    assert report.exit_status == 1


def said(found: Any, *words: str) -> None:
    text = " ".join((found.message, *found.fixes, *found.notes))
    for word in words:
        assert word in text, text


# -- set up right --------------------------------------------------------------------------


def test_a_correct_setup_is_all_ok(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in org.env.items():
        monkeypatch.setenv(name, value)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    _no_secrets(out)
    lines = [line for line in out.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert [line.split()[0] for line in lines] == [f"{n}." for n in range(1, 10)]
    assert all(line.split()[1] == "OK" for line in lines), out
    assert "9 OK, 0 WARN, 0 FAIL, 0 SKIP" in out


def test_json_output(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in org.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OKTA_CLIENT_ID", "0oaNobody")
    assert main(["doctor", "--json"]) == 1
    out = capsys.readouterr().out
    _no_secrets(out)
    doc = json.loads(out)
    assert doc["ok"] is False
    assert doc["subject"]["client"] == "0oaNobody"
    assert doc["subject"]["API token"] == "set"
    assert [c["number"] for c in doc["checks"]] == list(range(1, 10))
    interact = doc["checks"][3]
    assert interact["name"] == "interact"
    assert interact["status"] == "FAIL"
    assert "does not know the client id 0oaNobody" in interact["message"]
    assert any("OKTA_CLIENT_ID" in fix for fix in interact["fixes"])
    assert doc["counts"]["FAIL"] >= 2


def test_without_a_token_the_api_checks_say_what_they_could_not_see(org: Org) -> None:
    report = org.doctor(OKTA_API_TOKEN=None)
    assert report.exit_status == 0
    statuses = status_of(report)
    assert statuses[6] is Status.SKIP
    assert statuses[8] is Status.WARN
    assert statuses[9] is Status.WARN
    said(finding(report, 8), "cannot be verified without OKTA_API_TOKEN", "Sign-out redirect URIs")
    said(finding(report, 6), "Security > API > Tokens", "EMAIL VERIFICATION EXPERIENCE")
    assert all(statuses[n] is Status.OK for n in (1, 2, 3, 4, 5, 7))


# -- 1. discovery --------------------------------------------------------------------------


def test_issuer_with_a_trailing_slash(org: Org) -> None:
    report = org.doctor(OKTA_ISSUER=org.fake.issuer + "/")
    only_failures(report, 1)
    said(finding(report, 1), f"set OKTA_ISSUER to exactly {org.fake.issuer}")


def test_issuer_of_no_authorization_server(org: Org) -> None:
    report = org.doctor(OKTA_ISSUER=f"{org.fake.base_url}/oauth2/aus0nothere")
    said(finding(report, 1), "no authorization server at", "Security > API > Authorization Servers")
    assert status_of(report)[1] is Status.FAIL
    assert status_of(report)[2] is Status.SKIP


def test_okta_unreachable(org: Org) -> None:
    sock = bind_free_port()  # bound, never listening: the connection is refused
    port = sock.getsockname()[1]
    report = org.doctor(OKTA_ISSUER=f"http://127.0.0.1:{port}/oauth2/default", OKTA_API_TOKEN=None)
    sock.close()
    said(finding(report, 1), "no answer from", "reaches Okta")
    assert status_of(report)[4] is Status.FAIL


# -- 2. keys -------------------------------------------------------------------------------


def test_keys_down(org: Org) -> None:
    org.fake.faults.jwks_down = True
    report = org.doctor()
    only_failures(report, 2)
    said(finding(report, 2), "/v1/keys answered HTTP 503")


# -- 3. clock ------------------------------------------------------------------------------


def test_clock_beyond_the_leeway(org: Org) -> None:
    org.fake.clock = lambda: time.time() + 600
    report = org.doctor()
    only_failures(report, 3)
    said(finding(report, 3), "behind Okta's, more than the leeway of 60 s", "NTP")


def test_clock_drifting_within_the_leeway(org: Org) -> None:
    org.fake.clock = lambda: time.time() - 20
    report = org.doctor()
    assert report.exit_status == 0
    assert status_of(report)[3] is Status.WARN
    said(finding(report, 3), "ahead of Okta's", "within the leeway")


# -- 4. /v1/interact -----------------------------------------------------------------------


def test_interaction_code_grant_not_enabled(org: Org) -> None:
    org.client.grant_types.remove("interaction_code")
    report = org.doctor()
    only_failures(report, 4, 6)
    said(
        finding(report, 4),
        "Interaction Code grant is not enabled",
        "unauthorized_client",
        "Grant type > Advanced: tick Interaction Code",
        "Embedded widget sign-in support",
    )
    said(finding(report, 6), "lack interaction_code")


def test_redirect_uri_not_registered(org: Org) -> None:
    org.client.redirect_uris[:] = [f"{APP}/callback"]
    report = org.doctor()
    only_failures(report, 4, 6)
    said(
        finding(report, 4),
        f"{REDIRECT_URI} is not a sign-in redirect URI",
        f"Sign-in redirect URIs: add exactly {REDIRECT_URI}",
    )
    said(finding(report, 6), f"({APP}/callback)")


def test_wrong_client_id(org: Org) -> None:
    report = org.doctor(OKTA_CLIENT_ID="0oaSomeOtherApp")
    only_failures(report, 4, 6, 8)
    said(finding(report, 4), "does not know the client id 0oaSomeOtherApp", "Client Credentials")
    said(finding(report, 6), "no app with id 0oaSomeOtherApp", "OKTA_APP_ID")


def test_scopes_the_server_does_not_have(org: Org) -> None:
    report = org.doctor(OKTA_MW_SCOPES="openid email payroll")
    only_failures(report, 4)
    said(finding(report, 4), "refuses the scopes openid email payroll", "invalid_scope")


# -- 5. CORS -------------------------------------------------------------------------------


def test_trusted_origin_missing(org: Org) -> None:
    org.fake.remove_trusted_origin(APP)
    report = org.doctor()
    only_failures(report, 5, 6)
    said(
        finding(report, 5),
        f"Okta does not let {APP} call it",
        "/v1/interact: preflight refused (HTTP 403)",
        "/idp/idx/introspect",
        f"Security > API > Trusted Origins > Add Origin: Origin URL {APP}",
    )
    said(finding(report, 6), f"{APP} is not a trusted origin")


def test_trusted_origin_without_cors(org: Org) -> None:
    org.fake.add_trusted_origin(APP, cors=False, redirect=True)
    report = org.doctor()
    only_failures(report, 5, 6)
    said(finding(report, 6), "with REDIRECT, not an active CORS origin")


def test_trusted_origin_on_another_port(org: Org) -> None:
    org.fake.remove_trusted_origin(APP)
    org.fake.add_trusted_origin("http://localhost:8080")
    report = org.doctor()
    only_failures(report, 5, 6)


# -- 6. the app, read with the API token ---------------------------------------------------


def test_a_bad_api_token(org: Org) -> None:
    report = org.doctor(OKTA_API_TOKEN="00not-a-token-of-this-org")
    only_failures(report, 6, 8, 9)
    said(finding(report, 6), "Okta refuses OKTA_API_TOKEN", "E0000011", "Create Token")


def test_a_public_app_needs_no_secret_but_a_confidential_one_does(org: Org) -> None:
    report = org.doctor(OKTA_CLIENT_SECRET=None)
    only_failures(report, 6)
    said(finding(report, 6), "no client credentials", "OKTA_CLIENT_SECRET")


def test_offline_access_without_the_refresh_grant(org: Org) -> None:
    org.client.grant_types.remove("refresh_token")
    report = org.doctor(
        OKTA_MW_SCOPES="openid profile email offline_access",
        OKTA_MW_SESSION_STORE="redis://127.0.0.1:1/0",
    )
    assert status_of(report)[6] is Status.FAIL
    said(finding(report, 6), "lack refresh_token", "tick Refresh Token")


def test_the_email_verify_callback_cannot_be_read_and_says_so(org: Org) -> None:
    """Okta's API has no field for it: the doctor cannot tell set from unset, and says how
    to check it by hand either way (a limit, not a pass)."""
    org.client.email_verify_callback_uri = None
    report = org.doctor()
    assert report.exit_status == 0
    said(
        finding(report, 6),
        "Email verification experience Callback URI is not in Okta's API",
        f"Callback URI: {REDIRECT_URI}",
    )


def test_the_app_id_can_differ_from_the_client_id(org: Org) -> None:
    report = org.doctor(OKTA_APP_ID="0oaNotThisOne")
    only_failures(report, 6, 8)
    said(finding(report, 6), "no app with id 0oaNotThisOne")


# -- 7. the widget -------------------------------------------------------------------------


def test_widget_bundle_not_found(org: Org) -> None:
    report = org.doctor(
        OKTA_MW_WIDGET_JS_URL=f"{org.fake.base_url}/widget/js/okta-sign-in.min.js.gone"
    )
    only_failures(report, 7)
    said(
        finding(report, 7),
        "HTTP 404, so the browser cannot load the widget",
        "OKTA_MW_WIDGET_JS_URL",
    )


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("OKTA_MW_WIDGET_JS_URL", "https://cdn.example/okta-sign-in.next.js", "Gen3"),
        (
            "OKTA_MW_WIDGET_JS_URL",
            "https://global.oktacdn.com/okta-signin-widget/6.7.0/js/okta-sign-in.min.js",
            "6.8.0",
        ),
        ("OKTA_MW_WIDGET_VERSION", "6.7.2", "too old"),
    ],
)
def test_widget_gen3_or_too_old_is_refused(org: Org, variable: str, value: str, words: str) -> None:
    report = org.doctor(**{variable: value})
    assert [f.number for f in report.findings] == [0]
    assert report.exit_status == 1
    said(finding(report, 0), words, "check-config")


# -- 8. sign-out ---------------------------------------------------------------------------


def test_sign_out_uri_not_registered(org: Org) -> None:
    org.client.post_logout_redirect_uris.clear()
    report = org.doctor()
    only_failures(report, 8)
    said(
        finding(report, 8),
        f"{SIGN_OUT} is not one of the app's sign-out redirect URIs",
        f"Sign-out redirect URIs: add exactly {SIGN_OUT}",
    )


def test_sign_out_uri_not_set(org: Org) -> None:
    report = org.doctor(OKTA_POST_LOGOUT_REDIRECT_URI=None)
    assert report.exit_status == 0
    assert status_of(report)[8] is Status.WARN
    said(finding(report, 8), "OKTA_POST_LOGOUT_REDIRECT_URI is not set")


# -- 9. the groups claim -------------------------------------------------------------------


def test_groups_claim_missing(org: Org) -> None:
    org.client.groups_claim = None
    report = org.doctor()
    only_failures(report, 9)
    said(finding(report, 9), "puts none in ID tokens", "Claims > Add Claim")


def test_groups_claim_filter_leaves_the_rule_s_group_out(org: Org) -> None:
    org.client.groups_filter = "ops-.*"
    report = org.doctor()
    assert report.exit_status == 0
    assert status_of(report)[9] is Status.WARN
    said(finding(report, 9), "leaves out groups the rules name: admins")


def test_groups_not_needed_without_group_rules(org: Org) -> None:
    org.client.groups_claim = None
    report = org.doctor(OKTA_MW_ACCESS_RULES=None)
    assert report.exit_status == 0
    said(finding(report, 9), "not needed")


# -- the doctor's own variables ------------------------------------------------------------


def test_org_url_for_the_api(org: Org) -> None:
    report = org.doctor(OKTA_ORG_URL=org.fake.base_url + "/")
    assert report.exit_status == 0
    assert status_of(report)[6] is Status.OK


@pytest.mark.parametrize(
    "value", ["ftp://org.example", "http://org.example", "https://o.example/x"]
)
def test_a_bad_org_url_is_a_configuration_error(org: Org, value: str) -> None:
    report = org.doctor(OKTA_ORG_URL=value)
    assert [f.number for f in report.findings] == [0]
    said(finding(report, 0), "OKTA_ORG_URL must be the Okta org URL")
