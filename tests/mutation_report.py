"""Per-module mutation scores from mutmut's results in ``mutants/`` (``make mutation``).

    python tests/mutation_report.py [MODULE ...] [--survivors]

MODULE is a module name (``_redirects``); without any, every module mutmut has results for.
``--survivors`` also lists the surviving mutants; ``mutmut show NAME`` prints one's diff.

The score is killed / (killed + survived + no tests): a timeout counts as neither (a mutant
that hangs the suite is caught, but says little about the assertions), and "no tests" means
no fast test runs that function at all, which is a gap like a survivor.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

MUTANTS = Path("mutants") / "okta_magiclink_mw"


def results(module: str) -> dict[str, str]:
    """Mutant name -> status (``killed``, ``survived``, ``no tests``, ...) for one module."""
    meta = MUTANTS / f"{module}.py.meta"
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in codes.items()}


def main(argv: list[str]) -> int:
    show_survivors = "--survivors" in argv
    modules = [a for a in argv if not a.startswith("--")] or sorted(
        p.name.removesuffix(".py.meta") for p in MUTANTS.glob("*.py.meta")
    )
    if not modules:
        print("no mutmut results in mutants/: run `make mutation` first")
        return 1
    print(f"{'module':<14} {'killed':>7} {'survived':>9} {'no tests':>9} {'other':>6} {'score':>7}")
    survivors: list[str] = []
    for module in modules:
        statuses = results(module)
        count = Counter(statuses.values())
        killed, survived, untested = count["killed"], count["survived"], count["no tests"]
        other = len(statuses) - killed - survived - untested
        judged = killed + survived + untested
        score = f"{100 * killed / judged:6.1f}%" if judged else "    n/a"
        print(f"{module:<14} {killed:>7} {survived:>9} {untested:>9} {other:>6} {score:>7}")
        survivors += [n for n, s in sorted(statuses.items()) if s in ("survived", "no tests")]
    if show_survivors:
        print("\nsurviving mutants (mutmut show NAME for the diff):")
        for name in survivors:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
