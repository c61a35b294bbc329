"""Access tokens, re-checks and Okta-driven sign-out over sockets: a real redis-server, two
app instances as separate processes behind nginx (ASGI: ``uvicorn --workers 2`` each,
four worker processes in all; WSGI: two waitress processes), FakeOkta in this process.

Time moves with :meth:`Cluster.advance`: FakeOkta's clock and every instance's together
(the instances read an offset from a file), so an access token runs out, or a re-check
falls due, without waiting for it. FakeOkta's access tokens live 75 s, just above the
60 s of validity an app asks for, and its refresh tokens rotate with no grace, so a
refresh with a stale refresh token would fail loudly.

Universal Logout goes to ``Settings.universal_logout_path`` (OKTA_MW_UNIVERSAL_LOGOUT_PATH)
as FakeOkta sends it, signed with the org authorization server's keys.

Measured numbers are printed (``pytest -s``): refresh POSTs under concurrency, the wall
time of the concurrent calls, and how long after Universal Logout's 204 both instances
refuse the old cookie.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ._cluster import REDIS, REDIS_MISSING, Cluster, running_cluster, session_cookie
from ._stack import CLIENT_ID, EMAIL, Browser

pytestmark = pytest.mark.integration

KINDS = ["asgi", "wsgi"]
HTML = {"Accept": "text/html,application/xhtml+xml"}
API = {"Accept": "application/json"}
#: FakeOkta's access-token lifetime (s): an app asks for 60 s of validity by default.
LIFETIME = 75
#: OKTA_MW_REVALIDATE_EVERY: the least Settings accepts is just above 29 s.
RECHECK = 30
CONCURRENT = 50
UL_PATH = "/.well-known/okta-universal-logout"
UL_TYPE = {"typ": "global-token-revocation+jwt"}


def _require_redis() -> None:
    if REDIS:
        return
    if os.environ.get("OKTA_MW_REQUIRE_REDIS"):
        pytest.fail(
            f"the token tests need Redis, and OKTA_MW_REQUIRE_REDIS is set: {REDIS_MISSING}"
        )
    pytest.skip(f"needs Redis: {REDIS_MISSING}")


@pytest.fixture(scope="module", params=KINDS)
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    _require_redis()
    with running_cluster(
        request.param,
        redis=True,
        workers=2,  # ASGI: 2 processes x 2 uvicorn workers
        threads=CONCURRENT,  # WSGI: every concurrent call gets a thread
        movable_clock=True,
        okta_client={
            "access_token_lifetime": LIFETIME,
            "refresh_token_rotation": True,
            "rotation_grace": 0,
        },
        env={
            "OKTA_MW_SCOPES": "openid profile email offline_access",
            "OKTA_MW_REVALIDATE_EVERY": str(RECHECK),
            "OKTA_MW_UNIVERSAL_LOGOUT_PATH": UL_PATH,
        },
    ) as running:
        yield running


@pytest.fixture
def person(cluster: Cluster) -> Iterator[Browser]:
    """A fresh session of Ada's; she is active again afterwards, whatever the test did."""
    user = cluster.fake.find_user(EMAIL)
    assert user is not None
    try:
        yield cluster.sign_in()
    finally:
        user.status = "ACTIVE"


def instance_of(cluster: Cluster, answer: dict[str, Any]) -> int:
    """Which instance served an ``/api/token`` answer (a uvicorn worker's parent)."""
    pids = cluster.pids()
    return pids.index(answer["pid"] if answer["pid"] in pids else answer["ppid"])


def concurrently(
    url: str, cookie: str, count: int, headers: dict[str, str]
) -> tuple[list[httpx.Response], float]:
    """``count`` GETs at once, each on its own connection; the answers and the wall time."""

    async def many() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=20, limits=limits) as client:
            sent = {**headers, "Cookie": f"omw_session={cookie}"}
            return list(
                await asyncio.gather(*(client.get(url, headers=sent) for _ in range(count)))
            )

    started = time.perf_counter()
    answers = asyncio.run(many())
    return answers, time.perf_counter() - started


def signed_out(response: httpx.Response, api: bool) -> bool:
    if api:
        return response.status_code == 401 and response.json()["error"] == "unauthenticated"
    return response.status_code == 302 and response.headers["location"].startswith("/login?")


