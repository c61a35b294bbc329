"""The plugin loads in every pytest run of every user: it must import cheaply."""

from __future__ import annotations

import subprocess
import sys


def test_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, okta_magiclink_mw.pytest_plugin\n"
        "heavy = ['starlette', 'httpx', 'uvicorn', 'jwt', 'cryptography',\n"
        "         'okta_magiclink_mw.testing']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_package_itself_imports_lazily() -> None:
    code = (
        "import sys, okta_magiclink_mw as m\n"
        "assert 'starlette' not in sys.modules\n"
        "m.Settings, m.OktaMagicLink\n"
        "print('starlette' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "True"
