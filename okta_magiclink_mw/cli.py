"""The command line: ``okta-magiclink-mw demo | serve | check-config | doctor``.

Also ``python -m okta_magiclink_mw ...``. ``serve``, ``check-config`` and ``doctor`` read
their whole configuration from the environment (the README's tables); a configuration
error is one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence

from .errors import ConfigurationError


def main(argv: Sequence[str] | None = None, *, prog: str = "okta-magiclink-mw") -> int:
    """Run one command; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Okta magic-link sign-in: the demo and the forward-auth server."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run a protected demo app against FakeOkta (no Okta account needed)"
    )
    demo.add_argument("--app-port", type=int, default=8000)
    demo.add_argument("--okta-port", type=int, default=8001)
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
    args = parser.parse_args(argv)
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
