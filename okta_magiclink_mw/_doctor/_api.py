"""The checks that read Okta's management API with a read-only ``OKTA_API_TOKEN``.

Endpoints (Okta's management OpenAPI spec, ``Authorization: SSWS {token}``):

- ``GET /api/v1/apps/{appId}`` (Application, ``getApplication``): for an OIDC app,
  ``settings.oauthClient`` has ``grant_types``, ``redirect_uris`` and
  ``post_logout_redirect_uris``, ``credentials.oauthClient`` the ``client_id`` and
  ``token_endpoint_auth_method``. The app id is the client id unless the client id was
  chosen by hand when the app was made (``client_id``: "If you don't specify the
  ``client_id``, this immutable property is populated with the Application instance ID").
- ``GET /api/v1/trustedOrigins`` (TrustedOrigin, ``listTrustedOrigins``): ``origin``,
  ``status`` and ``scopes[].type`` (``CORS``, ``REDIRECT``, ``IFRAME_EMBED``), in pages.
- ``GET /api/v1/authorizationServers/{authServerId}/claims`` (AuthorizationServerClaims,
  ``listOAuth2Claims``; ``default`` names the default server): ``name``, ``claimType``
  (``IDENTITY`` for the ID token), ``valueType`` (``GROUPS``...), ``group_filter_type``,
  ``value``, ``alwaysIncludeInToken``, ``conditions.scopes``, ``status``.

The app's "Email verification experience" Callback URI is in none of them: Okta's public
API does not expose it (okta/okta-sdk-dotnet#892, okta/terraform-provider-okta#1740), so
the doctor says how to check it by hand.

The answers carry secrets (the app's ``client_secret``): only the fields above are read,
and nothing of the answers is printed but those values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .._policy import Policy
from ..settings import Settings
from . import _console as console
from ._checks import Answer, Unreachable, json_object, origin_of
from ._report import Finding, Status, clean

#: Pages of trusted origins read at most (200 each).
MAX_PAGES = 10

_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})


@dataclass(frozen=True, slots=True)
class ApiFailure:
    """The management API did not answer what was asked."""

    message: str
    fixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class App:
    """The parts of an OIDC app the doctor reads."""

    id: str
    label: str
    status: str
    client_id: str | None
    auth_method: str | None
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrustedOrigin:
    origin: str
    status: str
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Claim:
    name: str
    claim_type: str
    value_type: str
    value: str
    filter_type: str | None
    always: bool
    scopes: tuple[str, ...]
    status: str


# -- requests ------------------------------------------------------------------------------


def request(url: str, token: str) -> httpx.Request:
    """A management API GET with the token (sent to the org's own origin only)."""
    return httpx.Request(
        "GET", url, headers={"Authorization": f"SSWS {token}", "Accept": "application/json"}
    )


def app_url(org: str, app_id: str) -> str:
    return f"{org}/api/v1/apps/{quote(app_id, safe='')}"


def origins_url(org: str) -> str:
    return f"{org}/api/v1/trustedOrigins?limit=200"


def claims_url(org: str, server: str) -> str:
    return f"{org}/api/v1/authorizationServers/{quote(server, safe='')}/claims"


def next_page(answer: httpx.Response, org: str) -> str | None:
    """The ``Link: <...>; rel="next"`` of a page, if it stays on the org's origin (the
    token goes with it)."""
    url = answer.links.get("next", {}).get("url")
    if url and origin_of(url) == origin_of(org):
        return str(url)
    return None


# -- reading the answers -------------------------------------------------------------------


def failure(answer: Answer, what: str) -> ApiFailure | None:
    """Why ``answer`` (to a request for ``what``) is not a 200, or None."""
    if isinstance(answer, Unreachable):
        return ApiFailure(f"no answer from {answer.url}: {answer.reason}", ())
    status = answer.status_code
    if status == 200:
        return None
    body = json_object(answer) or {}
    summary = clean(body.get("errorSummary", ""), 120)
    said = f"HTTP {status} {clean(body.get('errorCode', ''), 20)} {summary!r}".strip()
    if status == 401:
        return ApiFailure(
            f"Okta refuses OKTA_API_TOKEN ({said}): revoked, expired, or of another org",
            (console.API_ACCESS,),
        )
    if status == 403:
        return ApiFailure(
            f"OKTA_API_TOKEN may not read {what} ({said})",
            ("the token's admin needs at least the Read-only Administrator role",),
        )
    if status == 429:
        return ApiFailure(f"Okta's rate limit ({said})", ("run the doctor again in a minute",))
    return ApiFailure(f"{what}: {said}", ())


def read_app(answer: Answer, app_id: str) -> App | ApiFailure:
    problem = failure(answer, f"the app {app_id}")
    if isinstance(answer, httpx.Response) and answer.status_code == 404:
        return ApiFailure(
            f"Okta has no app with id {app_id}",
            (
                "the app id is the client id unless the client id was set by hand: set "
                "OKTA_APP_ID to the id in the Admin Console's address bar on the app's page "
                "(.../admin/app/oidc_client/instance/{id}/...)",
            ),
        )
    if problem is not None:
        return problem
    assert isinstance(answer, httpx.Response)
    doc = json_object(answer) or {}
    settings = _object(_object(doc.get("settings")).get("oauthClient"))
    credentials = _object(_object(doc.get("credentials")).get("oauthClient"))
    if not settings:
        return ApiFailure(
            f"the app {clean(app_id, 40)} is not an OpenID Connect app (no settings.oauthClient)",
            (console.CLIENT_ID,),
        )
    return App(
        id=_text(doc.get("id")) or app_id,
        label=_text(doc.get("label")),
        status=_text(doc.get("status")),
        client_id=_text(credentials.get("client_id")) or None,
        auth_method=_text(credentials.get("token_endpoint_auth_method")) or None,
        grant_types=_texts(settings.get("grant_types")),
        redirect_uris=_texts(settings.get("redirect_uris")),
        post_logout_redirect_uris=_texts(settings.get("post_logout_redirect_uris")),
    )


def read_origins(answers: Sequence[Answer]) -> list[TrustedOrigin] | ApiFailure:
    found: list[TrustedOrigin] = []
    for answer in answers:
        problem = failure(answer, "the trusted origins")
        if problem is not None:
            return problem
        assert isinstance(answer, httpx.Response)
        try:
            items = answer.json()
        except ValueError:
            items = None
        if not isinstance(items, list):
            return ApiFailure("the trusted origins are not a JSON list", ())
        for item in items:
            entry = _object(item)
            scopes = frozenset(
                _text(_object(s).get("type")).upper() for s in _list(entry.get("scopes"))
            )
            found.append(
                TrustedOrigin(_text(entry.get("origin")), _text(entry.get("status")), scopes)
            )
    return found


def read_claims(answer: Answer, server: str) -> list[Claim] | ApiFailure:
    if isinstance(answer, httpx.Response) and answer.status_code == 404:
        return ApiFailure(
            f"Okta has no authorization server {server!r}",
            (console.ISSUER,),
        )
    problem = failure(answer, f"the claims of authorization server {server}")
    if problem is not None:
        return problem
    assert isinstance(answer, httpx.Response)
    try:
        items = answer.json()
    except ValueError:
        items = None
    if not isinstance(items, list):
        return ApiFailure("the claims are not a JSON list", ())
    claims = []
    for item in items:
        entry = _object(item)
        claims.append(
            Claim(
                name=_text(entry.get("name")),
                claim_type=_text(entry.get("claimType")).upper(),
                value_type=_text(entry.get("valueType")).upper(),
                value=_text(entry.get("value")),
                filter_type=_text(entry.get("group_filter_type")).upper() or None,
                always=entry.get("alwaysIncludeInToken") is True,
                scopes=_texts(_object(entry.get("conditions")).get("scopes")),
                status=_text(entry.get("status")).upper(),
            )
        )
    return claims


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: object) -> tuple[str, ...]:
    return tuple(v for v in _list(value) if isinstance(v, str))


