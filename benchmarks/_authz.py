"""Part 9 (``authz``): what 50 access rules add to the in-process hot path.

The harness of part 1 (the ASGI callable awaited with a prebuilt scope, variants taking
turns round by round), for two hot paths, each with no rules and with the 50 rules of
:func:`benchmarks._apps.access_rules` (49 that do not match, then the one that does,
which the person passes by a group):

* the middleware: ``GET /reports`` through ``OktaMagicLink`` (the view reads
  ``request.user``);
* the forward-auth server: nginx's ``GET /auth`` about ``/reports?id=5`` (its
  ``create_app``, configured from the environment), next to a bare Starlette 202.

"Added" is, per round, the time with rules minus the time without (same round), so its
median and spread are of that difference. Time here is the CPU time of this thread
(``time.thread_time_ns``), not wall time: on a machine shared with other jobs, wall time
also counts the moments this process waits for a CPU, which swamps a 1 µs difference.
The session cookie carries the person's groups; the forward-auth server's comes from a
real sign-in against FakeOkta.

Then ``Policy.denial(user, path)`` alone for the 50 rules: a path and a person seen
before (the hot path: two cached lookups), a new path every call (the rule scan), and a
new person every call (their rules are worked out once per person).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from okta_magiclink_mw import OktaMagicLink, Settings
from okta_magiclink_mw._policy import Policy, rule_of
from okta_magiclink_mw.server import create_app
from okta_magiclink_mw.user import OktaUser

from . import _apps, _forward, _inprocess

RULES = 50
#: This thread's CPU time: what the code costs, not how long the machine made it wait.
CLOCK = time.thread_time_ns


async def _hello(request: Request) -> Response:
    return PlainTextResponse(f"hello {request.user.display_name}")


def _middleware(rules: int) -> OktaMagicLink:
    base = _apps.settings()
    settings = Settings(
        issuer=base.issuer,
        client_id=base.client_id,
        redirect_uri=base.redirect_uri,
        secret_keys=base.secret_keys,
        access_rules=[rule_of(r) for r in _apps.access_rules(rules)] if rules else (),
    )
    return OktaMagicLink(Starlette(routes=[Route(_apps.PATH, _hello)]), settings)


def _claims() -> dict[str, Any]:
    return {**_apps.claims(), "email": "ada@example.com", "groups": list(_apps.GROUPS)}


def _session_cookie(mw: OktaMagicLink) -> str:
    c = _claims()
    _, header = mw.core.sessions.mint(c, _apps.fake_id_token(c), time.time())  # type: ignore[union-attr]
    return _apps.cookie_pair(header)


def _auth_scope(cookie: str) -> dict[str, Any]:
    """nginx's subrequest to ``/auth``, as uvicorn would hand it over."""
    scope = _apps.asgi_scope(_apps.AUTH_PATH, "")
    headers = [(k.lower().encode(), v.encode()) for k, v in _apps.auth_headers(cookie).items()]
    scope["headers"] = [(b"host", b"okta_magiclink"), *headers]
    return scope


