"""Every setting's environment variable, and how its text becomes a value.

One table, so ``Settings.from_env``, the forward-auth server, ``check-config`` and the
settings reference all read the same names, and a test can check that no setting is
left without one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ._policy import AccessRule, rules_of
from .errors import ConfigurationError

Parse = Callable[[str, str], Any]


def text(variable: str, raw: str) -> str:
    return raw.strip()


def pem(variable: str, raw: str) -> str:
    """PEM text; ``\\n`` stands for a line break where the value has none (env files and
    container settings often hold one line)."""
    value = raw.strip()
    if "\n" not in value and "\\n" in value:
        value = value.replace("\\n", "\n")
    return value + "\n"


def seconds(variable: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{variable} must be a number of seconds") from None


def integer(variable: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{variable} must be a whole number") from None


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def flag(variable: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigurationError(f"{variable} must be true or false (or 1/0, yes/no, on/off)")


def flag_or_auto(variable: str, raw: str) -> bool | None:
    """``auto`` (None) or a :func:`flag`."""
    return None if raw.strip().lower() == "auto" else flag(variable, raw)


def items(variable: str, raw: str) -> list[str]:
    """A comma-separated list; blanks around items and empty items are dropped."""
    return [item.strip() for item in raw.split(",") if item.strip()]


def words(variable: str, raw: str) -> list[str]:
    """A list separated by commas or spaces, as OAuth scopes are written either way."""
    return raw.replace(",", " ").split()


def access_rules(variable: str, raw: str) -> tuple[AccessRule, ...]:
    """A JSON list of rules: ``[{"path": "/admin", "groups": ["admins"]}, ...]``."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{variable} must be JSON, e.g. "
            f'[{{"path": "/admin", "groups": ["admins"]}}] ({exc.msg} at character {exc.pos})'
        ) from None
    if not isinstance(value, list):
        raise ConfigurationError(
            f'{variable} must be a JSON list of rules, e.g. [{{"path": "/admin", '
            '"groups": ["admins"]}]'
        )
    return rules_of(value, variable)


#: Settings that only code can give (a callable, an object): no variable.
CODE_ONLY = frozenset({"login_page"})

#: Required settings and their variables.
REQUIRED: Mapping[str, tuple[str, Parse]] = {
    "issuer": ("OKTA_ISSUER", text),
    "client_id": ("OKTA_CLIENT_ID", text),
    "redirect_uri": ("OKTA_REDIRECT_URI", text),
    "secret_keys": ("OKTA_MW_SECRET_KEYS", items),
}

#: Optional settings: a variable that is unset or empty leaves the default.
OPTIONAL: dict[str, tuple[str, Parse]] = {
    "client_secret": ("OKTA_CLIENT_SECRET", text),
    "client_auth": ("OKTA_MW_CLIENT_AUTH", text),
    "client_private_key": ("OKTA_MW_CLIENT_PRIVATE_KEY", pem),
    "client_private_key_file": ("OKTA_MW_CLIENT_PRIVATE_KEY_FILE", text),
    "client_key_id": ("OKTA_MW_CLIENT_KEY_ID", text),
    "scopes": ("OKTA_MW_SCOPES", words),
    "login_path": ("OKTA_MW_LOGIN_PATH", text),
    "logout_path": ("OKTA_MW_LOGOUT_PATH", text),
    "public_paths": ("OKTA_MW_PUBLIC_PATHS", items),
    "identity_headers": ("OKTA_MW_IDENTITY_HEADERS", items),
    "post_logout_redirect_uri": ("OKTA_POST_LOGOUT_REDIRECT_URI", text),
    "session_max_age": ("OKTA_MW_SESSION_MAX_AGE", seconds),
    "session_idle_timeout": ("OKTA_MW_SESSION_IDLE_TIMEOUT", seconds),
    "transaction_ttl": ("OKTA_MW_TRANSACTION_TTL", seconds),
    "max_transactions": ("OKTA_MW_MAX_TRANSACTIONS", integer),
    "leeway": ("OKTA_MW_LEEWAY", seconds),
    "cookie_secure": ("OKTA_MW_COOKIE_SECURE", flag_or_auto),
    "widget_version": ("OKTA_MW_WIDGET_VERSION", text),
    "widget_js_url": ("OKTA_MW_WIDGET_JS_URL", text),
    "widget_css_url": ("OKTA_MW_WIDGET_CSS_URL", text),
    "widget_assets_url": ("OKTA_MW_WIDGET_ASSETS_URL", text),
    "require_verified_email": ("OKTA_MW_REQUIRE_VERIFIED_EMAIL", flag),
    "websocket_origins": ("OKTA_MW_WEBSOCKET_ORIGINS", items),
    "allow_insecure_http": ("OKTA_MW_ALLOW_INSECURE_HTTP", flag),
    "session_store": ("OKTA_MW_SESSION_STORE", text),
    "revalidate_every": ("OKTA_MW_REVALIDATE_EVERY", seconds),
    "store_grace": ("OKTA_MW_STORE_GRACE", seconds),
    "http_timeout": ("OKTA_MW_HTTP_TIMEOUT", seconds),
    "http_deadline": ("OKTA_MW_HTTP_DEADLINE", seconds),
    "max_response_bytes": ("OKTA_MW_MAX_RESPONSE_BYTES", integer),
    "universal_logout_path": ("OKTA_MW_UNIVERSAL_LOGOUT_PATH", text),
    "universal_logout_issuer": ("OKTA_MW_UNIVERSAL_LOGOUT_ISSUER", text),
    "backchannel_logout_path": ("OKTA_MW_BACKCHANNEL_LOGOUT_PATH", text),
    "allowed_emails": ("OKTA_MW_ALLOWED_EMAILS", items),
    "allowed_domains": ("OKTA_MW_ALLOWED_DOMAINS", items),
    "allowed_groups": ("OKTA_MW_ALLOWED_GROUPS", items),
    "access_rules": ("OKTA_MW_ACCESS_RULES", access_rules),
}


def variable_of(name: str) -> str | None:
    """The environment variable of setting ``name``, or None for a code-only one."""
    entry = REQUIRED.get(name) or OPTIONAL.get(name)
    return entry[0] if entry else None


def read(environ: Mapping[str, str], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The settings ``environ`` gives, parsed; settings in ``skip`` are not read.

    :raises ConfigurationError: naming the first missing or malformed variable.
    """
    values: dict[str, Any] = {}
    for name, (variable, parse) in REQUIRED.items():
        if name in skip:
            continue
        raw = environ.get(variable, "")
        if not raw.strip():
            raise ConfigurationError(f"environment variable {variable} is not set")
        values[name] = parse(variable, raw)
    for name, (variable, parse) in OPTIONAL.items():
        raw = environ.get(variable, "")
        if name not in skip and raw.strip():
            values[name] = parse(variable, raw)
    return values
