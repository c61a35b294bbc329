"""Settings: validated once, derived values, from_env."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from okta_magiclink_mw import ConfigurationError, Settings, _environment
from tests.conftest import make_settings

GOOD_ENV = {
    "OKTA_ISSUER": "https://org.example/oauth2/default",
    "OKTA_CLIENT_ID": "cid",
    "OKTA_REDIRECT_URI": "https://app.example/login/callback",
    "OKTA_MW_SECRET_KEYS": " " + "a" * 32 + " , " + "b" * 32 + ",",
}


def test_derived_values_https() -> None:
    s = make_settings()
    assert s.secure_cookies is True
    assert s.session_cookie_name == "__Host-omw_session"
    assert s.transaction_cookie_name == "__Host-omw_signin"
    assert s.callback_path == "/login/callback"
    assert s.app_origin == "https://app.example"
    assert s.token_endpoint == "https://org.example/oauth2/default/v1/token"
    assert s.logout_endpoint == "https://org.example/oauth2/default/v1/logout"
    assert s.discovery_url == "https://org.example/oauth2/default/.well-known/openid-configuration"
    assert s.widget_base_url.endswith("/7.49.0")
    assert isinstance(s.scopes, tuple)
    assert isinstance(s.secret_keys, tuple)


def test_derived_values_http_and_org_server() -> None:
    s = make_settings(
        issuer="https://org.example/", redirect_uri="http://localhost:8000/cb", cookie_secure=None
    )
    assert s.secure_cookies is False
    assert s.session_cookie_name == "omw_session"
    assert s.token_endpoint == "https://org.example/oauth2/v1/token"
    assert s.discovery_url == "https://org.example/.well-known/openid-configuration"
    forced = make_settings(redirect_uri="http://localhost:8000/cb", cookie_secure=True)
    assert forced.session_cookie_name == "__Host-omw_session"


def test_repr_hides_secrets() -> None:
    s = make_settings(client_secret="top-secret-value")
    assert "top-secret-value" not in repr(s)
    assert "n" * 32 not in repr(s)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"client_id": ""}, "client_id"),
        ({"issuer": "org.example"}, "issuer must be an absolute URL"),
        ({"issuer": "http://org.example/oauth2/default"}, "https"),
        ({"issuer": "https://org.example/oauth2/default?x=1"}, "query, fragment"),
        ({"issuer": "https://user@org.example/oauth2/default"}, "user@"),
        ({"redirect_uri": "/login/callback"}, "redirect_uri must be an absolute"),
        ({"redirect_uri": "https://app.example/cb#x"}, "redirect_uri must not"),
        ({"post_logout_redirect_uri": "/bye"}, "post_logout_redirect_uri"),
        ({"cookie_secure": False}, "cookie_secure=False"),
        ({"secret_keys": "x" * 40}, "non-empty sequence"),
        ({"secret_keys": []}, "non-empty sequence"),
        ({"secret_keys": ["short"]}, "at least 32 bytes"),
        ({"secret_keys": [123]}, "at least 32 bytes"),
        ({"login_path": "login"}, "absolute path"),
        ({"public_paths": ["/a?b"]}, "absolute path"),
        ({"logout_path": "/login"}, "must differ"),
        ({"session_max_age": 0}, "session_max_age"),
        ({"session_idle_timeout": True}, "session_idle_timeout"),
        ({"transaction_ttl": "900"}, "transaction_ttl"),
        ({"http_timeout": -1}, "http_timeout"),
        ({"http_deadline": 0}, "http_deadline"),
        ({"leeway": -5}, "leeway"),
        ({"leeway": 301}, "at most 300"),
        ({"max_transactions": 0}, "max_transactions"),
        ({"max_transactions": 21}, "max_transactions"),
        ({"max_transactions": 2.0}, "max_transactions"),
        ({"scopes": "openid"}, "scopes"),
        ({"scopes": ["profile"]}, "scopes"),
        ({"login_page": 42}, "login_page"),
    ],
)
def test_invalid_settings(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_settings(**overrides)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_valid_edges() -> None:
    assert make_settings(leeway=0).leeway == 0
    assert make_settings(issuer="http://localhost:9000/oauth2/default").issuer.startswith("http:")
    assert make_settings(login_page=lambda page: "x").login_page is not None
    assert make_settings(post_logout_redirect_uri="https://app.example/bye")


def test_from_env() -> None:
    s = Settings.from_env(
        {**GOOD_ENV, "OKTA_CLIENT_SECRET": "cs", "OKTA_POST_LOGOUT_REDIRECT_URI": "https://a.b/"}
    )
    assert s.secret_keys == ("a" * 32, "b" * 32)
    assert s.client_secret == "cs"
    assert s.post_logout_redirect_uri == "https://a.b/"
    assert s.client_id == "cid"


def test_from_env_overrides_and_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in GOOD_ENV.items() if k != "OKTA_CLIENT_ID"}
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env)
    assert "OKTA_CLIENT_ID" in str(info.value)
    s = Settings.from_env(env, client_id="override", max_transactions=3)
    assert (s.client_id, s.max_transactions) == ("override", 3)
    s = Settings.from_env(env, client_id="x", secret_keys=["z" * 32])
    assert s.secret_keys == ("z" * 32,)
    for key, value in GOOD_ENV.items():
        monkeypatch.setenv(key, value)
    assert Settings.from_env().client_id == "cid"


def test_every_setting_has_an_environment_variable() -> None:
    """The forward-auth server is configured from the environment alone: a setting
    without a variable could not be set there, so adding one fails here until it has."""
    init_fields = {f.name for f in dataclasses.fields(Settings) if f.init}
    named = set(_environment.REQUIRED) | set(_environment.OPTIONAL)
    assert init_fields - _environment.CODE_ONLY == named
    variables = [_environment.variable_of(name) for name in named]
    assert len(set(variables)) == len(variables)
    assert all(v and v.startswith("OKTA_") for v in variables)
    assert _environment.variable_of("login_page") is None


def test_from_env_reads_every_kind_of_value() -> None:
    s = Settings.from_env(
        {
            **GOOD_ENV,
            "OKTA_MW_PUBLIC_PATHS": "/health, /static/,",
            "OKTA_MW_SESSION_MAX_AGE": "7200",
            "OKTA_MW_MAX_TRANSACTIONS": "3",
            "OKTA_MW_COOKIE_SECURE": "auto",
            "OKTA_MW_REQUIRE_VERIFIED_EMAIL": "Yes",
            "OKTA_MW_ALLOW_INSECURE_HTTP": "off",
            "OKTA_MW_SCOPES": "openid email, profile",
            "OKTA_MW_LOGIN_PATH": "",
        }
    )
    assert tuple(s.public_paths) == ("/health", "/static/")
    assert s.session_max_age == 7200
    assert s.max_transactions == 3
    assert s.cookie_secure is None
    assert s.require_verified_email is True
    assert s.allow_insecure_http is False
    assert tuple(s.scopes) == ("openid", "email", "profile")
    assert s.login_path == "/login"  # empty means unset


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("OKTA_MW_SESSION_MAX_AGE", "a day", "number of seconds"),
        ("OKTA_MW_MAX_TRANSACTIONS", "2.5", "whole number"),
        ("OKTA_MW_REQUIRE_VERIFIED_EMAIL", "maybe", "true or false"),
        ("OKTA_MW_COOKIE_SECURE", "sometimes", "true or false"),
    ],
)
def test_from_env_names_the_malformed_variable(variable: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({**GOOD_ENV, variable: raw})
    assert variable in str(info.value)
    assert message in str(info.value)


def test_frozen() -> None:
    s = make_settings()
    with pytest.raises(AttributeError):
        s.client_id = "other"  # type: ignore[misc]
