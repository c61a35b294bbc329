"""The checks that need no API token: small functions from Okta's answers to a finding.

No I/O here: :mod:`._conversation` makes the requests and hands each answer (an
``httpx.Response``, or :class:`Unreachable` when there was none) to the check that reads
it, so every check can be tested with a response built by hand.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from .. import _widget
from .._tokens import Discovery, JWKSCache, parse_discovery
from ..errors import IdentityProviderError
from ..settings import Settings
from . import _console as console
from ._report import Finding, Status, clean

#: A clock further off than this (seconds) is worth a warning even within the leeway.
CLOCK_WARN = 5.0


@dataclass(frozen=True, slots=True)
class Unreachable:
    """No answer: the request timed out, or the connection failed."""

    url: str
    reason: str


Answer = httpx.Response | Unreachable


def oauth_base(settings: Settings) -> str:
    """``{issuer}`` for a custom authorization server, ``{org}/oauth2`` for the org one:
    where ``/v1/interact`` is (okta-auth-js ``getOAuthBaseUrl``, protocol.md §1)."""
    issuer = settings.issuer.rstrip("/")
    return issuer if "/oauth2" in issuer else f"{issuer}/oauth2"


def idx_base(settings: Settings) -> str:
    """The org's domain, where the widget calls ``/idp/idx/...``."""
    return settings.issuer.rstrip("/").split("/oauth2", 1)[0]


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None."""
    try:
        value = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def origin_of(url: object) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` with the port made explicit; None for anything else."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or not parts.hostname or parts.username is not None:
        return None
    return parts.scheme, parts.hostname, port or default


def _unreachable(number: int, name: str, title: str, answer: Unreachable, fix: str) -> Finding:
    return Finding(
        number, name, title, Status.FAIL, f"no answer from {answer.url}: {answer.reason}", (fix,)
    )


# -- 1. discovery --------------------------------------------------------------------------

_DISCOVERY = (1, "discovery", "Discovery")
_REACH = (
    "check OKTA_ISSUER, and that this machine reaches Okta (DNS, proxy, firewall); the "
    "app's machine must reach it the same way"
)


def discovery(answer: Answer, settings: Settings) -> tuple[Finding, Discovery | None]:
    """The issuer's metadata: the issuer equal to ``OKTA_ISSUER``, every endpoint on its
    origin, and the document the middleware would accept (``parse_discovery``)."""
    url = settings.discovery_url

    def fail(message: str, *fixes: str) -> tuple[Finding, None]:
        return Finding(*_DISCOVERY, Status.FAIL, message, fixes), None

    if isinstance(answer, Unreachable):
        return _unreachable(*_DISCOVERY, answer, _REACH), None
    status = answer.status_code
    if 300 <= status < 400:
        target = clean(answer.headers.get("location", "(no Location)"))
        return fail(f"{url} redirects (HTTP {status}) to {target}", console.ISSUER)
    if status == 404:
        return fail(
            f"Okta has no authorization server at {settings.issuer} (HTTP 404 for {url})",
            console.ISSUER,
        )
    if status >= 500:
        return fail(
            f"Okta answered HTTP {status} for {url}",
            "try again in a moment (and see status.okta.com)",
        )
    if status != 200:
        return fail(f"HTTP {status} for {url}", console.ISSUER)
    doc = json_object(answer)
    if doc is None:
        return fail(f"{url} is not a JSON document", console.ISSUER)
    found = doc.get("issuer")
    if found != settings.issuer:
        fixes = [f"set OKTA_ISSUER to exactly {clean(found)}"] if isinstance(found, str) else []
        fixes.append(
            "the issuer must match to the byte (a trailing slash counts); with a custom "
            "domain, the authorization server's Issuer setting (Okta URL or custom URL) "
            "decides which one Okta puts in tokens"
        )
        return fail(
            f"the document's issuer is {clean(found)!r}, not OKTA_ISSUER "
            f"{settings.issuer!r}: every ID token would be refused",
            *fixes,
        )
    home = origin_of(found)
    endpoints = sorted(key for key in doc if key == "jwks_uri" or key.endswith("_endpoint"))
    elsewhere = [key for key in endpoints if origin_of(doc[key]) != home]
    if elsewhere:
        return fail(
            f"{', '.join(clean(k, 60) for k in elsewhere)} not on the issuer's origin: the "
            "middleware refuses a document that sends tokens or keys elsewhere",
            "Okta serves every endpoint from the issuer's own origin: is something between "
            "this machine and Okta (a proxy) rewriting the document?",
        )
    try:
        parsed = parse_discovery(
            status,
            answer.headers.get("content-type", ""),
            answer.content,
            expected_issuer=settings.issuer,
        )
    except IdentityProviderError as exc:
        reason = "; ".join(getattr(exc, "__notes__", ())) or "refused"
        return fail(f"the middleware refuses this document ({reason})", console.ISSUER)
    scheme, host, port = home or ("", "", 0)
    shown = f"{scheme}://{host}" + ("" if port in (80, 443) else f":{port}")
    message = (
        f"the issuer is exactly OKTA_ISSUER, and its {len(endpoints)} endpoints are on {shown}"
    )
    return Finding(*_DISCOVERY, Status.OK, message), parsed


# -- 2. signing keys -----------------------------------------------------------------------

_JWKS = (2, "jwks", "Signing keys")
_JWKS_REASONS = {
    "jwks: not JSON": "is not JSON",
    "jwks: malformed": "is not a key set",
    "jwks: no usable RS256 signing key": "has no RS256 signing key of 2048 bits or more",
}


def jwks(answer: Answer, found: Discovery | None, now: float) -> Finding:
    """The key set Okta signs ID tokens with: reachable, with RS256 keys the middleware
    can use (the same parser, ``JWKSCache.update``)."""
    if found is None:
        return Finding(*_JWKS, Status.SKIP, "needs discovery (check 1)")
    if isinstance(answer, Unreachable):
        return _unreachable(*_JWKS, answer, _REACH)
    uri = found.jwks_uri
    cache = JWKSCache()
    try:
        cache.update(
            answer.status_code,
            answer.headers.get("content-type", ""),
            answer.content,
            now,
            answer.headers.get("cache-control"),
        )
    except IdentityProviderError as exc:
        reason = "; ".join(getattr(exc, "__notes__", ()))
        what = _JWKS_REASONS.get(reason, f"answered HTTP {answer.status_code}")
        return Finding(
            *_JWKS,
            Status.FAIL,
            f"{uri} {what}: no ID token could be verified",
            (
                "try again in a moment; if it stays, something between this machine and Okta "
                "changes its answers",
            ),
        )
    count = len(cache.kids)
    return Finding(*_JWKS, Status.OK, f"{count} RS256 signing key{'s' * (count != 1)} at {uri}")


# -- 3. clock ------------------------------------------------------------------------------

_CLOCK = (3, "clock", "Clock")


def clock(date: str | None, sent: float, received: float, leeway: float) -> Finding:
    """This machine's clock against the ``Date`` of Okta's answer (whole seconds, so the
    measure is good to about a second plus half the round trip)."""
    if date is None:
        return Finding(*_CLOCK, Status.WARN, "Okta's answer had no Date header to compare with")
    try:
        okta_time = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return Finding(*_CLOCK, Status.WARN, f"cannot read Okta's Date header {clean(date)!r}")
    # Date is truncated to the second: its middle is half a second later.
    skew = (sent + received) / 2 - (okta_time + 0.5)
    off = abs(skew)
    if not math.isfinite(off):
        return Finding(*_CLOCK, Status.WARN, f"cannot read Okta's Date header {clean(date)!r}")
    direction = "ahead of" if skew > 0 else "behind"
    said = f"this machine's clock is {off:.0f} s {direction} Okta's"
    if off > leeway:
        return Finding(
            *_CLOCK,
            Status.FAIL,
            f"{said}, more than the leeway of {leeway:g} s (OKTA_MW_LEEWAY): ID tokens would "
            "be refused as not yet valid or expired",
            (console.CLOCK,),
        )
    if off > CLOCK_WARN:
        return Finding(
            *_CLOCK,
            Status.WARN,
            f"{said} (within the leeway of {leeway:g} s, but drifting)",
            (console.CLOCK,),
        )
    return Finding(*_CLOCK, Status.OK, f"within {max(off, 1.0):.0f} s of Okta's")


# -- 4. /v1/interact -----------------------------------------------------------------------

_INTERACT = (4, "interact", "Sign-in start (/v1/interact)")


def interact(answer: Answer, settings: Settings) -> Finding:
    """What Okta said to the request the widget sends first: the app's client id,
    redirect URI and scopes, and the Interaction Code grant, all at once."""
    if isinstance(answer, Unreachable):
        return _unreachable(*_INTERACT, answer, _REACH)
    status = answer.status_code
    body = json_object(answer) or {}
    if status == 200 and isinstance(body.get("interaction_handle"), str):
        return Finding(
            *_INTERACT,
            Status.OK,
            "Okta accepts the client id, the redirect URI, the scopes and the Interaction "
            "Code grant (a sign-in started, and is left to expire)",
        )
    error = body.get("error")
    description = clean(body.get("error_description", ""))
    said = f"Okta: {clean(error, 60)}, {description!r}" if isinstance(error, str) else ""
    server = _server_name(settings)

    def fail(message: str, *fixes: str) -> Finding:
        return Finding(*_INTERACT, Status.FAIL, f"{message} ({said or f'HTTP {status}'})", fixes)

    if error == "unauthorized_client":
        if re.search(r"Configured grant types: \[[^\]]*\binteraction_code\b", description):
            # The app has the grant (Okta lists the app's): the org or the server refuses it.
            return fail(
                "the app has the Interaction Code grant, but Okta still refuses it",
                console.GRANT_ORG,
                console.grant_server(server),
            )
        return fail(
            "the Interaction Code grant is not enabled for this app",
            console.GRANT_APP,
            console.GRANT_ORG,
            console.grant_server(server),
        )
    if error == "invalid_client":
        return fail(f"Okta does not know the client id {settings.client_id}", console.CLIENT_ID)
    if error == "invalid_scope":
        return fail(f"Okta refuses the scopes {' '.join(settings.scopes)}", console.SCOPES)
    if error == "invalid_request" and "redirect_uri" in description:
        return fail(
            f"{settings.redirect_uri} is not a sign-in redirect URI of this app",
            console.redirect_uri(settings.redirect_uri),
        )
    if error == "access_denied":
        if "not enabled" in description:
            return fail("Okta has the Interaction Code flow turned off", console.GRANT_ORG)
        return fail(
            "Okta's policies refuse this sign-in",
            console.grant_server(server),
            "and the app must be assigned to the people who sign in (Applications > your "
            "app > Assignments)",
        )
    if status == 404:
        return fail(
            f"no {oauth_base(settings)}/v1/interact: is this an Identity Engine org?",
            "the embedded widget's Interaction Code flow needs Okta Identity Engine",
        )
    return fail("Okta refuses to start a sign-in", "read Okta's answer above")


def _server_name(settings: Settings) -> str:
    issuer = settings.issuer.rstrip("/")
    _, sep, rest = issuer.partition("/oauth2/")
    return rest if sep and rest else "(your authorization server)"


# -- 5. CORS -------------------------------------------------------------------------------

_CORS = (5, "cors", "CORS from the login page")


@dataclass(frozen=True, slots=True)
class Preflight:
    """One CORS preflight the doctor sent, as the browser would."""

    url: str
    headers: tuple[str, ...]
    answer: Answer


def cors(preflights: Sequence[Preflight], origin: str) -> Finding:
    """Whether Okta lets the login page's origin call it with credentials, as the
    widget does (``fetch`` with ``credentials: 'include'``)."""
    problems: list[str] = []
    for preflight in preflights:
        problem = _preflight_problem(preflight, origin)
        if problem is not None:
            problems.append(f"{preflight.url}: {problem}")
    if not problems:
        paths = ", ".join(urlsplit(p.url).path for p in preflights)
        return Finding(
            *_CORS, Status.OK, f"Okta trusts {origin} for CORS with credentials ({paths})"
        )
    return Finding(
        *_CORS,
        Status.FAIL,
        f"Okta does not let {origin} call it from the browser, so the Sign-In Widget cannot "
        "start: " + "; ".join(problems),
        (console.trusted_origin(origin),),
    )


def _preflight_problem(preflight: Preflight, origin: str) -> str | None:
    answer = preflight.answer
    if isinstance(answer, Unreachable):
        return f"no answer ({answer.reason})"
    if not 200 <= answer.status_code < 300:
        return f"preflight refused (HTTP {answer.status_code})"
    headers = answer.headers
    allowed_origin = headers.get("access-control-allow-origin")
    if allowed_origin != origin:
        return (
            "no Access-Control-Allow-Origin"
            if allowed_origin is None
            else f"Access-Control-Allow-Origin is {clean(allowed_origin, 80)!r}"
        )
    if headers.get("access-control-allow-credentials", "").strip().lower() != "true":
        return "no Access-Control-Allow-Credentials: true"
    methods = _tokens_of(headers.get("access-control-allow-methods", "POST"))
    if "post" not in methods:
        return "POST not in Access-Control-Allow-Methods"
    allowed = _tokens_of(headers.get("access-control-allow-headers", ""))
    missing = [h for h in preflight.headers if h not in allowed]
    if missing:
        return f"headers not allowed: {', '.join(missing)}"
    return None


def _tokens_of(header: str) -> set[str]:
    return {item.strip().lower() for item in header.split(",") if item.strip()}


# -- 7. the widget -------------------------------------------------------------------------

_WIDGET = (7, "widget", "Sign-In Widget")


def widget_urls(settings: Settings) -> tuple[str, str, str]:
    """The bundle, the style sheet and one language file the login page makes the
    browser load (``_login_page.py`` builds the same bundle and style sheet URLs)."""
    base = settings.widget_base_url
    js = settings.widget_js_url or f"{base}/js/okta-sign-in.min.js"
    css = settings.widget_css_url or f"{base}/css/okta-sign-in.min.css"
    return js, css, f"{_widget.labels_source(base)}login_fr.json"


def widget(settings: Settings, js: Answer, css: Answer, labels: Answer) -> Finding:
    """The bundle is Gen2 and 6.8.0 or later (``Settings`` refuses others: checked again
    here to say which release), and the browser can fetch it, its style sheet and its
    language files."""
    js_url, css_url, labels_url = widget_urls(settings)
    problem = _widget.check_bundle(js_url) or _widget.check_version(settings.widget_version)
    if problem is not None:  # pragma: no cover - Settings refused it already
        return Finding(*_WIDGET, Status.FAIL, problem, ("use okta-sign-in.min.js, 6.8.0 or later",))
    release = _widget.release_in_url(js_url)
    notes: list[str] = []
    if settings.widget_js_url is None:
        release = settings.widget_version
    elif release is None:
        notes.append(
            f"{js_url} names no release: make sure it is the Gen2 okta-sign-in.min.js of "
            "6.8.0 or later (7.x recommended)"
        )
    problems: list[str] = []
    redirects: list[str] = []
    for url, answer, kinds, what in (
        (js_url, js, ("javascript", "ecmascript"), "the widget"),
        (css_url, css, ("css",), "the widget's style sheet"),
    ):
        if _redirected(answer):
            assert isinstance(answer, httpx.Response)
            redirects.append(f"{url} redirects to {clean(answer.headers['location'], 120)}")
            continue
        trouble = _fetch_problem(answer, kinds)
        if trouble is not None:
            problems.append(f"{url}: {trouble}, so the browser cannot load {what}")
    labels_trouble = None if _redirected(labels) else _fetch_problem(labels, ("json",))
    shown = f"Gen2 okta-sign-in.min.js{f' {release}' if release else ''}"
    if problems:
        return Finding(
            *_WIDGET,
            Status.FAIL,
            f"{shown}, but " + "; ".join(problems),
            (
                "set OKTA_MW_WIDGET_JS_URL and OKTA_MW_WIDGET_CSS_URL to where the files are, "
                "or unset them to use Okta's CDN",
            ),
            tuple(notes),
        )
    if redirects:
        return Finding(
            *_WIDGET,
            Status.WARN,
            f"{shown}, but " + "; ".join(redirects),
            (
                "set OKTA_MW_WIDGET_JS_URL and OKTA_MW_WIDGET_CSS_URL to the final URLs: the "
                "login page's Content-Security-Policy lists the configured ones, and blocks a "
                "redirect to an origin it does not list",
            ),
            tuple(notes),
        )
    if labels_trouble is not None:
        return Finding(
            *_WIDGET,
            Status.WARN,
            f"{shown} loads, but its language files do not ({labels_url}: {labels_trouble}): "
            "browsers in other languages get English",
            ("set OKTA_MW_WIDGET_ASSETS_URL to the widget's dist/ folder (it holds labels/json/)",),
            tuple(notes),
        )
    return Finding(
        *_WIDGET,
        Status.OK,
        f"{shown}, its style sheet and language files load",
        notes=tuple(notes),
    )


def _redirected(answer: Answer) -> bool:
    return (
        isinstance(answer, httpx.Response)
        and answer.status_code in (301, 302, 303, 307, 308)
        and "location" in answer.headers
    )


def _fetch_problem(answer: Answer, kinds: tuple[str, ...]) -> str | None:
    if isinstance(answer, Unreachable):
        return f"no answer ({answer.reason})"
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    content_type = answer.headers.get("content-type", "").lower()
    if not any(kind in content_type for kind in kinds):
        return f"served as {clean(content_type or 'no content type', 60)!r}"
    return None