# -- 6. the app's settings -----------------------------------------------------------------

_APP = (6, "app", "The app in Okta (management API)")
_NO_EVE = (
    "the app's Email verification experience Callback URI is not in Okta's API "
    "(okta/okta-sdk-dotnet#892): check by hand: "
)


def app_settings(
    settings: Settings,
    app: App | ApiFailure | None,
    origins: list[TrustedOrigin] | ApiFailure | None,
) -> Finding:
    """The app's grant types, sign-in redirect URIs, client authentication and the trusted
    origins, as the management API shows them (the sign-out URIs: check 8)."""
    eve = _NO_EVE + console.email_verify_callback(settings.redirect_uri)
    if app is None:
        return Finding(
            *_APP,
            Status.SKIP,
            "no OKTA_API_TOKEN, so the app's settings were not read (checks 4 and 5 test "
            "them from the outside)",
            (console.API_ACCESS,),
            (eve,),
        )
    if isinstance(app, ApiFailure):
        return Finding(*_APP, Status.FAIL, app.message, app.fixes, (eve,))
    problems: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    if app.client_id is not None and app.client_id != settings.client_id:
        problems.append(
            (
                f"app {clean(app.id, 40)} has client id {clean(app.client_id, 60)}, not "
                f"OKTA_CLIENT_ID {settings.client_id}",
                "set OKTA_APP_ID to the id of the app whose Client ID is OKTA_CLIENT_ID",
            )
        )
    if app.status and app.status != "ACTIVE":
        problems.append(
            (
                f"the app is {clean(app.status, 20)}",
                f"{console.APP}: Activate",
            )
        )
    if "interaction_code" not in app.grant_types:
        problems.append(
            (
                "its grant types ("
                + (", ".join(clean(g, 60) for g in app.grant_types) or "none")
                + ") lack interaction_code",
                console.GRANT_APP,
            )
        )
    if "offline_access" in settings.scopes and "refresh_token" not in app.grant_types:
        problems.append(
            (
                "OKTA_MW_SCOPES asks for offline_access, but its grant types lack refresh_token",
                f"{console.APP_GENERAL_EDIT} > Grant type: tick Refresh Token, then Save",
            )
        )
    if settings.redirect_uri not in app.redirect_uris:
        shown = ", ".join(clean(u, 100) for u in app.redirect_uris[:5]) or "none"
        problems.append(
            (
                f"{settings.redirect_uri} is not one of its sign-in redirect URIs ({shown})",
                console.redirect_uri(settings.redirect_uri),
            )
        )
    auth = _client_auth(settings, app.auth_method)
    if auth is not None:
        (problems if auth[0] is Status.FAIL else warnings).append(auth[1:])
    trust = _trust(settings.app_origin, origins)
    if trust is not None:
        (problems if trust[0] is Status.FAIL else warnings).append(trust[1:])
    notes = (eve,)
    if problems:
        return Finding(
            *_APP,
            Status.FAIL,
            "; ".join(message for message, _ in problems + warnings),
            tuple(fix for _, fix in problems + warnings),
            notes,
        )
    if warnings:
        return Finding(
            *_APP,
            Status.WARN,
            "; ".join(message for message, _ in warnings),
            tuple(fix for _, fix in warnings),
            notes,
        )
    label = f" {clean(app.label, 60)!r}" if app.label else ""
    return Finding(
        *_APP,
        Status.OK,
        f"app{label} allows the Interaction Code grant and {settings.redirect_uri}, and "
        f"{settings.app_origin} is a trusted origin for CORS",
        notes=notes,
    )


