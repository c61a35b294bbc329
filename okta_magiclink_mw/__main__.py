"""Command line: ``python -m okta_magiclink_mw demo [--app-port 8000] [--okta-port 8001]``."""

from __future__ import annotations

import argparse
import contextlib


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m okta_magiclink_mw")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run a protected demo app against FakeOkta (no Okta account needed)"
    )
    demo.add_argument("--app-port", type=int, default=8000)
    demo.add_argument("--okta-port", type=int, default=8001)
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        with contextlib.suppress(KeyboardInterrupt):
            run_demo(app_port=args.app_port, okta_port=args.okta_port)


if __name__ == "__main__":
    main()
