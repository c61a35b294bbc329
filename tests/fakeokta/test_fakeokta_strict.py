"""FakeOkta is as strict as a real org: each rule, set up wrong (fails as Okta does) and
right (works). The ``org`` fixture is set up the way the README tells an admin to
(``add_web_app``); each test breaks one thing, as the doctor's tests will."""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from okta_magiclink_mw.testing import EVERYONE, FakeOkta

from .conftest import APP, BASE, CALLBACK, CLIENT_ID, FIXTURES, Flow, Org

INTERACT = "/oauth2/default/v1/interact"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-okta-user-agent-extended",
}


def preflight(org: Org, origin: str, path: str = INTERACT) -> Any:
    return org.http.options(path, headers={"Origin": origin, **PREFLIGHT})


def message_keys(doc: dict[str, Any]) -> list[str]:
    return [m["i18n"]["key"] for m in doc.get("messages", {}).get("value", [])]


def remediations(doc: dict[str, Any]) -> list[str]:
    return [r["name"] for r in doc.get("remediation", {}).get("value", [])]


# -- Trusted Origins ---------------------------------------------------------------------------


def test_the_app_origin_is_trusted_because_the_admin_added_it(org: Org) -> None:
    assert set(org.fake.trusted_origins) == {APP}
    entry = org.fake.trusted_origins[APP]
    assert (entry.cors, entry.redirect, entry.scopes) == (True, False, ["CORS"])
    r = preflight(org, APP)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP


def test_a_missing_trusted_origin_fails_cors_as_on_a_real_org(org: Org) -> None:
    org.fake.remove_trusted_origin(APP)
    r = preflight(org, APP)
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    # The request itself is answered, but without CORS headers the browser hides it.
    post = org.http.post(INTERACT, data={"client_id": CLIENT_ID}, headers={"Origin": APP})
    assert "access-control-allow-origin" not in post.headers
    assert "access-control-allow-credentials" not in post.headers


def test_redirect_uris_do_not_make_an_origin_trusted() -> None:
    fake = FakeOkta(base_url=BASE)
    fake.add_client(client_id=CLIENT_ID, redirect_uris=[CALLBACK], grant_types=["interaction_code"])
    assert not fake.is_trusted_origin(APP)
    assert fake.trusted_origins == {}


@pytest.mark.parametrize(
    "registered",
    [f"{APP}/", "http://app.test:8080", "https://app.test", "http://APP.test"],
    ids=["trailing-slash", "other-port", "other-scheme", "other-case"],
)
def test_the_origin_must_match_exactly(org: Org, registered: str) -> None:
    org.fake.remove_trusted_origin(APP)
    org.fake.add_trusted_origin(registered)
    assert preflight(org, APP).status_code == 403


def test_a_redirect_only_trusted_origin_gives_no_cors(org: Org) -> None:
    org.fake.add_trusted_origin(APP, cors=False, redirect=True)
    assert org.fake.trusted_origins[APP].scopes == ["REDIRECT"]
    assert preflight(org, APP).status_code == 403


# -- grant types -------------------------------------------------------------------------------


def test_a_new_app_has_only_the_authorization_code_grant() -> None:
    fake = FakeOkta(base_url=BASE)
    assert fake.add_client().grant_types == ["authorization_code"]
    with pytest.raises(ValueError, match="unknown grant types: magic"):
        fake.add_client(grant_types=["magic"])


def test_without_the_interaction_code_grant_interact_is_unauthorized_client(
    org: Org, flow: Flow
) -> None:
    org.client.grant_types.remove("interaction_code")
    r = flow.interact()
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {
        "error": "unauthorized_client",
        "error_description": "The client is not authorized to use the provided grant type. "
        "Configured grant types: [authorization_code, refresh_token].",
    }
    assert org.fake.interactions == {}


