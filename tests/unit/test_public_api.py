"""The public surface: names, error tree, user objects."""

from __future__ import annotations

import pytest

import okta_magiclink_mw as pkg
from okta_magiclink_mw import (
    AnonymousUser,
    BadRequest,
    ConfigurationError,
    IdentityProviderError,
    InvalidIdToken,
    MagicLinkError,
    OktaUser,
    SignInError,
    StateMismatch,
    TokenExchangeError,
)


def test_all_names_exist() -> None:
    assert sorted(pkg.__all__) == pkg.__all__
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
    assert pkg.__version__ == "0.1.0"
    assert "MagicLinkCore" not in pkg.__all__


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (BadRequest, 400, "bad_request"),
        (StateMismatch, 403, "state_mismatch"),
        (InvalidIdToken, 403, "invalid_id_token"),
        (TokenExchangeError, 400, "token_exchange_failed"),
        (IdentityProviderError, 502, "idp_unavailable"),
        (ConfigurationError, 500, "configuration_error"),
    ],
)
def test_error_tree(cls: type[MagicLinkError], status: int, code: str) -> None:
    err = cls()
    assert isinstance(err, MagicLinkError)
    assert (err.status, err.code) == (status, code)
    assert str(err) == err.public_message
    if cls is not ConfigurationError:
        assert isinstance(err, SignInError)


def test_error_overrides() -> None:
    err = SignInError("msg", code="c", status=418)
    assert (err.public_message, err.code, err.status) == ("msg", "c", 418)
    assert SignInError.public_message != "msg"  # the class default is untouched


def test_okta_user() -> None:
    user = OktaUser(
        {"sub": "00u1", "email": "a@b.c", "email_verified": True, "preferred_username": "ada"}
    )
    assert user.is_authenticated
    assert user.identity == "00u1"
    assert user.email == "a@b.c"
    assert user.remote_user == "a@b.c"
    assert user.display_name == "ada"
    assert repr(user) == "OktaUser(identity='00u1')"
    with pytest.raises(TypeError):
        user.claims["sub"] = "x"  # type: ignore[index]
    assert OktaUser({"sub": "s", "email": 5, "email_verified": True}).email is None
    assert OktaUser({"sub": "s", "name": ""}).display_name == "s"
    assert OktaUser({"sub": ""}).display_name == ""


def test_anonymous_user() -> None:
    user = AnonymousUser()
    assert not user.is_authenticated
    assert (user.identity, user.display_name, user.email) == ("", "", None)
    assert dict(user.claims) == {}
    assert repr(user) == "AnonymousUser()"
