"""Two processes of the same app behind a real nginx running examples/nginx.conf: two
uvicorn processes of the Starlette demo app (ASGI), two waitress processes of a Flask app
(WSGI). What must hold when a deployment has more than one process.

The tests marked "needs Redis" need the shared session store (issue 8). Until
``okta_magiclink_mw.stores`` exposes ``RedisSessionStore`` they run against today's
per-process sessions as strict expected failures (the baseline: the gap is real and the
test sees it), or are skipped when there is no baseline to run. The switch is
``tests/integration/_cluster.py: USE_REDIS`` (or ``OKTA_MW_CLUSTER_REDIS=1``).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import itertools
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from okta_magiclink_mw import Settings

from ._cluster import (
    EXAMPLE_NGINX_CONF,
    REDIS,
    REDIS_MISSING,
    REDIS_SERVER,
    Cluster,
    Nginx,
    RedisServer,
    free_port,
    free_socket,
    render_nginx_conf,
    running_cluster,
    session_cookie,
)
from ._cluster_app import STORE_GRACE_ENV
from ._stack import EMAIL, okta_hop

pytestmark = pytest.mark.integration

KINDS = ["asgi", "wsgi"]
HTML = {"Accept": "text/html,application/xhtml+xml"}
API = {"Accept": "application/json"}

#: Today's sessions are per process: the gap these tests close is the expected failure.
shared_sessions = pytest.mark.xfail(
    not REDIS,
    reason=f"needs Redis: sign-outs and spent sign-ins are per process ({REDIS_MISSING})",
    raises=AssertionError,
    strict=True,
)
needs_redis = pytest.mark.skipif(not REDIS, reason=f"needs Redis: {REDIS_MISSING}")


@pytest.fixture(scope="module", params=KINDS)
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    with running_cluster(request.param, redis=REDIS) as running:
        yield running


@pytest.fixture(scope="module", params=KINDS)
def crash_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A cluster for the tests that kill processes (nginx then avoids a killed instance
    for a while, which the round-robin test must not see)."""
    with running_cluster(request.param, redis=REDIS) as running:
        yield running


@pytest.fixture
def cookie_cluster(cluster: Cluster) -> Iterator[Cluster]:
    """A cluster with sessions in the cookie (the default mode): the module's, unless that
    one runs on Redis, where the cookie only names a record and stays small."""
    if cluster.redis is None:
        yield cluster
        return
    with running_cluster(cluster.kind, instances=1) as running:
        yield running


def replay(url: str, cookie: str, times: int = 1, **headers: str) -> list[httpx.Response]:
    """Send a copied session cookie ``times`` times, as an attacker holding it would."""
    answers = []
    with httpx.Client(timeout=10) as client:
        for _ in range(times):
            client.cookies.clear()  # only the copied value, never what was answered
            answers.append(client.get(url, headers={"Cookie": f"omw_session={cookie}", **headers}))
    return answers


def refused(response: httpx.Response) -> bool:
    """Sent to sign in, as a navigation with no live session is."""
    return response.status_code == 302 and response.headers["location"].startswith("/login?")


# -- the proxy and the instances ----------------------------------------------------------


def test_sign_in_through_nginx_and_requests_alternate_between_instances(
    cluster: Cluster,
) -> None:
    browser = cluster.sign_in()
    answers = [browser.get("/whoami").json() for _ in range(10)]
    assert {a["user"] for a in answers} == {EMAIL}
    pids = [a["pid"] for a in answers]
    assert sorted(set(pids)) == sorted(cluster.pids())
    assert all(a != b for a, b in itertools.pairwise(pids)), pids  # round-robin


@pytest.mark.parametrize(("start", "finish"), [(0, 1), (1, 0)])
def test_a_sign_in_started_on_one_instance_finishes_on_the_other(
    cluster: Cluster, start: int, finish: int
) -> None:
    posts = cluster.token_posts()
    browser = cluster.sign_in(start=start, finish=finish)
    assert cluster.token_posts() == posts + 1
    for index in (0, 1):
        me = browser.get(f"{cluster.url(index)}/whoami")
        assert me.status_code == 200
        assert me.json()["user"] == EMAIL
        assert me.json()["pid"] == cluster.pids()[index]