def test_unauthorized_client_has_the_shape_of_okta_s_body(org: Org, flow: Flow) -> None:
    fixture = FIXTURES / "v3/oauth2/default/v1/interact/error-400-unauthorized-client.json"
    if not fixture.is_file():
        pytest.skip("../shared/okta-idx-fixtures not present")
    okta = json.loads(fixture.read_text())
    org.client.grant_types[:] = ["refresh_token", "implicit", "authorization_code"]
    ours = flow.interact().json()
    assert ours == okta  # same app settings, same words


def test_with_the_grant_interact_works(flow: Flow) -> None:
    assert flow.interact().status_code == 200


def test_the_token_endpoint_checks_the_grant_too(org: Org, flow: Flow) -> None:
    code = flow.code()
    org.client.grant_types.remove("interaction_code")  # an admin unticks it meanwhile
    r = flow.token(code)
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")


def test_without_the_refresh_token_grant_no_refresh_token(org: Org) -> None:
    org.client.grant_types.remove("refresh_token")
    flow = Flow(org, scope="openid profile email offline_access")
    body = flow.token(flow.code()).json()
    assert "access_token" in body
    assert "refresh_token" not in body


def test_the_refresh_grant_needs_the_refresh_token_grant(org: Org) -> None:
    flow = Flow(org, scope="openid profile email offline_access")
    token = flow.token(flow.code()).json()["refresh_token"]
    org.client.grant_types.remove("refresh_token")
    r = org.http.post(
        "/oauth2/default/v1/token",
        data={"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": token},
    )
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")


def test_issue_interaction_code_keeps_the_rules(org: Org) -> None:
    org.client.grant_types.remove("interaction_code")
    with pytest.raises(PermissionError, match="Interaction Code"):
        org.fake.issue_interaction_code(CLIENT_ID, org.user, "c" * 43)
    org.client.grant_types.append("interaction_code")
    org.client.assigned_groups.clear()
    with pytest.raises(PermissionError, match="may not sign in"):
        org.fake.issue_interaction_code(CLIENT_ID, org.user, "c" * 43)


# -- Sign-in redirect URIs ---------------------------------------------------------------------


def test_an_unregistered_redirect_uri_is_refused_at_interact(org: Org, flow: Flow) -> None:
    org.client.redirect_uris[:] = [f"{APP}/other/callback"]
    r = flow.interact()
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith(
        "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings"
    )


# -- assignment and the app's sign-in policy ---------------------------------------------------


def test_a_user_not_assigned_gets_the_widget_s_message_at_identify(org: Org, flow: Flow) -> None:
    org.client.assigned_groups.clear()
    assert flow.interact().status_code == 200
    assert flow.introspect().status_code == 200
    r = flow.identify()
    assert r.status_code == 400
    doc = r.json()
    assert r.headers["content-type"].startswith("application/ion+json")
    assert doc["messages"]["value"] == [
        {
            "message": "User is not assigned to this application.",
            "i18n": {"key": "idx.error.user.not.assigned.to.app"},
            "class": "ERROR",
        }
    ]
    assert remediations(doc) == ["identify"]  # the form again, as in the widget's mock
    assert not org.fake.outbox


@pytest.mark.parametrize("how", ["user", "group", "everyone"])
def test_an_assigned_user_signs_in(org: Org, how: str) -> None:
    org.client.assigned_groups.clear()
    if how == "user":
        org.fake.assign_user(CLIENT_ID, "ada@example.com")
    elif how == "group":
        org.fake.set_groups("ada@example.com", ["staff"])
        org.fake.assign_group(CLIENT_ID, "staff")
    else:
        org.fake.assign_group(CLIENT_ID, EVERYONE)
    flow = Flow(org)
    assert flow.token(flow.code()).status_code == 200


def test_assignment_is_per_app(org: Org) -> None:
    other = org.fake.add_client(redirect_uris=[CALLBACK], grant_types=["interaction_code"])
    flow = Flow(org, client_id=other.client_id)
    assert flow.interact().status_code == 200
    flow.introspect()
    assert message_keys(flow.identify().json()) == ["idx.error.user.not.assigned.to.app"]