def _client_auth(settings: Settings, registered: str | None) -> tuple[Status, str, str] | None:
    """The app's client authentication against what the middleware will send."""
    # A client_auth setting may come (private_key_jwt); until then a secret means the
    # secret goes in the token request's body.
    sends = getattr(settings, "client_auth", None) or (
        "client_secret_post" if settings.client_secret is not None else "none"
    )
    if registered is None or registered == sends:
        return None
    if registered == "none":
        return (
            Status.WARN,
            f"the app is public (client authentication: none), but the middleware sends {sends}",
            "unset OKTA_CLIENT_SECRET, or make the app a Web app with a client secret",
        )
    if sends == "none":
        return (
            Status.FAIL,
            f"the app authenticates with {clean(registered, 40)}, but the middleware has no "
            "client credentials: Okta will refuse every sign-in at the token call",
            f"set OKTA_CLIENT_SECRET to the secret of {console.APP} > General > Client Credentials",
        )
    if registered in _SECRET_METHODS and sends in _SECRET_METHODS:
        # Okta takes a client secret by any of these, whichever the app names (its docs:
        # "use one of these methods ... when the client has access to the client_secret").
        return None
    return (
        Status.FAIL,
        f"the app authenticates with {clean(registered, 40)}, the middleware with {sends}",
        f"{console.APP} > General > Client Credentials: match the client authentication",
    )


