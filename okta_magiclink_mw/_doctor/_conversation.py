"""The doctor's requests, in order, as one sans-IO conversation.

Like the middleware's own (``_oidc.py``), it is a generator that yields
``httpx.Request`` objects and is sent the responses, or has the transport's failure
thrown in; :func:`okta_magiclink_mw._transport.drive_sync` drives it with the
middleware's client, so the doctor meets the same timeouts, deadline, body cap and
no-redirects rule as the app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from .. import __version__
from .._transactions import Transaction
from ..settings import Settings
from . import _api as api
from . import _checks as checks
from ._report import Finding, clean

Conversation = Generator[httpx.Request, httpx.Response, list[Finding]]

#: What the widget sends to ``/v1/interact`` and to IDX that a browser must preflight:
#: its user agent header, and (IDX) the ``application/ion+json`` content type.
INTERACT_HEADERS = ("x-okta-user-agent-extended",)
IDX_HEADERS = ("content-type", "x-okta-user-agent-extended")
USER_AGENT = f"okta-magiclink-mw/{__version__} doctor"


@dataclass(frozen=True, slots=True)
class ApiAccess:
    """Read-only access to the management API (the token is never printed)."""

    token: str
    #: The app's id (its client id unless that was chosen by hand).
    app_id: str
    #: Where the management API is: the Okta org URL (the token goes nowhere else).
    org: str


def conversation(
    settings: Settings, api_access: ApiAccess | None, clock: Callable[[], float]
) -> Conversation:
    """Every check, in checklist order; returns their findings."""
    sent = clock()
    answer = yield from _ask(_get(settings.discovery_url))
    received = clock()
    found_1, found = checks.discovery(answer, settings)

    keys: checks.Answer = checks.Unreachable("", "not asked")
    if found is not None:
        keys = yield from _ask(_get(found.jwks_uri))
    found_2 = checks.jwks(keys, found, clock())

    interact_sent = clock()
    interact = yield from _ask(interact_request(settings))
    interact_received = clock()
    found_4 = checks.interact(interact, settings)

    # The clock from the first answer that has a Date.
    dated = [
        (a, s, r)
        for a, s, r in ((answer, sent, received), (interact, interact_sent, interact_received))
        if isinstance(a, httpx.Response) and "date" in a.headers
    ]
    if dated:
        first, at_sent, at_received = dated[0]
        assert isinstance(first, httpx.Response)
        found_3 = checks.clock(first.headers["date"], at_sent, at_received, settings.leeway)
    else:
        found_3 = checks.clock(None, sent, received, settings.leeway)

    origin = settings.app_origin
    preflights = []
    for url, headers in (
        (f"{checks.oauth_base(settings)}/v1/interact", INTERACT_HEADERS),
        (f"{checks.idx_base(settings)}/idp/idx/introspect", IDX_HEADERS),
    ):
        reply = yield from _ask(preflight_request(url, origin, headers))
        preflights.append(checks.Preflight(url, headers, reply))
    found_5 = checks.cors(preflights, origin)

    app: api.App | api.ApiFailure | None = None
    origins: list[api.TrustedOrigin] | api.ApiFailure | None = None
    claims: list[api.Claim] | api.ApiFailure | None = None
    if api_access is not None:
        org = api_access.org
        reply = yield from _ask(api.request(api.app_url(org, api_access.app_id), api_access.token))
        app = api.read_app(reply, api_access.app_id)
        origins = yield from _trusted_origins(org, api_access.token)
        server = api.server_of(settings)
        if server is not None and api.groups_needed(settings):
            reply = yield from _ask(api.request(api.claims_url(org, server), api_access.token))
            claims = api.read_claims(reply, server)
    found_6 = api.app_settings(settings, app, origins)

    js_url, css_url, labels_url = checks.widget_urls(settings)
    js = yield from _ask(httpx.Request("HEAD", js_url))
    css = yield from _ask(httpx.Request("HEAD", css_url))
    labels = yield from _ask(_get(labels_url))
    found_7 = checks.widget(settings, js, css, labels)

    found_8 = api.post_logout(settings, app)
    found_9 = api.groups_claim(settings, claims, api_access is not None)
    return [found_1, found_2, found_3, found_4, found_5, found_6, found_7, found_8, found_9]


def interact_request(settings: Settings) -> httpx.Request:
    """``POST {base}/v1/interact`` as the widget sends it (okta-auth-js ``interact``:
    the fields in its order, no client secret), with a throwaway PKCE verifier, state and
    nonce made as the middleware makes them. No ``Origin``: whether Okta trusts the app's
    origin is check 5's question, so that each problem shows in one check."""
    txn = Transaction.start("/", time.time())
    form = {
        "client_id": settings.client_id,
        "scope": " ".join(settings.scopes),
        "redirect_uri": settings.redirect_uri,
        "code_challenge": txn.code_challenge,
        "code_challenge_method": "S256",
        "state": txn.state,
        "nonce": txn.nonce,
    }
    return httpx.Request(
        "POST",
        f"{checks.oauth_base(settings)}/v1/interact",
        data=form,
        headers={
            "Accept": "application/json",
            "X-Okta-User-Agent-Extended": USER_AGENT,
        },
    )


def preflight_request(url: str, origin: str, headers: tuple[str, ...]) -> httpx.Request:
    """The CORS preflight a browser sends before the widget's POST to ``url``."""
    return httpx.Request(
        "OPTIONS",
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ",".join(headers),
        },
    )


def _get(url: str) -> httpx.Request:
    return httpx.Request("GET", url, headers={"Accept": "application/json"})


def _trusted_origins(
    org: str, token: str
) -> Generator[httpx.Request, httpx.Response, list[api.TrustedOrigin] | api.ApiFailure]:
    answers: list[checks.Answer] = []
    url: str | None = api.origins_url(org)
    while url is not None and len(answers) < api.MAX_PAGES:
        reply = yield from _ask(api.request(url, token))
        answers.append(reply)
        url = api.next_page(reply, org) if isinstance(reply, httpx.Response) else None
        if isinstance(reply, httpx.Response) and reply.status_code != 200:
            break
    return api.read_origins(answers)


def _ask(request: httpx.Request) -> Generator[httpx.Request, httpx.Response, checks.Answer]:
    """Send ``request``; a timeout or a broken connection becomes :class:`Unreachable`."""
    url = str(request.url.copy_with(query=None))
    try:
        return (yield request)
    except httpx.TimeoutException:
        return checks.Unreachable(url, "timed out (OKTA_MW_HTTP_TIMEOUT, OKTA_MW_HTTP_DEADLINE)")
    except httpx.HTTPError as exc:
        return checks.Unreachable(url, f"{type(exc).__name__}: {clean(exc, 120)}")
