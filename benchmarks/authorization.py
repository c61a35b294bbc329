"""What authorization adds to the hot path (issue 10): ``python -m benchmarks.authorization``.

In-process, warm caches, one signed-in cookie session; variants take turns round by
round and the medians are printed (µs per call):

- ``Policy.denial`` alone, with 1 and 50 rules (the path under the 50th rule);
- ``MagicLinkCore.signed_in`` (the fast path) with no rules and with 50;
- one request through each adapter to a bare app: no rules, 50 rules, and no rules with
  a guard declared in the process (the wrapper that lets guards answer).

The goal is at most 1 µs added for up to 50 rules, nothing without rules, and nothing
for an app without guards.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

from okta_magiclink_mw import (
    AccessRule,
    OktaMagicLink,
    OktaMagicLinkWSGI,
    OktaUser,
    Settings,
    _guards,
)
from okta_magiclink_mw._policy import Policy

from . import _apps

RULES = [AccessRule(f"/area{i}", groups=[f"team{i}"]) for i in range(50)]
PATH = "/area49/reports"
CLAIMS = {**_apps.claims(), "groups": ["staff", "team49"]}


def settings(**overrides: Any) -> Settings:
    base = _apps.settings()
    values = {
        "issuer": base.issuer,
        "client_id": base.client_id,
        "redirect_uri": base.redirect_uri,
        "secret_keys": base.secret_keys,
    }
    return Settings(**{**values, **overrides})


def per_call(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n / 1000


def run(variants: dict[str, Callable[[], object]], rounds: int, n: int) -> dict[str, float]:
    """Medians per variant; a variant named "..., a guard declared" runs with the flag
    that any ``require()`` sets (the others without), round by round in turns."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    before = _guards.declared
    try:
        for name, fn in variants.items():
            _guards.declared = "guard" in name
            per_call(fn, n // 10)
        for _ in range(rounds):
            for name, fn in variants.items():
                _guards.declared = "guard" in name
                gc.collect()
                samples[name].append(per_call(fn, n))
    finally:
        _guards.declared = before
    return {name: statistics.median(s) for name, s in samples.items()}


def policy_variants() -> dict[str, Callable[[], object]]:
    user = OktaUser(CLAIMS)
    one = Policy([AccessRule("/area49", groups=["team49"])])
    fifty = Policy(RULES)
    assert one.denial(user, PATH) is None
    assert fifty.denial(user, PATH) is None
    return {
        "Policy.denial, 1 rule": lambda: one.denial(user, PATH),
        "Policy.denial, 50 rules": lambda: fifty.denial(user, PATH),
    }


def core_variants() -> dict[str, Callable[[], object]]:
    found: dict[str, Callable[[], object]] = {}
    for name, s in (("no rules", settings()), ("50 rules", settings(access_rules=RULES))):
        mw = OktaMagicLinkWSGI(lambda e, r: [], s)
        _, header = mw.core.sessions.mint(CLAIMS, None, time.time())
        cookie = _apps.cookie_pair(header)
        core = mw.core
        assert core.signed_in(PATH, cookie, PATH) is not None
        found[f"core.signed_in, {name}"] = lambda core=core, cookie=cookie: core.signed_in(
            PATH, cookie, PATH
        )
    return found


async def _bare_asgi(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def _bare_wsgi(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"hello"]


def adapter_variants() -> dict[str, Callable[[], object]]:
    found: dict[str, Callable[[], object]] = {}
    loop = asyncio.new_event_loop()
    for name, s in (
        ("no rules", settings()),
        ("50 rules", settings(access_rules=RULES)),
        ("no rules, a guard declared", settings()),
    ):
        asgi = OktaMagicLink(_bare_asgi, s)
        _, header = asgi.core.sessions.mint(CLAIMS, None, time.time())
        scope = _apps.asgi_scope(PATH, _apps.cookie_pair(header))

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            return None

        async def many(app: Any = asgi, scope: Any = scope, k: int = 100) -> None:
            for _ in range(k):
                await app(dict(scope), receive, send)

        found[f"ASGI request, {name} (per 100)"] = lambda many=many: loop.run_until_complete(many())
        wsgi = OktaMagicLinkWSGI(_bare_wsgi, s)
        _, header = wsgi.core.sessions.mint(CLAIMS, None, time.time())
        environ = _apps.wsgi_environ(PATH, _apps.cookie_pair(header))

        def call(app: Any = wsgi, environ: Any = environ) -> None:
            b"".join(app(dict(environ), lambda *a: None))

        found[f"WSGI request, {name}"] = call
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args(argv)
    logging.getLogger("okta_magiclink_mw").setLevel(logging.ERROR)  # the groups warning
    print(f"medians of {args.rounds} rounds, µs per call")
    for name, us in run({**policy_variants(), **core_variants()}, args.rounds, args.n).items():
        print(f"  {name:45} {us:7.3f}")
    for name, us in run(adapter_variants(), args.rounds, args.n // 20).items():
        per = us / 100 if "per 100" in name else us
        print(f"  {name.replace(' (per 100)', ''):45} {per:7.3f}")


if __name__ == "__main__":
    main()