async def _status(app: Any, scope: dict[str, Any]) -> tuple[int, dict[bytes, bytes], bytes]:
    seen: dict[str, Any] = {"body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
            seen["headers"] = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            seen["body"] += message.get("body", b"")

    await app(dict(scope), _inprocess._receive, send)
    return seen.get("status", 0), seen.get("headers", {}), seen["body"]


async def _check(name: str, app: Any, scope: dict[str, Any], status: int) -> None:
    got, headers, body = await _status(app, scope)
    if got != status or b"set-cookie" in headers:
        raise RuntimeError(f"in-process {name}: expected {status}, got {got} {headers} {body!r}")
    if status == 200 and not body.startswith(b"hello"):
        raise RuntimeError(f"in-process {name}: {body!r}")
    if name.startswith("forward") and headers.get(b"x-auth-request-email") != b"ada@example.com":
        raise RuntimeError(f"in-process {name}: no X-Auth-Request-Email in {headers}")


def _added(samples: dict[str, list[float]], with_rules: str, without: str) -> dict[str, float]:
    diffs = [a - b for a, b in zip(samples[with_rules], samples[without], strict=True)]
    quartiles = statistics.quantiles(diffs, n=4) if len(diffs) > 1 else [diffs[0]] * 3
    return {
        "median_us": round(statistics.median(diffs), 3),
        "p25_us": round(quartiles[0], 3),
        "p75_us": round(quartiles[2], 3),
        "min_us": round(min(diffs), 3),
        "max_us": round(max(diffs), 3),
    }


async def _hot_paths(rounds: int, n: int) -> dict[str, Any]:
    signer = _forward.Signer()
    cookie = await signer.acookie()
    auth = _auth_scope(cookie)
    middleware = {"magiclink": _middleware(0), "magiclink_rules": _middleware(RULES)}
    reports = _apps.asgi_scope(_apps.PATH, _session_cookie(middleware["magiclink"]))
    built: dict[str, tuple[Any, dict[str, Any], int]] = {
        "magiclink": (middleware["magiclink"], reports, 200),
        "magiclink_rules": (middleware["magiclink_rules"], reports, 200),
        "bare_auth": (_apps.asgi_bare_auth(), auth, 202),
        "forward": (create_app(signer.env()), auth, 202),
        "forward_rules": (create_app(signer.env(RULES)), auth, 202),
    }
    samples: dict[str, list[float]] = {name: [] for name in built}
    for name, (app, scope, status) in built.items():
        await _check(name, app, scope, status)
        await _inprocess._asgi_round(app, scope, max(n // 10, 10))  # warm-up
    for _ in range(rounds):
        for name, (app, scope, _) in built.items():
            gc.collect()
            samples[name].append(await _inprocess._asgi_round(app, scope, n, CLOCK))
    for name, (app, scope, status) in built.items():
        await _check(name, app, scope, status)  # still allowed, still no Set-Cookie
    timings = {name: _inprocess._timing(s, n).as_json() for name, s in samples.items()}
    return {
        "middleware": {
            "magiclink": timings["magiclink"],
            "magiclink_rules": timings["magiclink_rules"],
            "added": _added(samples, "magiclink_rules", "magiclink"),
        },
        "forward": {
            "bare_auth": timings["bare_auth"],
            "forward": timings["forward"],
            "forward_rules": timings["forward_rules"],
            "added": _added(samples, "forward_rules", "forward"),
        },
    }


def _ns_per_call(policy: Policy, users: list[OktaUser], paths: list[str]) -> float:
    """ns per ``policy.denial`` call over ``zip(users, paths)`` (every one allowed)."""
    pairs = list(zip(users, paths, strict=True))
    denial = policy.denial
    gc.collect()
    start = CLOCK()
    for user, path in pairs:
        if denial(user, path) is not None:
            raise RuntimeError(f"Policy.denial refused {path}")
    return (CLOCK() - start) / len(pairs)


def _spread(samples: list[float], calls: int) -> dict[str, float]:
    return {
        "median_ns": round(statistics.median(samples), 1),
        "min_ns": round(min(samples), 1),
        "max_ns": round(max(samples), 1),
        "calls_per_round": calls,
    }


def _policy_rows(rounds: int, n: int) -> dict[str, Any]:
    policy = Policy([rule_of(r) for r in _apps.access_rules(RULES)])
    claims = _claims()
    user = OktaUser(claims)
    policy.denial(user, _apps.PATH)  # the path and the person learnt once
    cached, new_path, new_user = [], [], []
    for r in range(rounds):
        cached.append(_ns_per_call(policy, [user] * n, [_apps.PATH] * n))
        # A new path every call (under /reports: the last rule decides), the person known.
        paths = [f"{_apps.PATH}/r{r}/{i}" for i in range(n)]
        new_path.append(_ns_per_call(policy, [user] * n, paths))
        # A new person every call (their rules are worked out once each), the path known.
        users = [OktaUser(claims) for _ in range(n)]
        new_user.append(_ns_per_call(policy, users, [_apps.PATH] * n))
    return {
        "cached_path": _spread(cached, n),
        "new_path": _spread(new_path, n),
        "new_user": _spread(new_user, n),
    }


def run(*, rounds: int, n: int, policy_rounds: int, policy_calls: int) -> dict[str, Any]:
    """The part's JSON: the hot paths with and without rules, then ``Policy.denial``."""
    results = asyncio.run(_hot_paths(rounds, n))
    results["rules"] = RULES
    results["policy"] = _policy_rows(policy_rounds, policy_calls)
    return results
