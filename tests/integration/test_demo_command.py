"""`python -m okta_magiclink_mw demo` starts both servers and prints what to do."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from okta_magiclink_mw._demo import DEMO_CLIENT_ID

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
        assert len(discovery.headers.get_list("date")) == 1  # FakeOkta's own, from its clock
        # FakeOkta is strict: the demo sets it up as the README tells an admin to.
        app = f"http://localhost:{app_port}"
        preflight = httpx.options(
            f"{issuer}/v1/interact",
            headers={"Origin": app, "Access-Control-Request-Method": "POST"},
            timeout=2,
        )
        assert preflight.headers["access-control-allow-origin"] == app  # a trusted origin
        interact = httpx.post(
            f"{issuer}/v1/interact",
            data={
                "client_id": DEMO_CLIENT_ID,
                "scope": "openid profile email",
                "redirect_uri": f"{app}/login/callback",
                "code_challenge": "c" * 43,
                "code_challenge_method": "S256",
            },
            timeout=2,
        )
        assert interact.status_code == 200, interact.text  # the grant, the redirect URI
    finally:
        demo.terminate()
        demo.wait(timeout=10)
