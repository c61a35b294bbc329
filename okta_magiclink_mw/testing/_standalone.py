"""FakeOkta on its own port: ``okta-magiclink-mw fake-okta`` (and the demo's org).

For a front-end team, or a service not written in Python, that wants an Okta org to sign in
against without an Okta account. The org is set up the way the README tells an admin to
(:meth:`FakeOkta.add_web_app`), and the command prints the ``OKTA_*`` environment an app
needs to use it: the same names :meth:`Settings.from_env` reads.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from .. import _environment
from ._app import FakeOkta
from ._org import origin_of

DEFAULT_EMAIL = "ada@example.com"
DEFAULT_NAME = "Ada Lovelace"
#: The client id of the demo's app, and of ``fake-okta``'s unless ``--client-id`` is given.
DEFAULT_CLIENT_ID = "0oaDemoMagicLink"
DEFAULT_REDIRECT_URI = "http://localhost:8000/login/callback"


def new_client_secret() -> str:
    """A random client secret, as Okta generates one for a new Web app."""
    return secrets.token_urlsafe(24)


def new_secret_key() -> str:
    """A random signing key for ``OKTA_MW_SECRET_KEYS`` (32 random bytes, URL-safe text)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class User:
    """A person of the org: ``name`` defaults to the email's local part, as FakeOkta's."""

    email: str
    name: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrgSetup:
    """An org with people and one app, set up as the README tells an admin to.

    The first of ``redirect_uris`` is the app's Sign-in redirect URI and its Email verify
    callback URI; the others are further Sign-in redirect URIs. ``trusted_origins`` are the
    Trusted Origins with CORS (None: the origins of ``redirect_uris``). ``client_secret``
    None makes a public client (token endpoint authentication ``none``).
    """

    base_url: str
    redirect_uris: tuple[str, ...] = (DEFAULT_REDIRECT_URI,)
    users: tuple[User, ...] = (User(DEFAULT_EMAIL, DEFAULT_NAME),)
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str | None = field(default_factory=new_client_secret, repr=False)
    post_logout_redirect_uri: str | None = None
    trusted_origins: tuple[str, ...] | None = None

    @property
    def redirect_uri(self) -> str:
        return self.redirect_uris[0]

    @property
    def sign_out_uri(self) -> str:
        """The Sign-out redirect URI: as given, else the app's origin + ``/``."""
        return self.post_logout_redirect_uri or f"{origin_of(self.redirect_uri)}/"

    @property
    def origins(self) -> tuple[str, ...]:
        if self.trusted_origins is not None:
            return self.trusted_origins
        return tuple(dict.fromkeys(origin_of(uri) for uri in self.redirect_uris))


def build_org(setup: OrgSetup) -> FakeOkta:
    """A FakeOkta with ``setup``'s people and app."""
    fake = FakeOkta(base_url=setup.base_url)
    for user in setup.users:
        fake.add_user(email=user.email, name=user.name, groups=user.groups)
    client = fake.add_web_app(
        setup.redirect_uri,
        post_logout_redirect_uri=setup.sign_out_uri,
        client_id=setup.client_id,
        client_secret=setup.client_secret,
    )
    client.redirect_uris.extend(uri for uri in setup.redirect_uris[1:] if uri != setup.redirect_uri)
    if setup.trusted_origins is not None:  # exactly these: the default one goes if not listed
        fake.remove_trusted_origin(origin_of(setup.redirect_uri))
    for origin in setup.origins:
        fake.add_trusted_origin(origin)
    return fake


def _variable(setting: str) -> str:
    variable = _environment.variable_of(setting)
    assert variable is not None, setting
    return variable


def client_environment(fake: FakeOkta, setup: OrgSetup, *, secret_key: str) -> dict[str, str]:
    """The environment an app needs to sign people in with ``fake``: what
    :meth:`Settings.from_env` reads (``secret_key`` is the app's own, for
    ``OKTA_MW_SECRET_KEYS``); the widget's URLs when FakeOkta serves the widget."""
    values = {
        "issuer": fake.issuer,
        "client_id": setup.client_id,
        "client_secret": setup.client_secret,
        "redirect_uri": setup.redirect_uri,
        "post_logout_redirect_uri": setup.sign_out_uri,
        "secret_keys": secret_key,
        "widget_js_url": fake.widget_js_url,
        "widget_css_url": fake.widget_css_url,
    }
    return {_variable(name): value for name, value in values.items() if value is not None}


def env_lines(environment: Mapping[str, str]) -> str:
    """``KEY=value`` lines, as a shell, ``docker --env-file`` and dotenv files read them
    (every value is a URL, an id or URL-safe text: nothing to quote)."""
    return "".join(f"{key}={value}\n" for key, value in environment.items())


def write_env_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (it holds secrets), at once:
    a reader never sees half of it, and an existing file's wider mode is not kept."""
    path = path.expanduser()
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".env-")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- what the command line accepts -------------------------------------------------------------


#: What a value may hold so that ``KEY=value`` needs no quoting in a shell, ``docker
#: --env-file`` or dotenv (no space, quote, ``$``, ``;``, backslash or line break).
_SAFE_URL = re.compile(r"[A-Za-z0-9._~:/\[\]%+=,@-]+")
_SAFE_ID = re.compile(r"[A-Za-z0-9._~+/=-]+")


def _printable(text: str) -> bool:
    return _SAFE_URL.fullmatch(text) is not None


