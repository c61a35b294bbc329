"""The command line: ``check-config`` (no secret ever printed) and ``serve``."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from okta_magiclink_mw import _environment
from okta_magiclink_mw.cli import main
from okta_magiclink_mw.server import SERVER_VARIABLES, load_config
from okta_magiclink_mw.server._describe import redacted_url

from .conftest import ENV

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SECRET = "cs-Zq8-very-secret-client-secret"
KEY_OLD = "old-key-Zq8-" + "o" * 32
KEY_NEW = "new-key-Zq8-" + "n" * 32
REDIS_PASSWORD = "rp-Zq8-s3cr3t/with?odd@chars"
SECRETS = (CLIENT_SECRET, KEY_OLD, KEY_NEW, "s3cr3t", "Zq8")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment with the required variables set."""
    for name in list(os.environ):
        if name.startswith("OKTA_"):
            monkeypatch.delenv(name)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_check_config_prints_every_setting_without_secrets(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("OKTA_CLIENT_SECRET", CLIENT_SECRET)
    environment.setenv("OKTA_MW_SECRET_KEYS", f"{KEY_OLD},{KEY_NEW}")
    environment.setenv("OKTA_MW_SESSION_STORE", f"rediss://omw:{REDIS_PASSWORD}@redis:6380/0")
    environment.setenv("OKTA_MW_SERVE_PORT", "9000")
    environment.setenv("OKTA_MW_PUBLIC_PATHS", "/health,/static/")
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for secret in SECRETS:
        assert secret not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "(set)" in lines["client_secret"]
    assert "(set: 2 keys)" in lines["secret_keys"]
    assert "rediss://***@redis:6380/0" in lines["session_store"]
    assert "https://org.example/oauth2/default" in lines["issuer"]
    assert "9000" in lines["port"]
    assert "(default)" not in lines["port"]
    assert "(default)" in lines["host"]
    assert "/health, /static/" in lines["public_paths"]  # the app's, not the server's
    for variable in [*(v for v, _ in _environment.REQUIRED.values())]:
        assert variable in out
    for variable, _ in _environment.OPTIONAL.values():
        assert variable in out
    for variable, _ in SERVER_VARIABLES.values():
        assert variable in out


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OKTA_CLIENT_ID": ""}, "OKTA_CLIENT_ID is not set"),
        ({"OKTA_MW_SECRET_KEYS": "short-Zq8-s3cr3t"}, "at least 32 bytes"),
        ({"OKTA_MW_SERVE_PORT": "99999"}, "OKTA_MW_SERVE_PORT must be a port number"),
        ({"OKTA_MW_SERVE_PORT": "http"}, "OKTA_MW_SERVE_PORT must be a whole number"),
        ({"OKTA_MW_ALLOWED_HOSTS": "https://app.example/"}, "OKTA_MW_ALLOWED_HOSTS"),
        ({"OKTA_MW_ALLOWED_HOSTS": "a@b"}, "OKTA_MW_ALLOWED_HOSTS"),
        ({"OKTA_MW_READY_CACHE": "-1"}, "OKTA_MW_READY_CACHE"),
        ({"OKTA_MW_SERVE_LOG_LEVEL": "loud"}, "OKTA_MW_SERVE_LOG_LEVEL"),
        ({"OKTA_MW_SERVE_ACCESS_LOG": "maybe"}, "OKTA_MW_SERVE_ACCESS_LOG"),
        ({"OKTA_MW_LOGIN_PATH": "/auth"}, "endpoint of the forward-auth server"),
        ({"OKTA_REDIRECT_URI": "https://app.example/metrics"}, "endpoint of the forward-auth"),
        ({"OKTA_MW_PUBLIC_PATHS": "health"}, "OKTA_MW_PUBLIC_PATHS"),
        (
            {"OKTA_MW_SESSION_STORE": f"mysql://u:{REDIS_PASSWORD}@db/0"},
            "session_store must be",
        ),
    ],
)
def test_check_config_errors(
    environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    environment.setenv("OKTA_CLIENT_SECRET", CLIENT_SECRET)
    for name, value in env.items():
        environment.setenv(name, value)
    assert main(["check-config"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("okta-magiclink-mw: configuration error: ")
    assert message in err
    assert "Traceback" not in err
    for secret in SECRETS:
        assert secret not in err


def test_check_config_as_a_module(environment: pytest.MonkeyPatch) -> None:
    run = [sys.executable, "-m", "okta_magiclink_mw", "check-config"]
    good = subprocess.run(run, capture_output=True, text=True, env=dict(os.environ), check=False)
    assert good.returncode == 0, good.stderr
    assert "The configuration is valid." in good.stdout
    bad = subprocess.run(
        run,
        capture_output=True,
        text=True,
        env={**os.environ, "OKTA_ISSUER": "ftp://x"},
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("python -m okta_magiclink_mw: configuration error: issuer")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://u:pw@h:6379/0", "redis://***@h:6379/0"),
        ("redis://:p@ss/w?rd@h/0", "redis://***@h/0"),
        ("rediss://h:6380/0?password=pw", "rediss://h:6380/0?***"),
        (
            "redis+sentinel://:pw@h1:26379,h2:26379/svc/0",
            "redis+sentinel://***@h1:26379,h2:26379/svc/0",
        ),
        ("unix:///run/redis.sock?password=pw", "unix:///run/redis.sock?***"),
        ("no scheme pw", "(set)"),
    ],
)
def test_store_urls_are_redacted(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_server_variables_are_their_own() -> None:
    """No server variable shadows a setting's (one table each, one name each)."""
    settings_vars = {
        v for v, _ in (*_environment.REQUIRED.values(), *_environment.OPTIONAL.values())
    }
    server_vars = [v for v, _ in SERVER_VARIABLES.values()]
    assert len(set(server_vars)) == len(server_vars)
    assert not settings_vars & set(server_vars)
    assert all(v.startswith("OKTA_MW_") for v in server_vars)


def test_every_server_variable_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for variable, _ in SERVER_VARIABLES.values():
        assert f"`{variable}`" in readme, variable


def test_load_config_defaults_and_overrides() -> None:
    config = load_config(ENV)
    assert (config.server.host, config.server.port) == ("127.0.0.1", 4180)
    assert config.server.ready_cache == 5
    assert config.server.access_log is False
    config = load_config({**ENV, "OKTA_MW_SERVE_PORT": "9000"}, host="::1", port=None)
    assert (config.server.host, config.server.port) == ("::1", 9000)
    assert config.settings.public_paths == ("/auth", "/auth/forward", "/ping", "/ready", "/metrics")


def test_a_foreign_allowed_host_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="okta_magiclink_mw"):
        load_config({**ENV, "OKTA_MW_ALLOWED_HOSTS": "app.example:8443,other.example"})
    warned = [r for r in caplog.records if getattr(r, "event", "") == "startup.foreign_host"]
    assert len(warned) == 1
    assert "other.example" in warned[0].getMessage()


def test_console_script_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    module, _, name = project["scripts"]["okta-magiclink-mw"].partition(":")
    assert getattr(importlib.import_module(module), name) is main
    assert "prometheus-client>=0.20" in project["optional-dependencies"]["metrics"]


def test_serve_without_uvicorn(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setitem(sys.modules, "uvicorn", None)
    assert main(["serve"]) == 1
    assert "pip install 'okta-magiclink-mw[demo]'" in capsys.readouterr().err


def test_serve_with_a_bad_configuration(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.delenv("OKTA_ISSUER")
    assert main(["serve", "--port", "1"]) == 1
    assert "OKTA_ISSUER is not set" in capsys.readouterr().err


def test_demo_and_help_parse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "serve", "check-config"):
        assert command in out


@pytest.mark.integration
def test_serve_answers_over_a_socket(environment: pytest.MonkeyPatch) -> None:
    from tests.integration._stack import free_socket

    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen(
        [sys.executable, "-m", "okta_magiclink_mw", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                ping = httpx.get(f"{base}/ping", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.05)
        assert (ping.status_code, ping.text) == (200, "ok\n")
        assert "server" not in ping.headers
        check = httpx.get(f"{base}/auth", headers={"x-original-uri": "/x"}, timeout=2)
        assert check.status_code == 401
        turned = httpx.get(
            f"{base}/auth/forward",
            headers={
                "x-forwarded-uri": "/reports",
                "x-forwarded-host": "app.example",
                "accept": "text/html",
            },
            timeout=2,
        )
        assert turned.status_code == 302
        assert turned.headers["location"].startswith("https://app.example/login?state=")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
    assert server.returncode in (0, -15)
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
