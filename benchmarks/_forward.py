"""Part 7 (``forward``): the forward-auth server's ``GET /auth`` under uvicorn, loaded by wrk.

What nginx's ``auth_request`` asks for every request of a protected app: ``GET /auth``
with the person's cookies and ``X-Original-URI`` / ``X-Original-Method``, answered 202
with ``X-Auth-Request-*`` headers. Variants, each its own ``uvicorn --factory`` process
started the way part 3 starts its servers (same flags, same CPU), the same headers sent
to each:

* ``bare_auth``: a bare Starlette endpoint answering 202 (the baseline of the ratios);
* ``forward``: the forward-auth server itself (``okta_magiclink_mw.server:create_app``,
  configured only through the environment, as ``okta-magiclink-mw serve`` is), no rules;
* ``forward_rules``: the same with 50 access rules in ``OKTA_MW_ACCESS_RULES`` (49 that
  do not match the original path, then the one that does; the person passes it).

The session cookie comes from a real sign-in: FakeOkta issues an interaction code, and
the forward-auth server's own ``/login/callback`` (in this process, same configuration)
answers with the cookie. It is made again before every round, so it never reaches its
refresh time, and a last request checks that no Set-Cookie was being sent.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Mapping
from typing import Any

import httpx

from okta_magiclink_mw.server import create_app

from . import _apps, _idp, _signins, _sockets

VARIANTS = ("bare_auth", "bare_auth_headers", "forward", "forward_rules")
BASE = "bare_auth"
RULES = 50

_FACTORIES = {
    "bare_auth": "benchmarks._apps:asgi_bare_auth",
    "bare_auth_headers": "benchmarks._apps:asgi_bare_auth_headers",
    "forward": "okta_magiclink_mw.server:create_app",
    "forward_rules": "okta_magiclink_mw.server:create_app",
}


class Signer:
    """Real sign-ins of a person in :data:`_apps.GROUPS`, through the forward-auth
    server's callback, against FakeOkta (on an in-memory transport)."""

    def __init__(self) -> None:
        self.idp = _idp.make_idp("http://127.0.0.1:9", groups=_apps.GROUPS)

    def env(self, rules: int = 0) -> dict[str, str]:
        return _apps.forward_env(self.idp.issuer, rules)

    def cookie(self) -> str:
        """A fresh session cookie's ``name=value``."""
        return asyncio.run(self.acookie())

    async def acookie(self) -> str:
        async def issue(challenge: str, state: str, nonce: str) -> str:
            return str(self.idp.issue(challenge, state, nonce))

        transport = httpx.ASGITransport(app=self.idp)
        async with httpx.AsyncClient(transport=transport, follow_redirects=False) as client:
            app = create_app(self.env(), http_client=client)
            try:
                outcome, _, cookie = await _signins.callback(app, issue)
            finally:
                await app.aclose()
        if outcome != "ok" or not cookie:
            raise RuntimeError(f"the sign-in for the forward-auth benchmark failed: {outcome}")
        return cookie


def check(name: str, url: str, headers: Mapping[str, str], *, identity: bool) -> int:
    """One request by hand: 202 (with the person's email when ``identity``); returns how
    many Set-Cookie headers it carried."""
    response = _sockets.wait_ready(url, dict(headers))
    email = response.headers.get("x-auth-request-email")
    if response.status_code != 202 or (identity and email != "ada@example.com"):
        raise RuntimeError(
            f"{name}: expected 202 for ada@example.com, got {response.status_code} "
            f"(X-Auth-Request-Email {email!r}) {response.text[:200]}"
        )
    return len(response.headers.get_list("set-cookie"))


def run(*, seconds: float, rounds: int, connections: int, warmup: float) -> dict[str, Any]:
    """Every variant in turns; the JSON of the part."""
    signer = Signer()
    server_cpu, load_cpu = _sockets.cpu_plan()
    envs = {"forward": signer.env(), "forward_rules": signer.env(RULES)}
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for name in VARIANTS:
            port = _sockets.free_port()
            proc = _sockets.start_uvicorn(_FACTORIES[name], port, server_cpu, env=envs.get(name))
            servers[name] = (proc, f"http://127.0.0.1:{port}{_apps.AUTH_PATH}")
        cookie = signer.cookie()
        for name, (_, url) in servers.items():
            check(name, url, _apps.auth_headers(cookie), identity=name != BASE)

        def requests() -> dict[str, dict[str, str]]:
            headers = _apps.auth_headers(signer.cookie())  # the same for every variant
            return dict.fromkeys(servers, headers)

        turns = _sockets.take_turns(
            {name: _sockets.Target(url, (proc.pid,)) for name, (proc, url) in servers.items()},
            requests,
            base=BASE,
            seconds=seconds,
            rounds=rounds,
            connections=connections,
            load=_sockets.run_wrk,
            load_cpu=load_cpu,
            warmup=warmup,
        )
        for name, (_, url) in servers.items():
            last = turns.last_headers[name]
            turns.loads[name].set_cookies = check(name, url, last, identity=name != BASE)
    finally:
        _sockets.stop_all([proc for proc, _ in servers.values()])
    return {
        "connections": connections,
        "seconds": seconds,
        "rounds": rounds,
        "rules": RULES,
        "original_uri": _apps.ORIGINAL_URI,
        "cookie_bytes": len(_apps.auth_headers(cookie)["Cookie"]),
        "idp": signer.idp.kind,
        "server_cpu": server_cpu,
        "loadgen_cpu": load_cpu,
        "loadavg_per_round": [round(x, 2) for x in turns.loadavg],
        "variants": {name: load.as_json() for name, load in turns.loads.items()},
    }