def _trust(
    origin: str, origins: list[TrustedOrigin] | ApiFailure | None
) -> tuple[Status, str, str] | None:
    if origins is None:
        return None
    if isinstance(origins, ApiFailure):
        return (Status.FAIL, origins.message, origins.fixes[0] if origins.fixes else "")
    wanted = origin_of(origin)
    matching = [o for o in origins if origin_of(o.origin.rstrip("/")) == wanted]
    if not matching:
        return (Status.FAIL, f"{origin} is not a trusted origin", console.trusted_origin(origin))
    if not any(o.status == "ACTIVE" and "CORS" in o.scopes for o in matching):
        kinds = ", ".join(sorted({clean(s, 20) for o in matching for s in o.scopes})) or "no type"
        status = ", ".join(sorted({clean(o.status, 20) for o in matching}))
        return (
            Status.FAIL,
            f"the trusted origin {origin} is {status} with {kinds}, not an active CORS origin",
            console.trusted_origin(origin) + " (edit it: tick CORS; Activate it)",
        )
    return None


# -- 8. post_logout_redirect_uri -----------------------------------------------------------

_LOGOUT = (8, "post_logout", "Sign-out redirect")


def post_logout(settings: Settings, app: App | ApiFailure | None) -> Finding:
    uri = settings.post_logout_redirect_uri
    if uri is None:
        example = f"{settings.app_origin}/"
        return Finding(
            *_LOGOUT,
            Status.WARN,
            "OKTA_POST_LOGOUT_REDIRECT_URI is not set: after signing out, Okta leaves people "
            "on its own sign-in page",
            (
                f"set OKTA_POST_LOGOUT_REDIRECT_URI to a page of the app, e.g. {example}",
                console.sign_out_uri(example),
            ),
        )
    if app is None:
        return Finding(
            *_LOGOUT,
            Status.WARN,
            f"{uri} cannot be verified without OKTA_API_TOKEN: Okta checks it only when "
            "someone signs out (with their ID token), and an unregistered one ends on an "
            "Okta error page",
            (console.sign_out_uri(uri), console.API_ACCESS),
        )
    if isinstance(app, ApiFailure):
        return Finding(*_LOGOUT, Status.FAIL, app.message, app.fixes)
    if uri not in app.post_logout_redirect_uris:
        shown = ", ".join(clean(u, 100) for u in app.post_logout_redirect_uris[:5]) or "none"
        return Finding(
            *_LOGOUT,
            Status.FAIL,
            f"{uri} is not one of the app's sign-out redirect URIs ({shown}): signing out "
            "would end on an Okta error page",
            (console.sign_out_uri(uri),),
        )
    return Finding(*_LOGOUT, Status.OK, f"{uri} is a sign-out redirect URI of the app")


# -- 9. the groups claim -------------------------------------------------------------------

_GROUPS = (9, "groups_claim", "Groups claim")


def groups_needed(settings: Settings) -> frozenset[str]:
    """The group names the access rules and ``allowed_groups`` mention (empty: none)."""
    policy = Policy.from_settings(settings)
    if not policy.uses_groups:
        return frozenset()
    names = set(settings.allowed_groups)
    for rule in settings.access_rules:
        names.update(rule.groups)
    return frozenset(names)


def server_of(settings: Settings) -> str | None:
    """The custom authorization server's id in the issuer, or None for the org server."""
    _, sep, rest = settings.issuer.rstrip("/").partition("/oauth2/")
    return rest if sep and rest and "/" not in rest else None