def test_a_magic_link_opened_on_the_other_instance_hands_the_code_to_the_widget(
    cluster: Cluster,
) -> None:
    browser = cluster.browser()
    first = browser.get(f"{cluster.url(0)}/reports?year=2026")
    widget = browser.widget_at(f"{cluster.url(0)}{first.headers['location']}")
    email = widget.request_email()
    link = okta_hop(email["magic_link"])
    assert link.startswith(f"{cluster.app_url}/login/callback?")  # the link names nginx

    click = browser.get(link.replace(cluster.app_url, cluster.url(1)))
    assert click.status_code == 302, click.text
    assert click.headers["location"].startswith("/login?state=")
    second_tab = browser.widget_at(f"{cluster.url(0)}{click.headers['location']}")
    assert second_tab.config["otp"] == email["otp"]
    second_tab.resume(widget.interaction_handle)
    landing = browser.get(f"{cluster.url(1)}{second_tab.finish(email['otp'])}")
    assert (landing.status_code, landing.headers["location"]) == (302, "/reports?year=2026")
    assert "Reports 2026" in browser.get("/reports?year=2026").text


def test_nginx_overwrites_the_forwarding_headers_a_client_sends(cluster: Cluster) -> None:
    browser = cluster.sign_in()
    forged = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "Forwarded": "for=203.0.113.9;proto=https",
    }
    for _ in cluster.instances:
        seen = browser.get("/whoami", headers=forged).json()
        # Appended instead ($proxy_add_x_forwarded_for), uvicorn would take the forged
        # address for the client's (waitress keeps only the last hop, so it would not).
        assert seen["x-forwarded-for"] == "127.0.0.1"
        assert seen["client"] == "127.0.0.1"
        assert (seen["x-forwarded-proto"], seen["scheme"]) == ("http", "http")
        assert seen["x-forwarded-host"] == "localhost"
        assert seen["host"] == "localhost"
        assert seen["forwarded"] is None


def test_a_sign_in_with_a_full_size_cookie_passes_nginx(cookie_cluster: Cluster) -> None:
    """A session cookie near the 4 KB a browser keeps, and other tabs' sign-ins in the
    transaction cookie: the callback's headers outgrow nginx's default 4k buffer."""
    cluster = cookie_cluster
    user = cluster.fake.find_user(EMAIL)
    assert user is not None
    name = user.name
    user.name = " ".join(secrets.token_urlsafe(12) for _ in range(180))  # incompressible
    bare = re.sub(
        r"(?m)^\s*proxy_(buffer_size|buffers|busy_buffers_size) .*\n",
        "",
        EXAMPLE_NGINX_CONF.read_text(),
    )
    port = free_port()
    conf = render_nginx_conf(bare, listen_port=port, upstream_ports=[cluster.instances[0].port])
    defaults = Nginx(cluster.directory / "defaults", port, conf)
    defaults.directory.mkdir()
    try:
        defaults.spawn()
        defaults.wait_ready()
        answers = {}
        for proxy in (cluster.app_url, f"http://localhost:{port}"):
            browser = cluster.browser()
            for tab in range(4):
                login = browser.get(f"{proxy}/whoami?tab={tab}")
            widget = browser.widget_at(f"{proxy}{login.headers['location']}")
            callback = widget.finish(widget.request_email()["otp"])
            answers[proxy] = browser.get(f"{proxy}{callback}")
    finally:
        user.name = name
        defaults.stop()
    signed_in = answers[cluster.app_url]
    assert signed_in.status_code == 302, signed_in.text
    assert sum(len(c) for c in signed_in.headers.get_list("set-cookie")) > 3500
    # The same without the example's proxy_buffer_size: what it is there for.
    assert answers[f"http://localhost:{port}"].status_code == 502
    assert "upstream sent too big header" in defaults.error_log.read_text()