def test_assign_user_and_deny_access_need_known_names(org: Org) -> None:
    with pytest.raises(LookupError):
        org.fake.assign_user(CLIENT_ID, "nobody@example.com")
    with pytest.raises(LookupError):
        org.fake.assign_group("0oaNoSuchApp", EVERYONE)
    with pytest.raises(ValueError, match="exactly one"):
        org.fake.deny_access(CLIENT_ID)


@pytest.mark.parametrize("by", ["email", "group"])
def test_access_denied_by_policy_is_a_terminal_idx_message(org: Org, flow: Flow, by: str) -> None:
    if by == "email":
        org.fake.deny_access(CLIENT_ID, email="ada@example.com")
    else:
        org.fake.set_groups("ada@example.com", ["contractors"])
        org.fake.deny_access(CLIENT_ID, group="contractors")
    flow.interact()
    flow.introspect()
    r = flow.identify()
    assert r.status_code == 403
    doc = r.json()
    assert doc["messages"]["value"] == [
        {
            "message": "You do not have permission to perform the requested action.",
            "i18n": {"key": "security.access_denied"},
            "class": "ERROR",
        }
    ]
    assert "remediation" not in doc  # terminal, as the widget's error-identify-access-denied
    assert set(doc) == {"version", "stateHandle", "expiresAt", "intent", "messages"}
    assert not org.fake.outbox


def test_a_denied_user_can_go_no_further(org: Org, flow: Flow) -> None:
    """Okta answers inside the widget: no email, no code, no way on to the challenge."""
    org.client.assigned_groups.clear()
    flow.interact()
    flow.introspect()
    flow.identify()
    assert flow.challenge().status_code == 400
    assert org.fake.codes == {}
    assert not org.fake.outbox


# -- the Email verify callback URI -------------------------------------------------------------


def test_the_email_link_is_okta_s_hop_never_the_code(flow: Flow, org: Org) -> None:
    otp = flow.to_challenge()
    link = urlsplit(org.fake.outbox[-1].magic_link)
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{BASE}/email/verify/{CLIENT_ID}"
    assert set(parse_qs(link.query)) == {"token"}
    assert otp not in link.query
    assert flow.state not in link.query


def test_with_the_callback_uri_the_hop_redirects_with_state_and_otp(flow: Flow, org: Org) -> None:
    otp = flow.to_challenge()
    hop = org.http.get(org.fake.outbox[-1].magic_link)
    assert hop.status_code == 302
    assert hop.headers["location"] == f"{CALLBACK}?state={flow.state}&otp={otp}"
    assert "no-store" in hop.headers["cache-control"]


def test_without_it_the_link_ends_on_okta_s_page_and_the_first_tab_finishes(
    flow: Flow, org: Org
) -> None:
    org.client.email_verify_callback_uri = None
    otp = flow.to_challenge()
    page = org.http.get(org.fake.outbox[-1].magic_link)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "Return to the original tab or window" in page.text
    assert otp not in page.text
    r = flow.poll()  # the original tab's next poll
    assert r.status_code == 200
    assert "successWithInteractionCode" in r.json()
    fields = {f["name"]: f.get("value") for f in r.json()["successWithInteractionCode"]["value"]}
    assert flow.token(str(fields["interaction_code"])).status_code == 200


def test_without_it_another_browser_sees_only_the_code(flow: Flow, org: Org) -> None:
    org.client.email_verify_callback_uri = None
    org.fake.magic_link_same_browser = False
    otp = flow.to_challenge()
    page = org.http.get(org.fake.outbox[-1].magic_link)
    assert page.status_code == 200
    assert f"<code>{otp}</code>" in page.text
    assert "Enter the OTP in your original authentication location." in page.text
    assert "challenge-authenticator" in remediations(flow.poll().json())  # still waiting
    assert flow.answer(otp).status_code == 200  # typed in the original tab


