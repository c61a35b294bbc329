"""Settings: everything the middleware needs to know, validated once at construction."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from string import Template
from typing import Any
from urllib.parse import urlsplit

from . import _client_auth, _environment, _widget
from ._client_auth import ClientCredentials
from ._identity_headers import header_patterns
from ._policy import AccessRule, Requirement, rules_of
from .errors import ConfigurationError

#: The Okta Sign-In Widget release the login page loads by default (Gen2, 6.8.0 or later:
#: older releases and the Gen3 bundle do not send the sign-in's nonce to Okta).
DEFAULT_WIDGET_VERSION = "7.49.0"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})

#: A page provider: either an HTML template string (``string.Template`` syntax, with
#: ``$widget_config``, ``$widget_js_url``, ``$widget_css_url``, ``$script_nonce`` and
#: ``$otp_notice``), or a callable that receives a :class:`WidgetPage` and returns HTML.
#: Either way the page must hand the widget the configuration unchanged (see
#: :class:`WidgetPage`): a template without ``$widget_config`` is refused by ``Settings``,
#: and a page that leaves out the sign-in's ``state``, ``nonce`` or ``codeChallenge`` is
#: answered with a 500 page and an ERROR log (``login_page.config_dropped``).
LoginPage = str | Callable[["WidgetPage"], str]


@dataclass(frozen=True, slots=True)
class WidgetPage:
    """What a custom login page needs to host the Okta Sign-In Widget.

    ``config_json`` is the object to pass, unchanged, to ``new OktaSignIn(...)``: already
    serialised and safe to put inside a ``<script>`` element, e.g.
    ``new OktaSignIn(Object.assign({el: "#w"}, CONFIG_JSON))``. Add your own options
    around it as that line does; never drop or rewrite its keys. It carries this sign-in's
    ``state``, ``nonce`` and PKCE ``codeChallenge``: without them the widget makes up its
    own and Okta's answer cannot be matched to the sign-in (every sign-in then fails with
    a nonce or state mismatch). ``config`` is the same, read-only, for reading.

    Put ``nonce="{script_nonce}"`` on your inline script: the page's
    Content-Security-Policy only runs scripts that carry it. ``otp_notice`` is a small
    escaped HTML box with the code of the magic link being finished (empty otherwise):
    show it next to the widget, for when the widget cannot finish the link itself.
    """

    config: Mapping[str, Any]
    config_json: str
    widget_js_url: str
    widget_css_url: str
    script_nonce: str
    otp_notice: str = ""


def _seconds(name: str, value: float, *, minimum: float = 0.0) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= minimum:
        raise ConfigurationError(f"{name} must be a number of seconds greater than {minimum:g}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _clean_path(path: object) -> bool:
    """An absolute path, not ``/``, that a browser and a proxy cannot read two ways: no
    query, fragment, empty, dot or encoded-looking segments, backslashes or controls."""
    if not isinstance(path, str) or path == "/" or not path.startswith("/") or not path.isascii():
        return False
    if any(ch in path for ch in "?#%\\") or not path.isprintable() or " " in path:
        return False
    segments = path.split("/")[1:]
    return all(seg not in ("", ".", "..") for seg in segments[:-1]) and segments[-1] not in (
        ".",
        "..",
    )


def _issuer_url(url: object) -> bool:
    """An origin-like issuer URL (Okta's org URL or custom domain): https, or http on
    localhost; no user@, query or fragment; at most a trailing slash for a path."""
    if not isinstance(url, str) or not url.isascii():
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - evaluated for its ValueError on a malformed port
    except ValueError:
        return False
    if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
        return False
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        return False
    return parts.path in ("", "/") and not parts.query and not parts.fragment


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How the middleware talks to Okta and guards the app.

    All durations are in seconds. Everything is checked when the object is
    built; a mistake raises :class:`~okta_magiclink_mw.ConfigurationError`
    (a ``ValueError``) that names the setting.

    .. code-block:: python

        settings = Settings(
            issuer="https://example.okta.com/oauth2/default",
            client_id="0oa...",
            redirect_uri="https://app.example.com/login/callback",
            secret_keys=[os.environ["OKTA_MW_SECRET_KEY"]],
        )
    """

    #: The authorization server, e.g. ``https://{org}.okta.com/oauth2/default``.
    issuer: str
    #: The OIDC app's client id.
    client_id: str
    #: The absolute callback URL registered in Okta; its path is the callback path.
    redirect_uri: str
    #: Signing secrets (32 bytes or more each), oldest first: the newest signs, all verify.
    secret_keys: Sequence[str | bytes] = field(repr=False)
    #: The client secret of a confidential ("Web") app; sent only to Okta's token and
    #: revocation endpoints.
    client_secret: str | None = field(default=None, repr=False)
    #: How the app authenticates to Okta's token and revocation endpoints:
    #: ``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` or ``none``, as
    #: the app's "Client authentication" in Okta. None picks ``client_secret_post`` with a
    #: ``client_secret``, ``private_key_jwt`` with a private key, else ``none``; after
    #: construction this holds the method in use.
    client_auth: str | None = None
    #: The private key of ``private_key_jwt`` (RSA of 2048 bits or more, or EC P-256), as
    #: unencrypted PEM text; its public key is registered in the Okta app. Checked once, at
    #: construction, and never logged.
    client_private_key: str | bytes | None = field(default=None, repr=False)
    #: The path of a PEM file holding that private key, instead of its text in
    #: ``client_private_key`` (give one or the other). Read and checked once, at construction.
    client_private_key_file: str | None = None
    #: The ``kid`` Okta shows for that public key; sent in each assertion's header (needed
    #: when the app has several keys, e.g. while rotating).
    client_key_id: str | None = None
    #: The OAuth scopes asked of Okta; must include ``openid``. Add ``offline_access`` for a
    #: refresh token (kept only in a ``session_store``), ``groups`` for the org server's
    #: groups claim.
    scopes: Sequence[str] = ("openid", "profile", "email")
    #: The sign-in page that hosts the widget: a full path as the browser sees it, a mount
    #: prefix (ASGI root_path, WSGI SCRIPT_NAME) included, like the path of redirect_uri.
    login_path: str = "/login"
    #: The sign-out page (a POST signs out, a GET shows a button): a full path as the
    #: browser sees it, a mount prefix included, like ``login_path``.
    logout_path: str = "/logout"
    #: Paths reachable without a session: exact paths, or prefixes ending in "/". They are
    #: the paths the app routes on, relative to its mount: WSGI PATH_INFO, ASGI path
    #: without root_path (an app mounted at /app with "/health" public serves /app/health).
    public_paths: Sequence[str] = ()
    #: More request headers to strip as identity headers (R29), besides the built-in
    #: ``X-Forwarded-User`` and friends, ``X-Auth-Request-*``, ``Remote-*``, ``X-Remote-*``
    #: and ``X-WEBAUTH-*``: names, or prefixes ending in ``*``; any case, ``-`` and ``_``
    #: alike.
    identity_headers: Sequence[str] = ()
    #: Where Okta sends the browser after sign-out; must be registered in Okta.
    post_logout_redirect_uri: str | None = None
    #: The absolute limit of a session, from its sign-in: after it the person signs in again,
    #: however active. Checked on every request from a signed timestamp.
    session_max_age: float = 8 * 3600
    #: A session unused for this long ends; requests keep it alive (its last-seen time, in
    #: the cookie or the store, moves forward at most once per twelfth of this, or per 5
    #: minutes if that is shorter). Checked on every request.
    session_idle_timeout: float = 3600
    #: How long a sign-in may take, from the redirect to the login page until Okta's answer
    #: comes back to the callback (the magic link must be opened within it).
    transaction_ttl: float = 15 * 60
    #: Sign-ins in progress one browser may hold at once (from 1 to 20), so several tabs can
    #: each start one; the oldest gives way to a new one beyond it.
    max_transactions: int = 5
    #: Clock skew tolerated on token and cookie timestamps.
    leeway: float = 60
    #: Whether cookies are ``Secure`` (and take the ``__Host-`` prefix). None: exactly when
    #: ``redirect_uri`` is https. False with an https ``redirect_uri``, or True with plain
    #: http off localhost, is refused.
    cookie_secure: bool | None = None
    #: The Okta Sign-In Widget release loaded from Okta's CDN: Gen2, 6.8.0 or later (older
    #: releases do not send the sign-in's nonce to Okta, and are refused).
    widget_version: str = DEFAULT_WIDGET_VERSION
    #: The widget's bundle, to host it yourself: the Gen2 bundle ``okta-sign-in.min.js``
    #: (the Gen3 ``okta-sign-in.next.js`` is refused, see above). None: Okta's CDN, or
    #: ``widget_assets_url`` when that is given.
    widget_js_url: str | None = None
    #: The widget's style sheet (``okta-sign-in.min.css``), to host it yourself. None:
    #: Okta's CDN, or ``widget_assets_url`` when that is given.
    widget_css_url: str | None = None
    #: Where the widget's own files (``labels/json/login_fr.json``...) are served: the
    #: ``dist`` folder of the npm package. None: the folder above ``/js/`` of
    #: ``widget_js_url`` when it has that layout, else Okta's CDN for ``widget_version``.
    #: The page's CSP lets the widget fetch exactly ``{this}/labels/json/``.
    widget_assets_url: str | None = None
    #: Refuse the sign-in of a person whose ID token says ``email_verified`` is not true.
    #: By default they sign in, but an unverified email is never their identity: the app
    #: sees their Okta id (``sub``) in ``REMOTE_USER``, and ``OktaUser.email`` is None.
    require_verified_email: bool = False
    #: Origins, besides the app's own (that of ``redirect_uri``), whose pages may open a
    #: websocket that carries the session, e.g. ``("https://admin.example.com",)``.
    websocket_origins: Sequence[str] = ()
    #: A plain-http ``redirect_uri`` on a host other than localhost sends cookies without
    #: ``Secure`` and without the ``__Host-`` prefix, so a network attacker can read them and
    #: a sibling subdomain can plant its own (cookie tossing). Refused unless this is True.
    allow_insecure_http: bool = False
    #: Where sessions live when several processes or hosts serve the app:
    #: ``redis://host:6379/0``, ``rediss://`` (TLS) or ``unix:///path``, or a
    #: :class:`~okta_magiclink_mw.stores.RecordStore` object (``MemoryRecordStore()`` for
    #: one process). None keeps them in the cookie, and a sign-out then holds in the
    #: process that handled it only. Access tokens are kept only in a store.
    session_store: str | Any | None = field(default=None, repr=False)
    #: Re-check each session with Okta this often (seconds; a refresh with the refresh
    #: token, so it needs ``offline_access`` in ``scopes`` and a ``session_store``): a
    #: person deactivated or signed out in Okta loses the app's session within it. None
    #: (the default) checks only when the access token is asked for and has run out.
    revalidate_every: float | None = None
    #: How long (seconds) sessions this process already verified keep working while the
    #: session store cannot be reached; after that, and for anything that needs the store,
    #: the answer is 503 "try again".
    store_grace: float = 5.0
    #: Your own login page (see :data:`LoginPage`); None uses the built-in one.
    login_page: LoginPage | None = field(default=None, repr=False)
    #: Per-phase HTTP timeout (connect, read, write, pool) for calls to Okta.
    http_timeout: float = 5.0
    #: Overall deadline for one call to Okta, however slowly the bytes arrive.
    http_deadline: float = 10.0
    #: Largest Okta response body accepted, in bytes.
    max_response_bytes: int = 1_000_000
    #: Okta Universal Logout (Global Token Revocation): the path of the endpoint Okta
    #: POSTs to, e.g. ``/.well-known/okta-universal-logout``; None (the default) turns it
    #: off. Okta's JWT must name ``app_origin + path`` as its audience. Needs
    #: ``session_store``.
    universal_logout_path: str | None = None
    #: The ``iss`` of Okta's Universal Logout JWTs: the org URL (the issuer's origin) by
    #: default, or a custom domain; its keys are at ``{this}/oauth2/v1/keys``.
    universal_logout_issuer: str | None = None
    #: OpenID Connect Back-Channel Logout: the path of the ``backchannel_logout_uri``
    #: registered for the app; None (the default) turns it off. Needs ``session_store``.
    backchannel_logout_path: str | None = None
    #: Who may enter where no access rule matches the path, by verified email (compared
    #: without case). A person passes when any of the three ``allowed_*`` lists lets them;
    #: all three empty: anyone who can sign in.
    allowed_emails: Sequence[str] = ()
    #: Who may enter where no access rule matches, by the domain of their verified email:
    #: exactly, so ``example.com`` does not cover ``eu.example.com``.
    allowed_domains: Sequence[str] = ()
    #: Who may enter where no access rule matches, by the groups of the ID token's
    #: ``groups`` claim (compared exactly; the claim is set up in Okta).
    allowed_groups: Sequence[str] = ()
    #: Per-path rules, in order: the first :class:`~okta_magiclink_mw.AccessRule` whose
    #: path matches decides (the ``allowed_*`` lists then do not apply). Public paths are
    #: never subject to them.
    access_rules: Sequence[AccessRule] = ()

    # Derived once in __post_init__; not arguments.
    callback_path: str = field(init=False, repr=False)
    app_origin: str = field(init=False, repr=False)
    allowed_websocket_origins: frozenset[str] = field(init=False, repr=False)
    secure_cookies: bool = field(init=False, repr=False)
    session_cookie_name: str = field(init=False, repr=False)
    transaction_cookie_name: str = field(init=False, repr=False)
    token_endpoint: str = field(init=False, repr=False)
    logout_endpoint: str = field(init=False, repr=False)
    discovery_url: str = field(init=False, repr=False)
    widget_base_url: str = field(init=False, repr=False)
    #: The checked credentials (the key parsed once): see ``okta_magiclink_mw._client_auth``.
    client_credentials: ClientCredentials = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_urls()
        self._check_secrets()
        self._check_paths()
        object.__setattr__(self, "identity_headers", header_patterns(self.identity_headers))
        for name in ("session_max_age", "session_idle_timeout", "transaction_ttl"):
            _seconds(name, getattr(self, name))
        _seconds("store_grace", self.store_grace, minimum=-1)
        for name in ("http_timeout", "http_deadline"):
            _seconds(name, getattr(self, name))
        _seconds("leeway", self.leeway, minimum=-1)
        if self.leeway > 300:
            raise ConfigurationError("leeway must be at most 300 seconds")
        if not isinstance(self.max_transactions, int) or not 1 <= self.max_transactions <= 20:
            raise ConfigurationError("max_transactions must be an integer from 1 to 20")
        if isinstance(self.scopes, str) or "openid" not in self.scopes:
            raise ConfigurationError("scopes must be a sequence of strings that includes 'openid'")
        self._check_store()
        self._check_widget()
        self._check_access()
        credentials = _client_auth.credentials_for(
            client_id=self.client_id,
            client_auth=self.client_auth,
            client_secret=self.client_secret,
            private_key=self.client_private_key,
            private_key_file=self.client_private_key_file,
            key_id=self.client_key_id,
        )

        secure = self.cookie_secure
        if secure is None:
            secure = self.redirect_uri.startswith("https://")
        prefix = "__Host-" if secure else ""
        set_ = object.__setattr__
        set_(self, "client_credentials", credentials)
        set_(self, "client_auth", credentials.method)
        set_(self, "scopes", tuple(self.scopes))
        set_(self, "public_paths", tuple(self.public_paths))
        set_(self, "websocket_origins", tuple(self.websocket_origins))
        set_(
            self,
            "allowed_websocket_origins",
            frozenset({_origin(self.redirect_uri), *self.websocket_origins}),
        )
        set_(self, "secret_keys", tuple(self.secret_keys))
        set_(self, "callback_path", urlsplit(self.redirect_uri).path or "/")
        set_(self, "app_origin", _origin(self.redirect_uri))
        set_(self, "secure_cookies", secure)
        set_(self, "session_cookie_name", f"{prefix}omw_session")
        set_(self, "transaction_cookie_name", f"{prefix}omw_signin")
        issuer = self.issuer.rstrip("/")
        # Okta's OAuth endpoints live under the issuer for custom authorization servers
        # ({org}/oauth2/{id}) and under {org}/oauth2 for the org server (protocol.md §1).
        base = issuer if "/oauth2" in issuer else f"{issuer}/oauth2"
        set_(self, "token_endpoint", f"{base}/v1/token")
        set_(self, "logout_endpoint", f"{base}/v1/logout")
        set_(self, "discovery_url", f"{issuer}/.well-known/openid-configuration")
        set_(
            self,
            "widget_base_url",
            _widget.assets_base(self.widget_assets_url, self.widget_js_url, self.widget_version),
        )

    def _check_widget(self) -> None:
        problem = _widget.check_version(self.widget_version)
        for name in ("widget_js_url", "widget_css_url"):
            url = getattr(self, name)
            if problem is None and url is not None:
                problem = _widget.check_bundle(url, name)
        if problem is None and self.widget_assets_url is not None:
            problem = _widget.check_assets_url(self.widget_assets_url)
        if problem is not None:
            raise ConfigurationError(problem)
        page = self.login_page
        if page is not None and not (isinstance(page, str) or callable(page)):
            raise ConfigurationError("login_page must be an HTML template string or a callable")
        if isinstance(page, str):
            names = set(Template(page).get_identifiers())
            missing = [n for n in ("widget_config", "script_nonce") if n not in names]
            if missing:
                raise ConfigurationError(
                    "login_page must use $widget_config (pass it unchanged to new OktaSignIn: "
                    "it carries the sign-in's state and nonce) and $script_nonce (the CSP runs "
                    f"only scripts that carry it); missing: {', '.join('$' + n for n in missing)}"
                )

    def _check_urls(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id:
            raise ConfigurationError("client_id must be a non-empty string")
        issuer = urlsplit(self.issuer)
        if issuer.scheme not in ("https", "http") or not issuer.netloc:
            raise ConfigurationError(
                "issuer must be an absolute URL, e.g. https://{org}/oauth2/default"
            )
        if issuer.scheme == "http" and issuer.hostname not in _LOOPBACK:
            raise ConfigurationError("issuer must use https (http is allowed for localhost only)")
        if issuer.query or issuer.fragment or "@" in issuer.netloc:
            raise ConfigurationError("issuer must not have a query, fragment or user@ part")
        redirect = urlsplit(self.redirect_uri)
        if redirect.scheme not in ("https", "http") or not redirect.netloc:
            raise ConfigurationError("redirect_uri must be an absolute http(s) URL")
        if redirect.query or redirect.fragment:
            raise ConfigurationError("redirect_uri must not have a query or fragment")
        if self.post_logout_redirect_uri is not None:
            after = urlsplit(self.post_logout_redirect_uri)
            if after.scheme not in ("https", "http") or not after.netloc:
                raise ConfigurationError("post_logout_redirect_uri must be an absolute http(s) URL")
        if (
            redirect.scheme == "http"
            and redirect.hostname not in _LOOPBACK
            and not self.allow_insecure_http
        ):
            raise ConfigurationError(
                "redirect_uri must use https: over plain http the session cookie is sent in "
                "clear and other subdomains can plant cookies (http is allowed for localhost; "
                "allow_insecure_http=True accepts the risk)"
            )
        if isinstance(self.websocket_origins, str):
            raise ConfigurationError("websocket_origins must be a sequence of origins")
        for origin in self.websocket_origins:
            parts = urlsplit(origin) if isinstance(origin, str) else None
            if (
                parts is None
                or parts.scheme not in ("https", "http")
                or not parts.netloc
                or (_origin(origin) != origin)
            ):
                raise ConfigurationError(
                    f"websocket_origins: {origin!r} must be an origin such as https://app.example"
                )
        if self.cookie_secure is False and redirect.scheme == "https":
            raise ConfigurationError("cookie_secure=False with an https redirect_uri leaks cookies")
        if (
            self.cookie_secure is True
            and redirect.scheme == "http"
            and redirect.hostname not in _LOOPBACK
        ):
            # Browsers silently drop Secure (and __Host-) cookies set over plain http (#67).
            raise ConfigurationError(
                "cookie_secure=True needs an https redirect_uri (or localhost)"
            )

    def _check_secrets(self) -> None:
        keys = self.secret_keys
        if isinstance(keys, str | bytes) or not keys:
            raise ConfigurationError("secret_keys must be a non-empty sequence of secrets")
        for key in keys:
            raw = key.encode() if isinstance(key, str) else key
            if not isinstance(raw, bytes) or len(raw) < 32:
                raise ConfigurationError(
                    "every entry of secret_keys must be at least 32 bytes; "
                    "make one with: okta-magiclink-mw gen-secret"
                )

    def _check_store(self) -> None:
        store = self.session_store
        if isinstance(store, str):
            if store.split("://", 1)[0] not in ("redis", "rediss", "unix", "redis+sentinel"):
                raise ConfigurationError(
                    "session_store must be a redis://, rediss:// or unix:// URL"
                )
        elif store is not None and not callable(getattr(store, "load", None)):
            raise ConfigurationError(
                "session_store must be a redis://, rediss:// or unix:// URL, or a RecordStore"
            )
        if self.revalidate_every is not None:
            _seconds("revalidate_every", self.revalidate_every, minimum=29)
            if "offline_access" not in self.scopes:
                raise ConfigurationError(
                    "revalidate_every re-checks sessions with a refresh token: add "
                    "'offline_access' to scopes"
                )
        if store is None and "offline_access" in self.scopes:
            raise ConfigurationError(
                "'offline_access' asks Okta for a refresh token, which is kept only in a "
                "session_store (never in the cookie): set session_store"
            )

    def _check_paths(self) -> None:
        own = (self.login_path, self.logout_path, urlsplit(self.redirect_uri).path)
        for path in (*own, *self.public_paths):
            if not isinstance(path, str) or not path.startswith("/") or "?" in path:
                raise ConfigurationError(f"{path!r} must be an absolute path such as '/login'")
        if len(set(own)) != 3:
            raise ConfigurationError("login_path, logout_path and the callback path must differ")
        endpoints = [
            (name, getattr(self, name))
            for name in ("universal_logout_path", "backchannel_logout_path")
            if getattr(self, name) is not None
        ]
        for name, path in endpoints:
            if not _clean_path(path):
                raise ConfigurationError(
                    f"{name} must be a clean absolute path such as "
                    "'/.well-known/okta-universal-logout'"
                )
            if path in own:
                raise ConfigurationError(
                    f"{name} must differ from login_path, logout_path and the callback path"
                )
        if len(endpoints) == 2 and endpoints[0][1] == endpoints[1][1]:
            raise ConfigurationError(
                "universal_logout_path and backchannel_logout_path must differ"
            )
        if self.universal_logout_issuer is not None and not _issuer_url(
            self.universal_logout_issuer
        ):
            raise ConfigurationError(
                "universal_logout_issuer must be an https URL without path, query or "
                "fragment, e.g. https://{org}.okta.com (http is allowed for localhost only)"
            )

    def _check_access(self) -> None:
        # Each list as a Requirement would hold it: the messages name the setting.
        Requirement.of(
            self.allowed_emails, self.allowed_domains, self.allowed_groups, where="allowed_"
        )
        set_ = object.__setattr__
        for name in ("allowed_emails", "allowed_domains", "allowed_groups"):
            set_(self, name, tuple(getattr(self, name)))
        set_(self, "access_rules", rules_of(self.access_rules))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from the environment: every setting has a variable (the README's
        settings table lists them), e.g. ``OKTA_ISSUER``, ``OKTA_CLIENT_ID``,
        ``OKTA_REDIRECT_URI`` and ``OKTA_MW_SECRET_KEYS`` (comma-separated, oldest first),
        which are required. Lists are comma-separated; flags are true/false.

        Keyword arguments override or add settings (and need no variable).

        :raises ConfigurationError: naming the first missing or malformed variable.
        """
        env = os.environ if environ is None else environ
        values = _environment.read(env, skip=frozenset(overrides))
        values.update(overrides)
        return cls(**values)