def test_fifty_concurrent_calls_across_the_instances_make_one_refresh(
    cluster: Cluster, person: Browser
) -> None:
    cookie = session_cookie(person)
    first = person.get("/api/token", headers=API)
    assert first.status_code == 200, first.text
    before = first.json()["token_sha256"]
    posts = cluster.refresh_posts()

    cluster.advance(LIFETIME - 59)  # 59 s left: less than the 60 s an app asks for
    cluster.reset_arrivals()
    # FakeOkta holds the refresh until all 50 calls are inside the apps: they all find
    # the token too old while the one refresh is in flight.
    with cluster.refreshes_held_until(lambda: cluster.arrivals() >= CONCURRENT) as log:
        answers, wall = concurrently(f"{cluster.app_url}/api/token", cookie, CONCURRENT, API)
    assert not log.hold_timed_out, f"only {cluster.arrivals()} calls arrived"
    assert [a.status_code for a in answers] == [200] * CONCURRENT, [a.text for a in answers]
    seen = [a.json() for a in answers]
    refreshes = cluster.refresh_posts() - posts
    workers = {a["pid"] for a in seen}
    print(
        f"\n[measure] {cluster.kind}: {CONCURRENT} concurrent calls through nginx on "
        f"{len(workers)} worker processes: {refreshes} refresh POST(s), wall {wall * 1000:.0f} ms"
    )
    assert refreshes == 1
    tokens = {a["token_sha256"] for a in seen}
    assert len(tokens) == 1
    assert tokens != {before}
    assert {instance_of(cluster, a) for a in seen} == {0, 1}  # spread over both

    # The rotated refresh token was stored in the same write: the next refresh, from
    # whichever instance, presents it (the old one is refused at once: no grace).
    cluster.advance(LIFETIME - 59 + 1)
    again = person.get("/api/token", headers=API)
    assert again.status_code == 200, again.text
    assert again.json()["token_sha256"] not in (tokens | {before})
    assert cluster.refresh_posts() - posts == 2
    for index in (0, 1):
        same = person.get(f"{cluster.url(index)}/api/token", headers=API)
        assert same.json()["token_sha256"] == again.json()["token_sha256"]
    assert cluster.refresh_posts() - posts == 2


def test_a_due_recheck_is_one_refresh_for_every_worker(cluster: Cluster, person: Browser) -> None:
    cookie = session_cookie(person)
    for index in (0, 1):  # every instance has the session cached
        assert person.get(f"{cluster.url(index)}/whoami").status_code == 200
    posts = cluster.refresh_posts()
    cluster.advance(RECHECK + 1)
    answers, wall = concurrently(f"{cluster.app_url}/whoami", cookie, 20, HTML)
    refreshes = cluster.refresh_posts() - posts
    print(
        f"\n[measure] {cluster.kind}: 20 concurrent navigations with a re-check due: "
        f"{refreshes} refresh POST(s), wall {wall * 1000:.0f} ms"
    )
    assert [a.status_code for a in answers] == [200] * 20
    assert refreshes == 1
    for index in (0, 1):  # checked: no more until the next interval
        assert person.get(f"{cluster.url(index)}/whoami").status_code == 200
    assert cluster.refresh_posts() - posts == 1


def test_a_deactivated_person_is_signed_out_at_the_next_recheck_on_every_instance(
    cluster: Cluster, person: Browser
) -> None:
    cookie = session_cookie(person)
    for index in (0, 1):
        assert person.get(f"{cluster.url(index)}/whoami").status_code == 200
    cluster.fake.deactivate_user(EMAIL)
    posts = cluster.refresh_posts()
    # Within the interval the session goes on (that is what the interval means).
    assert person.get("/whoami", headers=HTML).status_code == 200
    assert cluster.refresh_posts() == posts

    cluster.advance(RECHECK + 1)
    # The first request re-checks: Okta refuses the refresh (invalid_grant).
    assert signed_out(person.get(f"{cluster.url(0)}/whoami", headers=API), api=True)
    assert cluster.refresh_posts() == posts + 1
    # Every instance, every worker: navigations go to sign in, API calls get 401.
    for index in (0, 1):
        for _ in range(4):
            with httpx.Client(timeout=10) as client:
                jar = {"Cookie": f"omw_session={cookie}"}
                page = client.get(f"{cluster.url(index)}/whoami", headers={**HTML, **jar})
                api = client.get(f"{cluster.url(index)}/api/token", headers={**API, **jar})
            assert signed_out(page, api=False), (index, page.status_code, page.text)
            assert signed_out(api, api=True), (index, api.status_code, api.text)
    assert cluster.refresh_posts() == posts + 1  # the session is gone: nothing to refresh
    assert cluster.fake.clients[CLIENT_ID].refresh_token_rotation  # the module's settings