@pytest.mark.parametrize("why", ["expired", "resent", "used"])
def test_a_stale_link_ends_on_okta_s_expired_page(flow: Flow, org: Org, why: str) -> None:
    org.client.email_verify_callback_uri = None
    otp = flow.to_challenge()
    link = org.fake.outbox[-1].magic_link
    if why == "expired":
        org.clock.advance(5 * 60)
    elif why == "resent":
        flow.resend()
    else:
        flow.answer(otp)
    page = org.http.get(link)
    assert "This email link has expired." in page.text
    assert "Return to the original tab" not in page.text
    assert not org.fake.interactions[flow.handle].verified_by_link


@pytest.mark.parametrize("path", ["/email/verify/{client}?token=nope", "/email/verify/0oaX?{q}"])
def test_an_unknown_link_is_refused(flow: Flow, org: Org, path: str) -> None:
    flow.to_challenge()
    query = urlsplit(org.fake.outbox[-1].magic_link).query
    page = org.http.get(path.format(client=CLIENT_ID, q=query))
    assert page.status_code == 200
    assert "Could not process this email link." in page.text
    assert "location" not in page.headers


# -- sign-out ----------------------------------------------------------------------------------


def test_an_unregistered_post_logout_uri_gets_okta_s_error_page(flow: Flow, org: Org) -> None:
    id_token = flow.token(flow.code()).json()["id_token"]
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": f"{APP}/bye"}
    assert org.http.get("/oauth2/default/v1/logout", params=params).status_code == 302
    org.client.post_logout_redirect_uris.clear()
    r = org.http.get("/oauth2/default/v1/logout", params=params)
    assert r.status_code == 400
    assert "text/html" in r.headers["content-type"]
    assert "must be a Logout redirect URI in the client app settings" in r.text
    assert "location" not in r.headers


def test_logout_without_a_post_logout_uri_lands_on_okta_s_sign_in_page(
    flow: Flow, org: Org
) -> None:
    id_token = flow.token(flow.code()).json()["id_token"]
    r = org.http.get("/oauth2/default/v1/logout", params={"id_token_hint": id_token})
    assert (r.status_code, r.headers["location"]) == (302, f"{BASE}/")
    page = org.http.get("/")
    assert page.status_code == 200
    assert "Okta sign-in page" in page.text


# -- the clock ---------------------------------------------------------------------------------


def test_every_answer_carries_the_org_clock_in_its_date_header(org: Org) -> None:
    for path in ("/oauth2/default/.well-known/openid-configuration", "/", "/nowhere"):
        r = org.http.get(path)
        assert parsedate_to_datetime(r.headers["date"]).timestamp() == int(org.clock())
    org.clock.advance(600)  # a skewed Okta
    r = org.http.get("/oauth2/default/v1/keys")
    assert parsedate_to_datetime(r.headers["date"]).timestamp() == int(org.clock())
    org.fake.clock = lambda: 1_700_000_000.0  # the clock itself is a knob
    date = org.http.get("/oauth2/default/v1/keys").headers["date"]
    assert date == "Tue, 14 Nov 2023 22:13:20 GMT"


# -- the documented setup ----------------------------------------------------------------------


def test_add_web_app_is_the_readme_s_checklist() -> None:
    fake = FakeOkta(base_url=BASE)
    client = fake.add_web_app(CALLBACK, client_id="0oaReadme", client_secret="s")
    assert client.grant_types == ["authorization_code", "interaction_code", "refresh_token"]
    assert client.redirect_uris == [CALLBACK]
    assert client.email_verify_callback_uri == CALLBACK
    assert client.post_logout_redirect_uris == [f"{APP}/"]
    assert client.assigned_groups == {EVERYONE}
    assert [(o.origin, o.scopes) for o in fake.trusted_origins.values()] == [(APP, ["CORS"])]


def test_a_bare_client_is_strict_in_every_way() -> None:
    fake = FakeOkta(base_url=BASE)
    client = fake.add_client(redirect_uris=[CALLBACK])
    assert client.email_verify_callback_uri is None
    assert client.post_logout_redirect_uris == []
    assert client.assigned_users == set()
    assert client.assigned_groups == set()
    assert fake.trusted_origins == {}
    assert re.fullmatch(r"0oa\w{17}", client.client_id)
