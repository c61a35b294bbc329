"""The command line: ``okta-magiclink-mw demo | serve | doctor | fake-okta | check-config |
gen-secret``.

Also ``python -m okta_magiclink_mw ...``. ``serve``, ``check-config`` and ``doctor`` read
their whole configuration from the environment (the README's tables); a configuration
error is one line on stderr and exit status 1, never a traceback. A bad option is one line
on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from .errors import ConfigurationError

T = TypeVar("T")

#: ``gen-secret``'s default and least number of random bytes (``Settings`` wants 32).
SECRET_BYTES = 32


class _Parser(argparse.ArgumentParser):
    """A bad option is one line (and exit status 2), not the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _option(convert: Callable[[str], T], name: str) -> Callable[[str], T]:
    """An argparse ``type`` that keeps ``convert``'s ValueError message."""

    def parse(raw: str) -> T:
        try:
            return convert(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse


def _secret_bytes(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"not a whole number: {raw!r}") from None
    if value < SECRET_BYTES:
        raise ValueError(f"a secret key needs at least {SECRET_BYTES} random bytes, not {value}")
    return value


def main(argv: Sequence[str] | None = None, *, prog: str = "okta-magiclink-mw") -> int:
    """Run one command; returns the exit status."""
    parser = _Parser(
        prog=prog,
        description="Okta magic-link sign-in: the demo, the forward-auth server, and tools to "
        "set it up and test it.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run a protected demo app against FakeOkta (no Okta account needed)"
    )
    demo.add_argument(
        "--app-port", type=int, default=8000, help="the demo app's port, on localhost (8000)"
    )
    demo.add_argument(
        "--okta-port", type=int, default=8001, help="FakeOkta's port, on 127.0.0.1 (8001)"
    )
    serve = commands.add_parser(
        "serve",
        help="run the forward-auth server for nginx, Traefik or Caddy (configured from "
        "the environment)",
    )
    serve.add_argument("--host", help="listen address (default: OKTA_MW_SERVE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: OKTA_MW_SERVE_PORT or 4180)")
    commands.add_parser(
        "check-config",
        help="check the environment's configuration and print it, secrets hidden",
    )
    doctor = commands.add_parser(
        "doctor",
        help="check the Okta org against this configuration (OKTA_API_TOKEN, read-only and "
        "optional, lets it read the app's settings); exit 1 if a check fails",
    )
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    fake_okta = commands.add_parser(
        "fake-okta",
        help="serve FakeOkta alone (an emulated Okta org) and print the OKTA_* environment "
        "an app needs to sign in with it",
        description="Serve FakeOkta, an emulated Okta org with one app set up as the README "
        "tells an admin to, until Ctrl+C. Prints the app's OKTA_* environment as KEY=value "
        "lines on stdout (once the port listens), and where things are on stderr.",
    )
    _fake_okta_options(fake_okta)
    gen_secret = commands.add_parser(
        "gen-secret",
        help="print a new random secret key for OKTA_MW_SECRET_KEYS",
    )
    gen_secret.add_argument(
        "--bytes",
        type=_option(_secret_bytes, "bytes"),
        default=SECRET_BYTES,
        metavar="N",
        help=f"random bytes in the key (at least {SECRET_BYTES}, the default)",
    )
    args = parser.parse_args(argv)
    if args.command == "gen-secret":
        print(secrets.token_urlsafe(args.bytes))
        return 0
    if args.command == "fake-okta":
        return _fake_okta(args, fake_okta)
    if args.command == "demo":
        from ._demo import run_demo

        with contextlib.suppress(KeyboardInterrupt):
            run_demo(app_port=args.app_port, okta_port=args.okta_port)
        return 0
    if args.command == "serve":
        return _serve(prog, args.host, args.port)
    if args.command == "doctor":
        return _doctor(as_json=args.json)
    return _check_config(prog)


def _fake_okta_options(command: argparse.ArgumentParser) -> None:
    from .testing import _standalone as standalone

    add = command.add_argument
    add("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    add(
        "--port",
        type=_option(standalone.port, "port"),
        default=8001,
        help="listen port (default: 8001; 0: any free port, read it from OKTA_ISSUER)",
    )
    add(
        "--user",
        dest="users",
        action="append",
        type=_option(standalone.user, "user"),
        metavar="EMAIL",
        help=f"a person who can sign in, 'EMAIL' or 'NAME <EMAIL>' (repeatable; default: "
        f"'{standalone.DEFAULT_NAME} <{standalone.DEFAULT_EMAIL}>')",
    )
    add(
        "--group",
        dest="groups",
        action="append",
        type=_option(standalone.membership, "group"),
        metavar="EMAIL=GROUP",
        help="put a --user in a group, for the ID token's groups claim (repeatable)",
    )
    add(
        "--client-id",
        type=_option(standalone.client_id, "client id"),
        default=standalone.DEFAULT_CLIENT_ID,
        help=f"the app's client id (default: {standalone.DEFAULT_CLIENT_ID})",
    )
    secret = command.add_mutually_exclusive_group()
    secret.add_argument(
        "--client-secret",
        type=_option(standalone.client_id, "client secret"),
        help="the app's client secret (default: a new random one)",
    )
    secret.add_argument(
        "--public",
        action="store_true",
        help="a public app: no client secret (token endpoint authentication 'none')",
    )
    add(
        "--redirect-uri",
        dest="redirect_uris",
        action="append",
        type=_option(standalone.http_url, "redirect URI"),
        metavar="URL",
        help="a Sign-in redirect URI; the first is also the Email verify callback URI and "
        f"OKTA_REDIRECT_URI (repeatable; default: {standalone.DEFAULT_REDIRECT_URI})",
    )
    add(
        "--post-logout-redirect-uri",
        type=_option(standalone.http_url, "post-logout redirect URI"),
        metavar="URL",
        help="the Sign-out redirect URI (default: the first redirect URI's origin + /)",
    )
    add(
        "--trusted-origin",
        dest="trusted_origins",
        action="append",
        type=_option(standalone.origin, "origin"),
        metavar="ORIGIN",
        help="a Trusted Origin with CORS, scheme://host[:port], where the widget runs "
        "(repeatable; default: the redirect URIs' origins; given, exactly these)",
    )
    add(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="also write the environment to PATH (mode 0600), once the port listens",
    )


def _fake_okta(args: argparse.Namespace, command: argparse.ArgumentParser) -> int:
    from .testing import _standalone as standalone

    try:
        setup = standalone.org_setup(
            base_url="",  # known once the port listens
            users=args.users or (),
            groups=args.groups or (),
            client_id=args.client_id,
            client_secret=args.client_secret,
            public=args.public,
            redirect_uris=args.redirect_uris or (),
            post_logout_redirect_uri=args.post_logout_redirect_uri,
            trusted_origins=args.trusted_origins or (),
        )
    except ValueError as exc:
        command.error(str(exc))
    try:
        sock = standalone.listen(args.host, args.port)
    except OSError as exc:
        print(
            f"{command.prog}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    with sock:
        setup = dataclasses.replace(setup, base_url=standalone.base_url_of(sock))
        fake = standalone.build_org(setup)
        environment = standalone.client_environment(
            fake, setup, secret_key=standalone.new_secret_key()
        )
        text = standalone.env_lines(environment)
        if args.env_file is not None:
            try:
                standalone.write_env_file(args.env_file, text)
            except OSError as exc:
                print(
                    f"{command.prog}: cannot write {args.env_file}: {exc.strerror or exc}",
                    file=sys.stderr,
                )
                return 1
        sys.stdout.write(text)
        sys.stdout.flush()
        print(standalone.instructions(fake, setup, args.env_file), file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            standalone.serve(fake, sock)
    return 0


def _doctor(*, as_json: bool) -> int:
    from ._doctor import run

    report = run()
    print(report.as_json() if as_json else report.as_text(), flush=True)
    return report.exit_status


def _serve(prog: str, host: str | None, port: int | None) -> int:
    try:
        import uvicorn
    except ImportError:
        print(
            f"{prog} serve needs uvicorn: pip install 'okta-magiclink-mw[demo]' "
            "(and 'okta-magiclink-mw[metrics]' for /metrics)",
            file=sys.stderr,
        )
        return 1
    from .server import create_app, load_config

    try:
        config = load_config(host=host, port=port)
        app = create_app(config=config)
    except ConfigurationError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        return 1
    server = config.server
    logging.basicConfig(
        level=logging.DEBUG if server.log_level == "trace" else server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        log_level=server.log_level,
        access_log=server.access_log,
        server_header=False,
        lifespan="on",
        # Longer than one call to Okta, so a sign-in in progress can finish.
        timeout_graceful_shutdown=int(config.settings.http_deadline) + 5,
    )
    return 0


def _check_config(prog: str) -> int:
    from .server import load_config
    from .server._describe import describe

    try:
        config = load_config()
    except ConfigurationError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(describe(config)))
    return 0
