"""``python -m okta_magiclink_mw demo | serve | check-config`` (see :mod:`.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m okta_magiclink_mw"))
