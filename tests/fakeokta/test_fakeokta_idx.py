"""The IDX email sign-in, request bodies as the widget sends them (protocol.md §6.3)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from .conftest import BASE, CALLBACK, CLIENT_ID, Flow, Org

ION = "application/ion+json; okta-version=1.0.0"


def names(doc: dict[str, object]) -> list[str]:
    remediation = doc.get("remediation")
    assert isinstance(remediation, dict)
    return [form["name"] for form in remediation["value"]]


def test_full_sequence(flow: Flow, org: Org) -> None:
    assert flow.interact().json() == {"interaction_handle": flow.handle}

    r = flow.introspect()
    assert r.status_code == 200
    assert r.headers["content-type"] == ION
    doc = r.json()
    assert names(doc) == ["identify"]
    identify = doc["remediation"]["value"][0]
    assert identify["href"] == f"{BASE}/idp/idx/identify"
    assert [f["name"] for f in identify["value"]] == ["identifier", "rememberMe", "stateHandle"]
    assert doc["cancel"]["href"] == f"{BASE}/idp/idx/cancel"
    assert doc["app"]["value"]["id"] == CLIENT_ID
    assert doc["intent"] == "LOGIN"
    assert doc["expiresAt"].endswith("Z")

    r = flow.identify()
    assert r.status_code == 200
    doc = r.json()
    assert names(doc) == ["authenticator-verification-data", "select-authenticator-authenticate"]
    assert doc["remediation"]["value"][0]["href"] == f"{BASE}/idp/idx/challenge"
    assert doc["user"]["value"]["identifier"] == "ada@example.com"
    assert doc["currentAuthenticatorEnrollment"]["value"]["key"] == "okta_email"
    assert not org.fake.outbox

    r = flow.challenge()
    assert r.status_code == 200
    doc = r.json()
    assert names(doc)[0] == "challenge-authenticator"
    current = doc["currentAuthenticatorEnrollment"]["value"]
    assert current["poll"]["refresh"] == 4000
    assert current["poll"]["href"] == f"{BASE}/idp/idx/challenge/poll"
    assert current["resend"]["href"] == f"{BASE}/idp/idx/challenge/resend"
    assert current["contextualData"] == {"useEmailMagicLink": True}
    assert current["profile"]["email"] == "a*a@example.com"

    [mail] = org.fake.outbox
    assert mail.to == "ada@example.com"
    assert len(mail.otp) == 6
    assert mail.otp.isdigit()
    link = urlsplit(mail.magic_link)  # Okta's hop, then the Email verify callback URI
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{BASE}/email/verify/{CLIENT_ID}"
    assert mail.otp not in mail.magic_link
    hop = org.http.get(mail.magic_link)
    assert hop.status_code == 302
    target = urlsplit(hop.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == CALLBACK
    assert parse_qs(target.query) == {"state": [flow.state], "otp": [mail.otp]}

    assert flow.poll().status_code == 200
    assert names(flow.last)[0] == "challenge-authenticator"

    r = flow.answer(mail.otp)
    assert r.status_code == 200
    success = r.json()["successWithInteractionCode"]
    assert success["href"] == f"{BASE}/oauth2/default/v1/token"
    assert success["accepts"] == "application/x-www-form-urlencoded"
    fields = {f["name"]: f.get("value") for f in success["value"]}
    assert fields["grant_type"] == "interaction_code"
    assert fields["client_id"] == CLIENT_ID
    assert "code_verifier" in fields
    assert fields["interaction_code"]


def test_identify_unknown_user(flow: Flow) -> None:
    flow.interact()
    flow.introspect()
    r = flow.identify("nobody@example.com")
    assert r.status_code == 400
    doc = r.json()
    assert names(doc) == ["identify"]
    [msg] = doc["messages"]["value"]
    assert msg["class"] == "ERROR"
    assert msg["i18n"]["key"] == "errors.E0000004"
    assert flow.identify().status_code == 200  # the form can be retried


def test_identifier_is_case_insensitive(flow: Flow) -> None:
    flow.interact()
    flow.introspect()
    assert flow.identify("ADA@Example.com").status_code == 200


def test_invalid_passcode_is_a_field_error(flow: Flow) -> None:
    otp = flow.to_challenge()
    wrong = "000000" if otp != "000000" else "111111"
    r = flow.answer(wrong)
    assert r.status_code == 400
    answer = r.json()["remediation"]["value"][0]
    passcode = answer["value"][0]["form"]["value"][0]
    [msg] = passcode["messages"]["value"]
    assert msg["message"] == "Invalid code. Try again."
    assert msg["i18n"]["key"] == "api.authn.error.PASSCODE_INVALID"
    assert flow.answer(otp).status_code == 200


def test_otp_expires_after_five_minutes(flow: Flow, org: Org) -> None:
    otp = flow.to_challenge()
    org.clock.advance(300)
    r = flow.answer(otp)
    assert r.status_code == 400
    assert "successWithInteractionCode" not in r.json()


def test_otp_still_valid_just_before_five_minutes(flow: Flow, org: Org) -> None:
    otp = flow.to_challenge()
    org.clock.advance(299)
    assert flow.answer(otp).status_code == 200


def test_otp_works_once(flow: Flow) -> None:
    otp = flow.to_challenge()
    assert flow.answer(otp).status_code == 200
    r = flow.answer(otp)
    assert r.status_code == 401
    assert r.json()["messages"]["value"][0]["i18n"]["key"] == "idx.session.expired"


def test_resend_replaces_the_otp(flow: Flow, org: Org) -> None:
    first = flow.to_challenge()
    assert flow.resend().status_code == 200
    assert len(org.fake.outbox) == 2
    second = org.fake.outbox[-1].otp
    if first != second:
        assert flow.answer(first).status_code == 400
    assert flow.answer(second).status_code == 200


def test_poll_too_fast_is_429(flow: Flow, org: Org) -> None:
    flow.to_challenge()
    assert flow.poll().status_code == 200
    r = flow.poll()
    assert r.status_code == 429
    assert r.headers["x-rate-limit-remaining"] == "0"
    doc = r.json()
    assert doc["messages"]["value"][0]["i18n"]["key"] == "tooManyRequests"
    assert names(doc)[0] == "challenge-authenticator"
    org.clock.advance(4)
    assert flow.poll().status_code == 200


def test_poll_after_success_elsewhere_is_terminal(flow: Flow) -> None:
    otp = flow.to_challenge()
    assert flow.answer(otp).status_code == 200
    r = flow.poll()
    assert r.status_code == 200
    doc = r.json()
    assert "remediation" not in doc
    assert doc["messages"]["value"][0]["i18n"]["key"] == "idx.transferred.to.new.tab"


def test_introspect_resumes_in_another_tab(flow: Flow, org: Org) -> None:
    """The magic-link tab: introspect with the saved handle, then answer with the OTP."""
    otp = flow.to_challenge()
    r = flow.introspect()
    assert names(r.json())[0] == "challenge-authenticator"
    assert flow.answer(otp).status_code == 200
    r = flow.introspect()
    assert "successWithInteractionCode" in r.json()


def test_state_expires(flow: Flow, org: Org) -> None:
    flow.interact()
    flow.introspect()
    org.clock.advance(601)
    r = flow.identify()
    assert r.status_code == 401
    doc = r.json()
    assert doc["messages"]["value"][0]["i18n"]["key"] == "idx.session.expired"
    assert "remediation" not in doc
    assert flow.introspect().status_code == 401


def test_expiry_slides_with_activity(flow: Flow, org: Org) -> None:
    flow.interact()
    flow.introspect()
    org.clock.advance(500)
    assert flow.identify().status_code == 200
    org.clock.advance(500)
    assert flow.challenge().status_code == 200


def test_unknown_state_handle(flow: Flow) -> None:
    r = flow.idx("identify", {"identifier": "ada@example.com", "stateHandle": "02nope"})
    assert r.status_code == 401
    assert flow.idx("introspect", {"interactionHandle": "nope"}).status_code == 401
    assert flow.idx("identify", {"identifier": "x"}).status_code == 400


def test_cancel_starts_over(flow: Flow) -> None:
    flow.to_challenge()
    old = flow.state_handle
    r = flow.idx("cancel", {"stateHandle": old})
    assert r.status_code == 200
    assert names(r.json()) == ["identify"]
    assert flow.state_handle != old
    r = flow.idx("challenge/poll", {"stateHandle": old})
    assert r.status_code == 401


def test_wrong_step_is_rejected(flow: Flow) -> None:
    flow.interact()
    flow.introspect()
    r = flow.answer("123456")
    assert r.status_code == 400
    assert names(r.json()) == ["identify"]


def test_challenge_rejects_unknown_authenticator(flow: Flow) -> None:
    flow.interact()
    flow.introspect()
    flow.identify()
    r = flow.idx(
        "challenge",
        {
            "authenticator": {"id": "autNope", "methodType": "email"},
            "stateHandle": flow.state_handle,
        },
    )
    assert r.status_code == 400