def groups_claim(
    settings: Settings, claims: list[Claim] | ApiFailure | None, token: bool
) -> Finding:
    from .._authorization import GROUPS_CLAIM_HELP

    needed = groups_needed(settings)
    if not needed:
        return Finding(
            *_GROUPS,
            Status.OK,
            "no access rule or OKTA_MW_ALLOWED_GROUPS names a group: the 'groups' claim is "
            "not needed",
        )
    server = server_of(settings)
    names = ", ".join(sorted(needed))
    if server is None:
        return Finding(
            *_GROUPS,
            Status.WARN,
            f"rules need the 'groups' claim ({names}); with the org authorization server it "
            "is set on the app, which the doctor cannot read",
            (GROUPS_CLAIM_HELP,),
        )
    if claims is None:
        why = "without OKTA_API_TOKEN" if not token else "here"
        return Finding(
            *_GROUPS,
            Status.WARN,
            f"rules need the 'groups' claim ({names}), which cannot be verified {why}",
            (GROUPS_CLAIM_HELP, console.API_ACCESS),
        )
    if isinstance(claims, ApiFailure):
        return Finding(*_GROUPS, Status.FAIL, claims.message, claims.fixes)
    candidates = [c for c in claims if c.name == "groups" and c.claim_type == "IDENTITY"]
    active = [c for c in candidates if c.status in ("ACTIVE", "")]
    if not active:
        said = "inactive" if candidates else "none"
        return Finding(
            *_GROUPS,
            Status.FAIL,
            f"rules need the 'groups' claim ({names}), but authorization server {server} "
            f"puts none in ID tokens ({said} named 'groups'): everyone the rules need in a "
            "group is refused",
            (GROUPS_CLAIM_HELP,),
        )
    claim = active[0]
    if not claim.always:
        return Finding(
            *_GROUPS,
            Status.FAIL,
            "the 'groups' claim is not always in the ID token (Include in token type: ID "
            "Token, Userinfo / ID Token): with an access token, Okta leaves it out",
            (
                f"Okta Admin Console > Security > API > Authorization Servers > {server} > "
                "Claims > groups > Edit: Include in token type: ID Token, Always",
            ),
        )
    if claim.scopes and not set(claim.scopes) & set(settings.scopes):
        return Finding(
            *_GROUPS,
            Status.FAIL,
            f"the 'groups' claim comes only with the scopes "
            f"{', '.join(clean(x, 40) for x in claim.scopes[:10])}, which "
            f"OKTA_MW_SCOPES ({' '.join(settings.scopes)}) does not ask for",
            (
                f"add one of them to OKTA_MW_SCOPES, or set the claim's Include in: Any scope "
                f"(Security > API > Authorization Servers > {server} > Claims > groups)",
            ),
        )
    if claim.value_type != "GROUPS":
        return Finding(
            *_GROUPS,
            Status.OK,
            f"authorization server {server} has a 'groups' ID token claim",
            notes=(
                f"its value is {clean(claim.value_type.lower(), 20)} {clean(claim.value, 120)!r}: "
                f"make sure it lists the groups the rules name ({names})",
            ),
        )
    dropped = sorted(g for g in needed if _passes(claim, g) is False)
    if dropped:
        return Finding(
            *_GROUPS,
            Status.WARN,
            f"the 'groups' claim's filter ({clean(claim.filter_type, 20)} "
            f"{clean(claim.value, 80)!r}) "
            f"leaves out groups the rules name: {', '.join(dropped)}",
            (
                f"Security > API > Authorization Servers > {server} > Claims > groups > "
                "Edit: a filter that matches them (Matches regex .* lets every group through)",
            ),
        )
    return Finding(
        *_GROUPS,
        Status.OK,
        f"authorization server {server} puts a 'groups' claim in ID tokens, and its filter "
        f"lets {names} through",
    )


def _passes(claim: Claim, group: str) -> bool | None:
    """Whether Okta's group filter lets ``group`` into the claim; None if unknown.
    (Okta's "Matches regex" is taken as a match of the whole name.)"""
    value, kind = claim.value, claim.filter_type
    if kind == "REGEX":
        try:
            return re.fullmatch(value, group) is not None
        except re.error:
            return None
    folded, wanted = group.casefold(), value.casefold()
    if kind == "EQUALS":
        return folded == wanted
    if kind == "STARTS_WITH":
        return folded.startswith(wanted)
    if kind == "CONTAINS":
        return wanted in folded
    return None