def http_url(raw: str) -> str:
    """An absolute http(s) URL with no query or fragment (a redirect URI)."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or not _printable(raw):
        raise ValueError(f"not an absolute http(s) URL: {raw!r}")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"a redirect URI has no query, fragment or user@ part: {raw!r}")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise ValueError(f"bad port in {raw!r}") from None
    return raw


def origin(raw: str) -> str:
    """``scheme://host[:port]``, exactly as a browser writes an ``Origin`` header."""
    url = http_url(raw)
    if origin_of(url) != url:
        raise ValueError(f"an origin is scheme://host[:port], with no path: {raw!r}")
    return url


def user(raw: str) -> User:
    """``ada@example.com`` or ``Ada Lovelace <ada@example.com>``."""
    name, email = parseaddr(raw)
    local, at, domain = email.rpartition("@")
    if not (local and at and domain) or not _printable(email) or email not in raw:
        raise ValueError(f"not an email address: {raw!r}")
    return User(email=email, name=name)


def membership(raw: str) -> tuple[str, str]:
    """``EMAIL=GROUP``: puts a user in a group."""
    email, equals, group = raw.rpartition("=")
    if not (email and equals and group.strip()):
        raise ValueError(f"a group is EMAIL=GROUP: {raw!r}")
    return email, group.strip()


def client_id(raw: str) -> str:
    """A client id or secret: letters, digits and ``._~+/=-``, as Okta's are."""
    if _SAFE_ID.fullmatch(raw) is None:
        raise ValueError(f"a client id or secret is letters, digits and ._~+/=- only: {raw!r}")
    return raw


def port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"not a port number: {raw!r}") from None
    if not 0 <= value <= 65535:
        raise ValueError(f"a port is 0-65535 (0: any free port): {raw!r}")
    return value


def org_setup(
    *,
    base_url: str,
    users: Sequence[User] = (),
    groups: Sequence[tuple[str, str]] = (),
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str | None = None,
    public: bool = False,
    redirect_uris: Sequence[str] = (),
    post_logout_redirect_uri: str | None = None,
    trusted_origins: Sequence[str] = (),
) -> OrgSetup:
    """The org the command line asks for.

    :raises ValueError: for options that contradict each other.
    """
    if public and client_secret is not None:
        raise ValueError("--public is an app without a client secret: drop --client-secret")
    everyone = users or (User(DEFAULT_EMAIL, DEFAULT_NAME),)
    people = {person.email.lower(): person for person in everyone}
    memberships: dict[str, list[str]] = {email: [] for email in people}
    for email, group in groups:
        if email.lower() not in people:
            raise ValueError(f"--group {email}={group}: no --user {email}")
        memberships[email.lower()].append(group)
    return OrgSetup(
        base_url=base_url,
        redirect_uris=tuple(dict.fromkeys(redirect_uris or (DEFAULT_REDIRECT_URI,))),
        users=tuple(
            User(person.email, person.name, tuple(memberships[key]))
            for key, person in people.items()
        ),
        client_id=client_id,
        client_secret=None if public else client_secret or new_client_secret(),
        post_logout_redirect_uri=post_logout_redirect_uri,
        trusted_origins=tuple(dict.fromkeys(trusted_origins)) if trusted_origins else None,
    )


# -- serving -----------------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: any free port), so the port is taken before
    the environment naming it is printed.

    :raises OSError: the address is taken or not this machine's.
    """
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a host name, e.g. localhost
        family = socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


def base_url_of(sock: socket.socket) -> str:
    """The URL FakeOkta is reached at: a wildcard address is reached on loopback."""
    host, port = sock.getsockname()[:2]
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    text = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{text}:{port}"


def instructions(fake: FakeOkta, setup: OrgSetup, env_file: Path | None) -> str:
    """What a person reads (on stderr): where things are."""
    people = ", ".join(
        person.email + (f" (groups: {', '.join(person.groups)})" if person.groups else "")
        for person in setup.users
    )
    lines = [
        "",
        f"FakeOkta (an emulated Okta org) is running at {fake.base_url}",
        f"  issuer:          {fake.issuer}",
        f"  app:             {setup.client_id}"
        + (" (public: no client secret)" if setup.client_secret is None else ""),
        f"  redirect URIs:   {', '.join(setup.redirect_uris)}",
        f"  trusted origins: {', '.join(setup.origins)}",
        f"  people:          {people}",
        f"  mailbox:         {fake.base_url}/outbox (as JSON: {fake.base_url}/outbox.json)",
        "",
        "The OKTA_* environment for the app is on stdout"
        + (f" and in {env_file}" if env_file else "")
        + ". Sign in with the email, then open the mailbox for the magic link or the code.",
    ]
    if fake.widget_js_url is None:
        lines.append(
            "note: @okta/okta-signin-widget is not installed (npm ci), so the login page "
            "loads the widget from Okta's CDN."
        )
    lines += ["Press Ctrl+C to stop.", ""]
    return "\n".join(lines)


def serve(fake: FakeOkta, sock: socket.socket) -> None:
    """Serve ``fake`` on ``sock`` until Ctrl+C (SIGINT) or SIGTERM; uvicorn's own ``Date``
    header is off, as FakeOkta writes one from its clock."""
    import uvicorn

    config = uvicorn.Config(fake, log_level="warning", access_log=False, date_header=False)
    uvicorn.Server(config).run(sockets=[sock])
