"""`python -m okta_magiclink_mw demo` starts both servers and prints what to do."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from ._stack import free_socket

pytestmark = pytest.mark.integration


def test_demo_command_serves_a_protected_app_and_fakeokta() -> None:
    app_sock, okta_sock = free_socket(), free_socket()
    app_port, okta_port = app_sock.getsockname()[1], okta_sock.getsockname()[1]
    app_sock.close()
    okta_sock.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_")}
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "okta_magiclink_mw",
            "demo",
            "--app-port",
            str(app_port),
            "--okta-port",
            str(okta_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        printed = ""
        assert demo.stdout is not None
        deadline = time.monotonic() + 20
        while "Press Ctrl+C" not in printed and time.monotonic() < deadline:
            printed += demo.stdout.readline()
        assert f"http://localhost:{app_port}/" in printed
        assert "ada@example.com" in printed
        assert f"http://127.0.0.1:{okta_port}/outbox" in printed
        for _ in range(100):  # the servers start right after the instructions
            try:
                home = httpx.get(f"http://localhost:{app_port}/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert home.status_code == 302
        assert home.headers["location"].startswith("/login?state=")
        issuer = f"http://127.0.0.1:{okta_port}/oauth2/default"
        discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2)
        assert discovery.json()["issuer"] == issuer
    finally:
        demo.terminate()
        demo.wait(timeout=10)
