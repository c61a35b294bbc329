"""`python -m okta_magiclink_mw fake-okta` in a real process: FakeOkta served alone, and an app
configured only from the environment it prints signs someone in against it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from okta_magiclink_mw import Settings
from okta_magiclink_mw._demo import demo_app

from ._stack import free_socket, uvicorn_server

pytestmark = pytest.mark.integration

ENV_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(\S+)$")
OTHER_ORIGIN = "http://localhost:1"


@dataclass
class Running:
    process: subprocess.Popen[str]
    environment: dict[str, str]
    stdout: str
    stderr: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return self.environment["OKTA_ISSUER"]

    @property
    def okta_url(self) -> str:
        return self.issuer.removesuffix("/oauth2/default")


def _drain(stream: object, into: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.append(line)


@pytest.fixture
def app_socket() -> Iterator[object]:
    sock = free_socket()
    yield sock
    sock.close()


@pytest.fixture(params=["confidential", "public"])
def fake_okta_process(
    app_socket: object, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Running]:
    """The command on a free port, the app's redirect URI on ``app_socket``'s port; an app
    with a client secret, and a public one."""
    app_port = app_socket.getsockname()[1]  # type: ignore[attr-defined]
    okta_sock = free_socket()
    okta_port = okta_sock.getsockname()[1]
    okta_sock.close()
    env_file = tmp_path / "fake-okta.env"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "okta_magiclink_mw",
            "fake-okta",
            "--port",
            str(okta_port),
            "--user",
            "Grace Hopper <grace@example.com>",
            "--group",
            "grace@example.com=admirals",
            "--redirect-uri",
            f"http://localhost:{app_port}/login/callback",
            "--env-file",
            str(env_file),
            *(["--public"] if request.param == "public" else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stdout: list[str] = []
    stderr: list[str] = []
    threads = [
        threading.Thread(target=_drain, args=(process.stdout, stdout), daemon=True),
        threading.Thread(target=_drain, args=(process.stderr, stderr), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        # stdout is written and flushed before stderr's last line
        while not any("Ctrl+C" in line for line in stderr) or not env_file.exists():
            assert process.poll() is None, "".join(stderr)
            assert time.monotonic() < deadline, "".join(stderr)
            time.sleep(0.05)
        while "".join(stdout) != env_file.read_text():
            assert time.monotonic() < deadline, stdout
            time.sleep(0.05)
        environment = {}
        for line in stdout:
            match = ENV_LINE.match(line.rstrip("\n"))
            assert match, f"not a KEY=value line: {line!r}"
            environment[match.group(1)] = match.group(2)
        assert environment["OKTA_ISSUER"] == f"http://127.0.0.1:{okta_port}/oauth2/default"
        assert ("OKTA_CLIENT_SECRET" in environment) is (request.param == "confidential")
        yield Running(process, environment, "".join(stdout), stderr)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def stop(running: Running) -> None:
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=15) == 0, "".join(running.stderr)


def test_fake_okta_serves_discovery_keys_the_mailbox_and_cors(
    fake_okta_process: Running, app_socket: object
) -> None:
    running = fake_okta_process
    app_origin = f"http://localhost:{app_socket.getsockname()[1]}"  # type: ignore[attr-defined]
    discovery = httpx.get(f"{running.issuer}/.well-known/openid-configuration", timeout=5)
    assert discovery.status_code == 200
    assert discovery.json()["issuer"] == running.issuer
    assert len(discovery.headers.get_list("date")) == 1  # FakeOkta's own, not uvicorn's too
    keys = httpx.get(discovery.json()["jwks_uri"], timeout=5).json()["keys"]
    assert keys
    assert all(key["kty"] == "RSA" for key in keys)
    assert all("d" not in key for key in keys)  # public halves only
    outbox = httpx.get(f"{running.okta_url}/outbox", timeout=5)
    assert outbox.status_code == 200
    assert "text/html" in outbox.headers["content-type"]
    assert httpx.get(f"{running.okta_url}/outbox.json", timeout=5).json() == []
    preflight = {"Access-Control-Request-Method": "POST"}
    trusted = httpx.options(
        f"{running.issuer}/v1/interact", headers={"Origin": app_origin, **preflight}, timeout=5
    )
    assert trusted.status_code in (200, 204)
    assert trusted.headers["access-control-allow-origin"] == app_origin
    other = httpx.options(
        f"{running.issuer}/v1/interact", headers={"Origin": OTHER_ORIGIN, **preflight}, timeout=5
    )
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers
    assert "grace@example.com (groups: admirals)" in "".join(running.stderr)
    stop(running)


_CONFIG = re.compile(r"Object\.assign\(\{el: \"#okta-sign-in-widget\"\}, (\{.*?\})\)")


def test_an_app_configured_from_the_printed_environment_signs_in(
    fake_okta_process: Running, app_socket: object
) -> None:
    import json

    running = fake_okta_process
    settings = Settings.from_env(running.environment)  # nothing else: only what was printed
    app_url = settings.redirect_uri.removesuffix("/login/callback")
    with (
        uvicorn_server(demo_app(settings), app_socket),  # type: ignore[arg-type]
        httpx.Client(base_url=app_url, timeout=10) as browser,
        httpx.Client(base_url=running.okta_url, timeout=10, headers={"Origin": app_url}) as widget,
    ):
        first = browser.get("/reports?year=2026")
        assert first.status_code == 302
        page = browser.get(first.headers["location"])
        assert page.status_code == 200
        match = _CONFIG.search(page.text)
        assert match, "no widget on the login page"
        config = json.loads(match.group(1))
        assert config["clientId"] == running.environment["OKTA_CLIENT_ID"]
        # The Sign-In Widget's requests to the org, from the app's origin (CORS checked).
        interact = widget.post(
            "/oauth2/default/v1/interact",
            data={
                "client_id": config["clientId"],
                "scope": " ".join(config["scopes"]),
                "redirect_uri": config["redirectUri"],
                "code_challenge": config["codeChallenge"],
                "code_challenge_method": config["codeChallengeMethod"],
                "state": config["state"],
                "nonce": config["nonce"],
            },
        )
        assert interact.status_code == 200, interact.text
        assert interact.headers["access-control-allow-origin"] == app_url
        idx = {"Accept": "application/json; okta-version=1.0.0"}

        def step(path: str, body: dict[str, object]) -> dict[str, object]:
            answer = widget.post(f"/idp/idx/{path}", json=body, headers=idx)
            assert answer.status_code == 200, answer.text
            assert answer.headers["access-control-allow-origin"] == app_url
            document: dict[str, object] = answer.json()
            return document

        handle = interact.json()["interaction_handle"]
        state = step("introspect", {"interactionHandle": handle})["stateHandle"]
        identified = step("identify", {"identifier": "grace@example.com", "stateHandle": state})
        authenticator = identified["authenticators"]["value"][0]["id"]  # type: ignore[index]
        sent = step(
            "challenge",
            {
                "authenticator": {"id": authenticator, "methodType": "email"},
                "stateHandle": identified["stateHandle"],
            },
        )
        (email,) = httpx.get(f"{running.okta_url}/outbox.json", timeout=5).json()
        assert email["to"] == "grace@example.com"
        done = step(
            "challenge/answer",
            {"credentials": {"passcode": email["otp"]}, "stateHandle": sent["stateHandle"]},
        )
        fields = done["successWithInteractionCode"]["value"]  # type: ignore[index]
        code = next(f["value"] for f in fields if f["name"] == "interaction_code")
        query = httpx.QueryParams({"interaction_code": code, "state": config["state"]})
        callback = browser.get(f"/login/callback?{query}")
        assert callback.status_code in (302, 303), callback.text
        assert callback.headers["location"] == "/reports?year=2026"
        reports = browser.get("/reports?year=2026")
        assert reports.status_code == 200
        assert "Reports 2026" in reports.text
        assert "Grace Hopper" in reports.text
    stop(running)
