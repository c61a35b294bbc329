"""The command line: every command listed, ``gen-secret``, and ``fake-okta``'s options, org
and printed environment (served for real in tests/integration/test_fake_okta_command.py)."""

from __future__ import annotations

import importlib
import re
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okta_magiclink_mw import Settings, _environment
from okta_magiclink_mw.cli import main
from okta_magiclink_mw.testing import EVERYONE, FakeOkta
from okta_magiclink_mw.testing import _standalone as standalone

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("demo", "serve", "doctor", "fake-okta", "check-config", "gen-secret")
#: What a shell, `docker --env-file` and dotenv read without quoting.
ENV_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=([A-Za-z0-9_\-.:/\[\]%+=,~@]+)$")


def console_script() -> Callable[..., int]:
    """What ``okta-magiclink-mw`` runs, resolved from pyproject as an installer does."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attribute = scripts["okta-magiclink-mw"].partition(":")
    entry: Callable[..., int] = getattr(importlib.import_module(module), attribute)
    return entry


# -- every command listed -------------------------------------------------------------------


def test_the_console_script_lists_every_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["okta-magiclink-mw", "--help"])
    with pytest.raises(SystemExit) as exit_:
        console_script()()  # argv from sys.argv, as the installed script calls it
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^ {4}([a-z-]+)", out, re.MULTILINE)
    assert sorted(listed) == sorted(COMMANDS)


def test_python_dash_m_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "okta_magiclink_mw", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m okta_magiclink_mw")
    for command in COMMANDS:
        assert re.search(rf"^ {{4}}{command}\b", done.stdout, re.MULTILINE), command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"okta-magiclink-mw {command}" in capsys.readouterr().out


# -- gen-secret -----------------------------------------------------------------------------


def gen_secret(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["gen-secret", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.endswith("\n")
    assert out.count("\n") == 1
    return out.strip()


def test_gen_secret_prints_a_fresh_url_safe_key_that_settings_accept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys = {gen_secret(capsys) for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(key) == 43  # 32 bytes, base64url without padding
        assert re.fullmatch(r"[A-Za-z0-9_-]+", key)
    settings = Settings.from_env(
        {
            "OKTA_ISSUER": "https://org.example/oauth2/default",
            "OKTA_CLIENT_ID": "0oa1",
            "OKTA_REDIRECT_URI": "https://app.example/login/callback",
            "OKTA_MW_SECRET_KEYS": ",".join(sorted(keys)),
        }
    )
    assert len(settings.secret_keys) == 20


def test_gen_secret_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(gen_secret(capsys, "--bytes", "48")) == 64
    assert len(gen_secret(capsys, "--bytes", "32")) == 43


@pytest.mark.parametrize("value", ["31", "0", "-40", "many", ""])
def test_gen_secret_refuses_fewer_than_32_bytes(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_bad_option(capsys, ["gen-secret", "--bytes", value], "--bytes")


# -- fake-okta: bad options -----------------------------------------------------------------


def assert_bad_option(capsys: pytest.CaptureFixture[str], argv: list[str], word: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err  # one line, no usage text, no traceback
    assert re.match(rf"okta-magiclink-mw( {argv[0]})?: error: ", err), err
    assert word in err


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "http"], "--port"),
        (["--port", "-1"], "--port"),
        (["--user", "ada"], "--user"),
        (["--user", "Ada <>"], "--user"),
        (["--user", "ada @example.com"], "--user"),
        (["--redirect-uri", "ftp://app.example/cb"], "--redirect-uri"),
        (["--redirect-uri", "/login/callback"], "--redirect-uri"),
        (["--redirect-uri", "http://app.example/cb?next=/"], "--redirect-uri"),
        (["--redirect-uri", "http://app.example/cb#x"], "--redirect-uri"),
        (["--redirect-uri", "http://user@app.example/cb"], "--redirect-uri"),
        (["--redirect-uri", "http://app.example:99999/cb"], "--redirect-uri"),
        # a value that would add a line to the printed environment
        (["--redirect-uri", "http://app.example/cb\nOKTA_ISSUER=https://evil"], "--redirect-uri"),
        (["--redirect-uri", "http://app.example/c b"], "--redirect-uri"),
        (["--post-logout-redirect-uri", "app.example/"], "--post-logout-redirect-uri"),
        (["--trusted-origin", "http://localhost:3000/"], "--trusted-origin"),
        (["--trusted-origin", "localhost:3000"], "--trusted-origin"),
        (["--client-id", "0oa one"], "--client-id"),
        (["--client-id", "0oa\r\nX=1"], "--client-id"),
        (["--client-secret", "s e c r e t"], "--client-secret"),
        (["--client-secret", "it's$HOME"], "--client-secret"),
        (["--redirect-uri", "http://app.example/$(id)"], "--redirect-uri"),
        (["--redirect-uri", "http://app.example/a;b"], "--redirect-uri"),
        (["--public", "--client-secret", "s3cret"], "--public"),
        (["--group", "admins"], "--group"),
        (["--group", "ada@example.com="], "--group"),
        (["--group", "grace@example.com=admins"], "no --user grace@example.com"),
        (["--user", "grace@example.com", "--group", "ada@example.com=x"], "no --user ada"),
        (["--no-such-option"], "--no-such-option"),
    ],
)
def test_fake_okta_refuses_bad_options_in_one_line(
    args: list[str], word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_bad_option(capsys, ["fake-okta", *args], word)


def test_fake_okta_on_a_taken_port_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        assert main(["fake-okta", "--port", port]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err


# -- fake-okta: the org ---------------------------------------------------------------------


def test_the_default_org_is_the_readme_setup() -> None:
    setup = standalone.org_setup(base_url="http://127.0.0.1:8001")
    fake = standalone.build_org(setup)
    (client,) = fake.clients.values()
    assert client.client_id == "0oaDemoMagicLink"
    assert client.client_secret == setup.client_secret
    assert setup.client_secret
    assert len(setup.client_secret) >= 32
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.grant_types == ["authorization_code", "interaction_code", "refresh_token"]
    assert client.redirect_uris == ["http://localhost:8000/login/callback"]
    assert client.email_verify_callback_uri == "http://localhost:8000/login/callback"
    assert client.post_logout_redirect_uris == ["http://localhost:8000/"]
    assert client.assigned_groups == {EVERYONE}
    assert list(fake.trusted_origins) == ["http://localhost:8000"]
    assert fake.trusted_origins["http://localhost:8000"].cors
    (ada,) = fake.users.values()
    assert (ada.email, ada.name, ada.groups) == ("ada@example.com", "Ada Lovelace", [])


def test_a_new_client_secret_each_time() -> None:
    first = standalone.org_setup(base_url="http://127.0.0.1:8001")
    second = standalone.org_setup(base_url="http://127.0.0.1:8001")
    assert first.client_secret != second.client_secret


def test_users_groups_uris_and_origins_as_given() -> None:
    setup = standalone.org_setup(
        base_url="http://127.0.0.1:8001",
        users=[standalone.user("Grace Hopper <grace@example.com>"), standalone.user("al@x.io")],
        groups=[("grace@example.com", "admins"), ("Grace@Example.com", "navy")],
        client_id="0oaMine",
        client_secret="my-secret",
        redirect_uris=["http://localhost:3000/cb", "https://app.example/cb"],
        post_logout_redirect_uri="http://localhost:3000/bye",
        trusted_origins=["http://localhost:5173", "http://localhost:5173"],
    )
    fake = standalone.build_org(setup)
    client = fake.clients["0oaMine"]
    assert client.client_secret == "my-secret"
    assert client.redirect_uris == ["http://localhost:3000/cb", "https://app.example/cb"]
    assert client.email_verify_callback_uri == "http://localhost:3000/cb"
    assert client.post_logout_redirect_uris == ["http://localhost:3000/bye"]
    # Given, exactly these: the first redirect URI's origin is not trusted behind their back.
    assert list(fake.trusted_origins) == ["http://localhost:5173"]
    people = {user.email: (user.name, user.groups) for user in fake.users.values()}
    assert people == {
        "grace@example.com": ("Grace Hopper", ["admins", "navy"]),
        "al@x.io": ("al", []),
    }


def test_every_redirect_uri_origin_is_trusted_by_default() -> None:
    setup = standalone.org_setup(
        base_url="http://127.0.0.1:8001",
        redirect_uris=["http://localhost:3000/cb", "http://localhost:3000/other", "https://a.io/c"],
    )
    fake = standalone.build_org(setup)
    assert list(fake.trusted_origins) == ["http://localhost:3000", "https://a.io"]


def test_a_public_app_has_no_secret() -> None:
    setup = standalone.org_setup(base_url="http://127.0.0.1:8001", public=True)
    fake = standalone.build_org(setup)
    (client,) = fake.clients.values()
    assert client.client_secret is None
    assert client.token_endpoint_auth_method == "none"
    environment = standalone.client_environment(fake, setup, secret_key="k" * 43)
    assert "OKTA_CLIENT_SECRET" not in environment
    assert Settings.from_env(environment).client_secret is None


# -- fake-okta: the environment -------------------------------------------------------------


def test_the_environment_is_what_settings_read(tmp_path: Path) -> None:
    setup = standalone.org_setup(base_url="http://127.0.0.1:8001", client_secret="s3cret-x")
    fake = FakeOkta(base_url=setup.base_url, widget_dist=tmp_path)  # no widget there
    environment = standalone.client_environment(fake, setup, secret_key="k" * 43)
    assert environment == {
        _environment.variable_of("issuer"): "http://127.0.0.1:8001/oauth2/default",
        _environment.variable_of("client_id"): "0oaDemoMagicLink",
        _environment.variable_of("client_secret"): "s3cret-x",
        _environment.variable_of("redirect_uri"): "http://localhost:8000/login/callback",
        _environment.variable_of("post_logout_redirect_uri"): "http://localhost:8000/",
        _environment.variable_of("secret_keys"): "k" * 43,
    }
    assert set(environment) == {
        "OKTA_ISSUER",
        "OKTA_CLIENT_ID",
        "OKTA_CLIENT_SECRET",
        "OKTA_REDIRECT_URI",
        "OKTA_POST_LOGOUT_REDIRECT_URI",
        "OKTA_MW_SECRET_KEYS",
    }


def test_the_widget_urls_when_fakeokta_serves_the_widget(tmp_path: Path) -> None:
    for name in ("js/okta-sign-in.min.js", "css/okta-sign-in.min.css"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("/* widget */")
    setup = standalone.org_setup(base_url="http://127.0.0.1:8001")
    fake = FakeOkta(base_url=setup.base_url, widget_dist=tmp_path)
    environment = standalone.client_environment(fake, setup, secret_key="k" * 43)
    settings = Settings.from_env(environment)
    assert settings.widget_js_url == "http://127.0.0.1:8001/widget/js/okta-sign-in.min.js"
    assert settings.widget_css_url == "http://127.0.0.1:8001/widget/css/okta-sign-in.min.css"
    assert environment["OKTA_MW_WIDGET_JS_URL"] == settings.widget_js_url


def parse_env(text: str) -> dict[str, str]:
    environment: dict[str, str] = {}
    for line in text.splitlines():
        match = ENV_LINE.match(line)
        assert match, f"not a KEY=value line: {line!r}"
        assert match.group(1) not in environment
        environment[match.group(1)] = match.group(2)
    return environment


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch) -> list[tuple[FakeOkta, int]]:
    """``fake-okta`` up to serving: what it would serve, and on which socket."""
    served: list[tuple[FakeOkta, int]] = []

    def serve(fake: FakeOkta, sock: socket.socket) -> None:
        served.append((fake, sock.getsockname()[1]))
        assert sock.fileno() != -1  # listening while the environment is out
        raise KeyboardInterrupt  # Ctrl+C: a clean stop

    monkeypatch.setattr(standalone, "serve", serve)
    return served


def test_fake_okta_prints_the_environment_on_stdout_and_the_rest_on_stderr(
    no_serving: list[Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env_file = tmp_path / "fake.env"
    env_file.write_text("OLD=1\n")
    env_file.chmod(0o644)
    argv = ["fake-okta", "--port", "0", "--env-file", str(env_file), "--group", "ada@x.io=ops"]
    assert main([*argv, "--user", "Ada <ada@x.io>", "--redirect-uri", "http://localhost:9/cb"]) == 0
    out, err = capsys.readouterr()
    environment = parse_env(out)
    ((fake, port),) = no_serving
    assert port != 0
    assert environment["OKTA_ISSUER"] == f"http://127.0.0.1:{port}/oauth2/default" == fake.issuer
    assert environment["OKTA_REDIRECT_URI"] == "http://localhost:9/cb"
    assert environment["OKTA_CLIENT_SECRET"] == fake.clients["0oaDemoMagicLink"].client_secret
    assert len(environment["OKTA_MW_SECRET_KEYS"]) >= 43
    settings = Settings.from_env(environment)
    assert settings.client_id == "0oaDemoMagicLink"
    # the same lines in the file, readable by its owner only
    assert env_file.read_text() == out
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != "fake.env"]  # no temporary left
    # the person's instructions, on stderr only
    assert f"http://127.0.0.1:{port}/outbox" in err
    assert f"http://127.0.0.1:{port}/outbox.json" in err
    assert "ada@x.io (groups: ops)" in err
    assert "Ctrl+C" in err
    assert "OKTA_CLIENT_SECRET=" not in err


def test_fake_okta_env_file_in_a_missing_folder(
    no_serving: list[Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["fake-okta", "--port", "0", "--env-file", str(tmp_path / "no" / "f")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "cannot write" in err
    assert no_serving == []


class _Bound:
    def __init__(self, *address: object) -> None:
        self.address = address

    def getsockname(self) -> tuple[object, ...]:
        return self.address


@pytest.mark.parametrize(
    ("address", "url"),
    [
        (("0.0.0.0", 8001), "http://127.0.0.1:8001"),  # noqa: S104 - no socket: an address
        (("::", 8001, 0, 0), "http://[::1]:8001"),
        (("::1", 8001, 0, 0), "http://[::1]:8001"),
        (("127.0.0.2", 9), "http://127.0.0.2:9"),
    ],
)
def test_a_wildcard_address_is_reached_on_loopback(address: tuple[object, ...], url: str) -> None:
    assert standalone.base_url_of(_Bound(*address)) == url  # type: ignore[arg-type]


def test_a_host_name_is_listened_on() -> None:
    with standalone.listen("localhost", 0) as sock:
        assert standalone.base_url_of(sock).startswith("http://127.0.0.1:")


def test_env_lines_round_trip() -> None:
    environment = {"OKTA_ISSUER": "http://127.0.0.1:1/oauth2/default", "OKTA_CLIENT_ID": "0oa"}
    assert parse_env(standalone.env_lines(environment)) == environment


def test_the_demo_is_configured_from_the_same_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from okta_magiclink_mw import _demo

    served: list[Any] = []

    async def serve(apps: Any, okta: Any = None) -> None:
        served.append((apps, okta))

    monkeypatch.delenv("OKTA_ISSUER", raising=False)
    monkeypatch.setattr(_demo, "_serve", serve)
    _demo.run_demo(app_port=8123, okta_port=8124)
    ((app, app_host, app_port), (fake, okta_host, okta_port)), okta = served[0]
    assert (app_host, app_port, okta_host, okta_port) == ("localhost", 8123, "127.0.0.1", 8124)
    assert fake is okta
    client = fake.clients[_demo.DEMO_CLIENT_ID]
    assert client.redirect_uris == ["http://localhost:8123/login/callback"]
    assert client.post_logout_redirect_uris == ["http://localhost:8123/"]
    assert list(fake.trusted_origins) == ["http://localhost:8123"]
    settings = app.settings
    assert settings.issuer == "http://127.0.0.1:8124/oauth2/default"
    assert settings.client_secret == client.client_secret
    assert settings.redirect_uri == "http://localhost:8123/login/callback"
    assert settings.post_logout_redirect_uri == "http://localhost:8123/"
    assert settings.widget_js_url == fake.widget_js_url
    assert "ada@example.com" in capsys.readouterr().out


# -- property: whatever is typed, an accepted value keeps the environment one line each ------

_PARSERS = [standalone.http_url, standalone.origin, standalone.client_id, standalone.port]


@settings(max_examples=300, deadline=None)
@given(
    raw=st.one_of(
        st.text(),
        st.builds(lambda tail: f"http://localhost:8000/{tail}", st.text()),
        st.builds(lambda host: f"https://{host}", st.text()),
    )
)
def test_an_accepted_option_never_breaks_the_environment(raw: str) -> None:
    for parse in _PARSERS:
        try:
            value = parse(raw)
        except ValueError:
            continue
        text = standalone.env_lines({"OKTA_X": str(value)})
        assert text.count("\n") == 1
        assert ENV_LINE.match(text.rstrip("\n")), text
        assert not any(ch.isspace() for ch in str(value))
        assert str(value).isprintable()


@settings(max_examples=300, deadline=None)
@given(raw=st.text())
def test_a_user_or_group_option_is_an_address_or_refused(raw: str) -> None:
    try:
        person = standalone.user(raw)
    except ValueError:
        pass
    else:
        assert "@" in person.email
        assert not any(ch.isspace() for ch in person.email)
        assert person.email in raw
    try:
        email, group = standalone.membership(raw)
    except ValueError:
        pass
    else:
        assert group
        assert group == group.strip()
        assert "=" not in group
        assert raw.startswith(f"{email}=")
