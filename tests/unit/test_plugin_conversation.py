"""The plugin's sign-in conversation, sans-IO: its parsers and its decisions, step by step."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okta_magiclink_mw import _pages
from okta_magiclink_mw.testing import FakeOkta, SignInError
from okta_magiclink_mw.testing._conversation import (
    AppRequest,
    OktaRequest,
    Reply,
    _config_in,
    magic_link_conversation,
    relative,
    sign_in_conversation,
    widget_config,
)

_PAGE = (
    "<!doctype html><div id=okta-sign-in-widget></div><script nonce=n>"
    'new OktaSignIn(Object.assign({el: "#okta-sign-in-widget"}, CONFIG)).showSignInAndRedirect()'
    "</script>"
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(), _json, max_size=5), st.text())
def test_the_config_is_read_back_whatever_it_holds(extra: dict[str, Any], state: str) -> None:
    config = {**extra, "codeChallenge": "c" * 43, "state": state}
    page = _PAGE.replace("CONFIG", _pages.script_json(config))
    assert _config_in(page) == json.loads(json.dumps(config))


@given(st.dictionaries(st.text(), _json, max_size=5))
def test_a_custom_page_config_is_found_anywhere(extra: dict[str, Any]) -> None:
    config = {**extra, "codeChallenge": "x", "state": "s"}
    page = f"<p>{{not json}}</p><script>var c = {_pages.script_json(config)};</script>"
    assert _config_in(page) == json.loads(json.dumps(config))


@given(st.text())
def test_any_other_page_is_a_sign_in_error(text: str) -> None:
    if "codeChallenge" in text:
        return
    with pytest.raises(SignInError, match="no Sign-In Widget configuration"):
        widget_config(Reply(200, {}, text), "the login page")


@given(st.text())
def test_relative_is_always_a_path_of_the_same_host(url: str) -> None:
    try:
        kept = relative(url)
    except ValueError:  # urlsplit refuses some text (an invalid IPv6 host)
        return
    assert kept.startswith("/")
    assert not kept.startswith("//")
    assert urlsplit(kept).netloc == ""
    assert "#" not in urlsplit(kept).path


def test_relative() -> None:
    assert relative("http://testserver/login?state=a&otp=1") == "/login?state=a&otp=1"
    assert relative("/login/callback") == "/login/callback"
    assert relative("https://evil.example/x#frag") == "/x"
    assert relative("http://h//evil.example/x?q") == "/evil.example/x?q"


def _login_page(config: dict[str, Any]) -> Reply:
    return Reply(200, {}, _PAGE.replace("CONFIG", _pages.script_json(config)))


def _fake() -> tuple[FakeOkta, dict[str, Any]]:
    fake = FakeOkta(base_url="https://okta.example")
    fake.add_user(email="ada@example.com", name="Ada Lovelace")
    fake.add_web_app("https://app.example/login/callback", client_id="0oaUnit")
    config = {
        "issuer": fake.issuer,
        "clientId": "0oaUnit",
        "redirectUri": "https://app.example/login/callback",
        "state": "the-state",
        "nonce": "the-nonce",
        "scopes": ["openid", "profile", "email"],
        "codeChallenge": "c" * 43,
        "codeChallengeMethod": "S256",
    }
    return fake, config


def test_sign_in_steps() -> None:
    fake, config = _fake()
    steps = sign_in_conversation(
        fake, email="grace@example.com", next="/r?x=1", name="G", groups=["a"]
    )
    first = next(steps)
    assert first == AppRequest("/r?x=1")
    assert dict(first.headers)["sec-fetch-mode"] == "navigate"
    login = steps.send(Reply(302, {"location": "/login?state=the-state"}, ""))
    assert login == AppRequest("/login?state=the-state")
    callback = steps.send(_login_page(config))
    assert isinstance(callback, AppRequest)
    assert callback.path.startswith("/login/callback?interaction_code=")
    assert callback.path.endswith("&state=the-state")
    with pytest.raises(StopIteration) as done:
        steps.send(Reply(302, {"location": "/r?x=1"}, ""))
    user = done.value.value
    assert (user.email, user.name, user.groups) == ("grace@example.com", "G", ["a"])


@pytest.mark.parametrize("status", [200, 401, 404, 500])
def test_sign_in_stops_where_the_app_does_not_redirect(status: int) -> None:
    fake, _ = _fake()
    steps = sign_in_conversation(fake, email="ada@example.com", next="/", name=None, groups=None)
    next(steps)
    with pytest.raises(SignInError, match="opening /") as failed:
        steps.send(Reply(status, {}, "<h1>a page</h1>"))
    assert failed.value.status == status
    assert "a page" in str(failed.value)


@pytest.mark.parametrize("status", [200, 400, 403, 502])
def test_a_refused_callback(status: int) -> None:
    fake, config = _fake()
    steps = sign_in_conversation(fake, email="ada@example.com", next="/", name=None, groups=None)
    next(steps)
    steps.send(Reply(302, {"location": "/login?state=the-state"}, ""))
    steps.send(_login_page(config))
    with pytest.raises(SignInError, match="the callback"):
        steps.send(Reply(status, {}, "Sign in again"))


def test_magic_link_steps_go_to_okta_as_the_widget() -> None:
    fake, config = _fake()
    steps = magic_link_conversation(fake, email="ada@example.com", next="/", same_browser=True)
    next(steps)
    steps.send(Reply(302, {"location": "/login?state=the-state"}, ""))
    interact = steps.send(_login_page(config))
    assert isinstance(interact, OktaRequest)
    assert interact.url == f"{fake.issuer}/v1/interact"
    assert interact.headers["origin"] == "https://app.example"
    assert interact.form is not None
    assert interact.form["code_challenge"] == "c" * 43
    with pytest.raises(SignInError, match="interact"):
        steps.send(Reply(400, {}, '{"error": "unauthorized_client"}'))


def test_an_answer_a_browser_would_block() -> None:
    fake, config = _fake()
    steps = magic_link_conversation(fake, email="ada@example.com", next="/", same_browser=True)
    next(steps)
    steps.send(Reply(302, {"location": "/login?state=the-state"}, ""))
    steps.send(_login_page(config))
    introspect = steps.send(Reply(200, {}, '{"interaction_handle": "h"}'))
    assert isinstance(introspect, OktaRequest)
    assert introspect.url == "https://okta.example/idp/idx/introspect"
    with pytest.raises(SignInError, match="a browser would block it"):
        steps.send(Reply(200, {}, '{"stateHandle": "s"}'))  # no CORS header


@pytest.mark.parametrize("bad", ["https://evil.example/", "//evil.example", "relative", ""])
def test_next_is_a_path(bad: str) -> None:
    fake, _ = _fake()
    with pytest.raises(ValueError, match="next must be a path"):
        next(sign_in_conversation(fake, email="a@b.c", next=bad, name=None, groups=None))