# -- Universal Logout -------------------------------------------------------------------------


def _fresh_connections() -> httpx.Client:
    """A client that opens a new connection per request: the kernel hands each to any of
    an instance's uvicorn workers, so a few requests reach them all."""
    return httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0))


def _refuses(client: httpx.Client, url: str, cookie: str) -> bool:
    answer = client.get(f"{url}/whoami", headers={**API, "Cookie": f"omw_session={cookie}"})
    if answer.status_code == 200:
        return False
    assert signed_out(answer, api=True), (answer.status_code, answer.text)
    return True


@pytest.mark.parametrize("subject", ["email", "iss_sub"])
def test_universal_logout_ends_the_session_on_every_instance(
    cluster: Cluster, person: Browser, subject: str
) -> None:
    cookie = session_cookie(person)
    with _fresh_connections() as client:
        for index in (0, 1):  # every worker of every instance has the session cached
            assert not any(_refuses(client, cluster.url(index), cookie) for _ in range(8))
    user = cluster.fake.find_user(EMAIL)
    assert user is not None
    named = {"email": EMAIL} if subject == "email" else {"user_id": user.id}
    families = [f for f in cluster.fake.refresh_families.values() if f.user is user]
    assert not all(f.revoked for f in families)  # this session's refresh token is live

    # Each instance, until 4 requests in a row (new connections, any worker) refuse. The
    # client exists before the 204: making one takes tens of ms (its TLS context).
    refused_at: dict[int, float] = {}
    streak = {0: 0, 1: 0}
    let_in = {0: 0, 1: 0}  # requests the old cookie still passed after the 204
    with _fresh_connections() as client:
        answer = cluster.fake.universal_logout(f"{cluster.app_url}{UL_PATH}", **named)
        done = time.perf_counter()
        assert answer.status_code == 204, answer.text
        while min(streak.values()) < 4:
            assert time.perf_counter() - done < 5, f"still let in after 5 s: {streak}"
            for index in (0, 1):
                if streak[index] >= 4:
                    continue
                if _refuses(client, cluster.url(index), cookie):
                    if streak[index] == 0:
                        refused_at[index] = time.perf_counter() - done  # answered
                    streak[index] += 1
                else:
                    streak[index] = 0
                    let_in[index] += 1
        print(
            f"\n[measure] {cluster.kind}: Universal Logout ({subject}): both instances refuse "
            f"the old cookie {max(refused_at.values()) * 1000:.1f} ms after the 204 (refusals "
            f"answered at {refused_at[0] * 1000:.1f} / {refused_at[1] * 1000:.1f} ms); "
            f"requests let in after the 204: {let_in[0]} / {let_in[1]}"
        )
        for index in (0, 1):  # and it stays refused
            assert all(_refuses(client, cluster.url(index), cookie) for _ in range(10))
    assert signed_out(person.get("/whoami", headers=HTML), api=False)
    # The person's refresh tokens were revoked at Okta as well.
    assert all(f.revoked for f in families)


def test_a_replayed_universal_logout_has_no_second_effect(cluster: Cluster) -> None:
    endpoint = f"{cluster.app_url}{UL_PATH}"
    token = cluster.fake.sign_org_jwt(cluster.fake.universal_logout_claims(endpoint), UL_TYPE)
    request = {
        "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        "content": json.dumps({"sub_id": {"format": "email", "email": EMAIL}}),
    }
    old = session_cookie(cluster.sign_in())
    # The audience is the public URL; the instances answer it directly as well.
    first = httpx.post(f"{cluster.url(0)}{UL_PATH}", **request)
    assert first.status_code == 204, first.text
    with _fresh_connections() as client:
        assert _refuses(client, cluster.url(1), old)

    again = cluster.sign_in()
    new = session_cookie(again)
    # The same request again, at the other instance and through nginx: spent everywhere.
    for url in (cluster.url(1), cluster.app_url, cluster.url(0)):
        replayed = httpx.post(f"{url}{UL_PATH}", **request)
        assert replayed.status_code == 401, (url, replayed.status_code, replayed.text)
    with _fresh_connections() as client:
        for index in (0, 1):  # the new session survives on every worker
            assert not any(_refuses(client, cluster.url(index), new) for _ in range(8))