def test_the_access_log_keeps_no_code_otp_or_state(cluster: Cluster) -> None:
    browser = cluster.browser()
    first = browser.get("/reports")
    widget = browser.widget_at(first.headers["location"])
    email = widget.request_email()
    click = browser.get(okta_hop(email["magic_link"]))
    tab = browser.widget_at(click.headers["location"])
    tab.resume(widget.interaction_handle)
    callback = tab.finish(email["otp"])
    assert browser.get(callback).status_code == 302
    code = httpx.URL(callback).params["interaction_code"]

    log = (cluster.directory / "access.log").read_text()
    assert '"GET /login/callback HTTP/1.1" 302' in log  # the log is written, paths only
    for secret in (email["otp"], code, widget.config["state"]):
        assert secret not in log


def test_nginx_skips_a_dead_instance_and_sessions_survive_its_restart(
    crash_cluster: Cluster,
) -> None:
    cluster = crash_cluster
    browser = cluster.sign_in()
    dead = cluster.pids()[0]
    cluster.kill(0)
    answers = [browser.get("/whoami") for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10  # no 502: the other one answers
    assert {a.json()["pid"] for a in answers} == {cluster.pids()[1]}

    cluster.restart(0)
    assert cluster.pids()[0] != dead
    me = browser.get(f"{cluster.url(0)}/whoami")
    assert me.status_code == 200
    assert (me.json()["pid"], me.json()["user"]) == (cluster.pids()[0], EMAIL)


class UpgradeEcho:
    """A bare upstream for nginx: answers a websocket handshake with 101, then echoes
    every byte back; answers anything else with a plain 200. Keeps each request's head."""

    def __init__(self) -> None:
        self.sock = free_socket()
        self.sock.listen(8)
        self.port: int = self.sock.getsockname()[1]
        self.heads: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the listening socket is closed: done
            while True:
                conn, _ = self.sock.accept()
                threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            text = head.decode("latin-1").lower()
            self.heads.append(text)
            if "upgrade: websocket" not in text:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                return
            key = re.search(r"sec-websocket-key: *(\S+)", head.decode("latin-1"), re.I)
            assert key is not None
            accept = base64.b64encode(
                hashlib.sha1((key.group(1) + _WS_GUID).encode()).digest()  # noqa: S324
            )
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            while data := conn.recv(4096):
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_nginx_passes_websocket_upgrades_and_keeps_connections_alive(tmp_path: Path) -> None:
    upstream = UpgradeEcho()
    port = free_port()
    conf = render_nginx_conf(
        EXAMPLE_NGINX_CONF.read_text(), listen_port=port, upstream_ports=[upstream.port]
    )
    nginx = Nginx(tmp_path, port, conf)
    try:
        nginx.spawn()
        nginx.wait_ready()
        plain = httpx.get(f"http://127.0.0.1:{port}/page", headers={"Connection": "close"})
        assert (plain.status_code, plain.text) == (200, "ok")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(
                b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            )
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += client.recv(4096)
            assert answer.startswith(b"HTTP/1.1 101 "), answer
            assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer  # RFC 6455's example
            client.sendall(b"\x81\x05hello")  # any bytes: nginx is a tunnel now
            echoed = b""
            while len(echoed) < 7:
                echoed += client.recv(4096)
            assert echoed == b"\x81\x05hello"
    finally:
        nginx.stop()
        upstream.close()
    page, ws = upstream.heads
    # Without the map's "" value nginx would send "Connection: close" and never reuse
    # a connection to an instance; the client's own Connection header is not passed.
    assert "\r\nconnection:" not in page
    assert "\r\nupgrade: websocket\r\n" in ws
    assert "\r\nconnection: upgrade\r\n" in ws


# -- shared sessions (issue 8) ------------------------------------------------------------


@shared_sessions
def test_a_sign_out_through_nginx_holds_on_every_instance(cluster: Cluster) -> None:
    browser = cluster.sign_in()
    stolen = session_cookie(browser)
    out = cluster.sign_out(browser)
    assert out.status_code == 303

    answers = replay(f"{cluster.app_url}/whoami", stolen, times=100)
    let_through = [a.json()["pid"] for a in answers if a.status_code == 200]
    assert let_through == []  # today: about half, from the instance that did not sign out
    assert all(refused(a) for a in answers)
    for index in (0, 1):
        assert refused(replay(f"{cluster.url(index)}/whoami", stolen)[0])


@shared_sessions
def test_a_replayed_transaction_cookie_makes_no_token_request_on_any_instance(
    cluster: Cluster,
) -> None:
    browser = cluster.browser()
    first = browser.get(f"{cluster.url(0)}/whoami")
    widget = browser.widget_at(f"{cluster.url(0)}{first.headers['location']}")
    callback = widget.finish(widget.request_email()["otp"])
    copied = [(c.name, c.value) for c in browser.http.cookies.jar if c.name == "omw_signin"]
    assert len(copied) == 1
    posts = cluster.token_posts()
    assert browser.get(f"{cluster.url(0)}{callback}").status_code == 302
    assert cluster.token_posts() == posts + 1

    cookie = {"Cookie": f"{copied[0][0]}={copied[0][1]}"}
    answers = [httpx.get(f"{cluster.url(1)}{callback}", headers=cookie)]
    answers += [httpx.get(f"{cluster.app_url}{callback}", headers=cookie) for _ in range(4)]
    assert cluster.token_posts() == posts + 1  # today: instance 1 asks Okta again
    assert [a.status_code for a in answers] == [403] * 5


@shared_sessions
def test_sessions_and_sign_outs_survive_restarting_every_instance(
    crash_cluster: Cluster,
) -> None:
    cluster = crash_cluster
    kept = cluster.sign_in()
    gone = cluster.sign_in()
    stolen = session_cookie(gone)
    assert cluster.sign_out(gone, at=0).status_code == 303
    cluster.restart(0, 1)
    for index in (0, 1):
        me = kept.get(f"{cluster.url(index)}/whoami")
        assert (me.status_code, me.json()["user"]) == (200, EMAIL)
        # Today the restarted process forgot the sign-out: the copied cookie works again.
        assert refused(replay(f"{cluster.url(index)}/whoami", stolen)[0])


# -- the store goes away ------------------------------------------------------------------


def _grace() -> tuple[float, dict[str, str]]:
    """The grace period the cluster runs with: 1 s if the setting exists, else its default."""
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    if "store_grace" in fields:
        return 1.0, {STORE_GRACE_ENV: "1"}
    return 5.0, {}


@pytest.fixture(params=KINDS)
def outage_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    with running_cluster(request.param, redis=True, env=_grace()[1]) as running:
        yield running


@needs_redis
def test_while_redis_is_down_nothing_fails_open_and_everything_recovers(
    outage_cluster: Cluster,
) -> None:
    cluster = outage_cluster
    assert cluster.redis is not None
    grace, _ = _grace()
    browser = cluster.sign_in()
    for index in (0, 1):  # both instances have seen the session
        assert browser.get(f"{cluster.url(index)}/whoami").status_code == 200

    outage = time.monotonic()
    cluster.redis.stop()
    seen: dict[int, list[tuple[float, int, str]]] = {0: [], 1: []}
    deadline = outage + grace + 10
    while not all(s and s[-1][1] == 503 for s in seen.values()):
        assert time.monotonic() < deadline, f"still no 503 after {grace + 10} s: {seen}"
        for index in (0, 1):
            for accept in (HTML, API):
                answer = browser.get(f"{cluster.url(index)}/whoami", headers=accept)
                seen[index].append(
                    (time.monotonic() - outage, answer.status_code, answer.headers["content-type"])
                )
                assert answer.status_code in (200, 503), answer.text
                if answer.status_code == 503:
                    if accept is HTML:
                        assert answer.headers["content-type"].startswith("text/html")
                    else:
                        assert answer.headers["content-type"].startswith("application/json")
                        assert isinstance(answer.json(), dict)
        time.sleep(0.05)
    for index, answers in seen.items():
        served = [t for t, status, _ in answers if status == 200]
        # 200s from the local cache for at most the grace period (plus a store timeout).
        assert not served or max(served) <= grace + 2.0, (index, answers)
        first_503 = next(t for t, status, _ in answers if status == 503)
        assert all(t < first_503 for t in served), (index, answers)  # then 503 until back

    # A sign-out while the store is down is refused out loud, never half done.
    cookie = session_cookie(browser)
    out = cluster.sign_out(browser)
    assert out.status_code == 503
    assert out.headers["content-type"].startswith("text/html")

    cluster.redis.start()
    back = time.monotonic() + 10
    for index in (0, 1):
        while (me := replay(f"{cluster.url(index)}/whoami", cookie)[0]).status_code != 200:
            assert me.status_code == 503, me.text
            assert time.monotonic() < back, "no recovery 10 s after redis came back"
            time.sleep(0.05)
        assert me.json()["user"] == EMAIL  # the session was kept, the apps never restarted
    signed_out = httpx.post(
        f"{cluster.app_url}/logout",
        headers={"Cookie": f"omw_session={cookie}", "Origin": cluster.app_url},
    )
    assert signed_out.status_code == 303
    answers = replay(f"{cluster.app_url}/whoami", cookie, times=10)
    assert all(refused(a) for a in answers)


def test_the_example_config_is_what_the_cluster_runs() -> None:
    """The harness changes the listen port and the instances, nothing else."""
    example = EXAMPLE_NGINX_CONF.read_text()
    rendered = render_nginx_conf(example, listen_port=1234, upstream_ports=[11, 12, 13])
    assert "listen 127.0.0.1:1234;" in rendered
    assert re.findall(r"server 127\.0\.0\.1:(\d+);", rendered) == ["11", "12", "13"]
    dropped = [line for line in example.splitlines() if line not in rendered.splitlines()]
    assert dropped == [
        "        server 127.0.0.1:8001;",
        "        server 127.0.0.1:8002;",
        "        listen 127.0.0.1:8080;",
    ]
    with pytest.raises(ValueError, match="listen"):
        render_nginx_conf(
            example.replace("listen 127.0.0.1:8080;", ""), listen_port=1, upstream_ports=[2]
        )


# -- the harness itself -------------------------------------------------------------------


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_failing_test_leaves_no_process_behind() -> None:
    groups: list[int] = []
    # The failure is inside the cluster: that is the point (PT012).
    with (  # noqa: PT012
        pytest.raises(ZeroDivisionError),
        running_cluster("wsgi", instances=1) as cluster,
    ):
        assert cluster.nginx is not None
        assert cluster.nginx.proc is not None
        groups += [*cluster.pids(), cluster.nginx.proc.pid]
        assert all(_alive(pgid) for pgid in groups)
        1 / 0  # noqa: B018
    assert len(groups) == 2
    assert not [pgid for pgid in groups if _alive(pgid)]
    assert not cluster.directory.exists()


@pytest.mark.skipif(not Path(REDIS_SERVER).exists(), reason=f"{REDIS_SERVER} is not installed")
def test_a_redis_outage_loses_nothing(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path, free_port())
    redis.start()
    try:
        assert redis.command("SET", "k", "v") == b"+OK\r\n"
        redis.stop()
        with pytest.raises(ConnectionRefusedError):
            redis.command("PING")
        redis.start()
        assert redis.command("GET", "k") == b"$1\r\nv\r\n"
    finally:
        redis.stop()
    assert redis.proc is not None
    assert redis.proc.poll() is not None


@pytest.mark.skipif(REDIS, reason="the Redis store is there")
def test_asking_for_redis_before_the_store_exists_fails_loudly() -> None:
    with (
        pytest.raises(RuntimeError, match="session_store"),
        running_cluster("asgi", instances=1, redis=True),
    ):
        pass  # the instances refuse to start
