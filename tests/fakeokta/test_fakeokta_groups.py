"""FakeOkta's groups claim (issue 10): users in groups, the claim as an admin configures it,
and refreshes that carry the user's groups of the moment."""

from __future__ import annotations

import jwt
import pytest

from .conftest import CLIENT_ID, Org
from .test_fakeokta_tokens import refresh, sign_in


def claims_of(id_token: str) -> dict:
    return dict(jwt.decode(id_token, options={"verify_signature": False}))


def test_a_user_in_groups_gets_the_groups_claim(org: Org) -> None:
    org.fake.set_groups("ada@example.com", ["Everyone", "admins"])
    tokens = sign_in(org)
    assert claims_of(tokens["id_token"])["groups"] == ["Everyone", "admins"]


def test_a_user_in_no_group_gets_no_claim(org: Org) -> None:
    assert "groups" not in claims_of(sign_in(org)["id_token"])


def test_the_claim_is_left_out_when_not_configured(org: Org) -> None:
    org.client.groups_claim = None
    org.fake.set_groups("ada@example.com", ["admins"])
    assert "groups" not in claims_of(sign_in(org)["id_token"])


def test_the_filter_keeps_matching_groups_only(org: Org) -> None:
    org.client.groups_filter = "app-.*"
    org.fake.set_groups("ada@example.com", ["Everyone", "app-admins", "xapp-admins"])
    assert claims_of(sign_in(org)["id_token"])["groups"] == ["app-admins"]
    org.client.groups_filter = "nothing"
    assert "groups" not in claims_of(sign_in(org)["id_token"])


def test_a_refresh_carries_the_groups_of_the_moment(org: Org) -> None:
    org.fake.set_groups("ada@example.com", ["staff"])
    tokens = sign_in(org)
    org.fake.set_groups("ada@example.com", ["staff", "admins"])
    r = refresh(org, tokens["refresh_token"])
    assert r.status_code == 200, r.text
    refreshed = claims_of(r.json()["id_token"])
    assert refreshed["groups"] == ["staff", "admins"]
    assert refreshed["sub"] == claims_of(tokens["id_token"])["sub"]
    assert refreshed["aud"] == CLIENT_ID
    assert "nonce" not in refreshed  # a refresh has none
    assert claims_of(tokens["id_token"])["groups"] == ["staff"]  # issued tokens keep theirs


def test_add_user_takes_groups_and_set_groups_needs_a_user(org: Org) -> None:
    user = org.fake.add_user("grace@example.com", "Grace Hopper", groups=["navy"])
    assert user.groups == ["navy"]
    with pytest.raises(LookupError):
        org.fake.set_groups("nobody@example.com", [])


def test_a_bad_filter_is_refused(org: Org) -> None:
    with pytest.raises(ValueError, match="regex"):
        org.fake.add_client(groups_filter="(")
