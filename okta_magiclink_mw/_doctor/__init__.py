"""``okta-magiclink-mw doctor``: is this Okta org set up for this app, before anyone signs in?

Run with the app's own environment (``Settings.from_env``), and optionally a read-only
``OKTA_API_TOKEN`` (with ``OKTA_APP_ID`` when the app's id is not its client id, and
``OKTA_ORG_URL`` when the issuer is on a custom domain: the management API is on the
Okta domain). Each check of the README's checklist ("Running against a real Okta
org") prints OK, or the exact problem and where to fix it::

    from okta_magiclink_mw._doctor import run
    report = run()            # os.environ
    print(report.as_text())   # or report.as_json()
    raise SystemExit(report.exit_status)

The checks are small functions of Okta's answers (:mod:`._checks`, :mod:`._api`); the
requests are one sans-IO conversation (:mod:`._conversation`) driven here with the
middleware's own HTTP client and limits. Nothing secret is printed: not the API token,
not the client secret (which Okta's app object carries), not the signing keys.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

import httpx

from .._transport import drive_sync, new_sync_client
from ..errors import ConfigurationError
from ..settings import Settings, _issuer_url
from ._checks import idx_base
from ._conversation import ApiAccess, conversation
from ._report import Finding, Report, Status

#: The doctor's own variables, besides every setting's.
API_TOKEN_VARIABLE = "OKTA_API_TOKEN"  # noqa: S105 - a variable name
APP_ID_VARIABLE = "OKTA_APP_ID"
ORG_URL_VARIABLE = "OKTA_ORG_URL"


def run(
    environ: Mapping[str, str] | None = None,
    *,
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.time,
) -> Report:
    """Check the configuration ``environ`` (default: ``os.environ``) describes against
    its Okta org. ``client`` replaces the middleware's HTTP client (for tests)."""
    env = os.environ if environ is None else environ
    try:
        settings = Settings.from_env(env)
        org = env.get(ORG_URL_VARIABLE, "").strip().rstrip("/")
        if org and not _issuer_url(org):
            raise ConfigurationError(
                f"{ORG_URL_VARIABLE} must be the Okta org URL, e.g. https://dev-123.okta.com "
                "(https; http for localhost only; no path)"
            )
    except ConfigurationError as exc:
        return Report(
            [
                Finding(
                    0,
                    "configuration",
                    "Configuration",
                    Status.FAIL,
                    str(exc),
                    (
                        "fix the variable it names (the README's settings table); "
                        "`okta-magiclink-mw check-config` prints every effective setting",
                    ),
                )
            ]
        )
    token = env.get(API_TOKEN_VARIABLE, "").strip()
    app_id = env.get(APP_ID_VARIABLE, "").strip() or settings.client_id
    access = ApiAccess(token, app_id, org or idx_base(settings)) if token else None
    own = client is None
    http = new_sync_client(settings) if client is None else client
    try:
        findings = drive_sync(conversation(settings, access, clock), http, settings)
    finally:
        if own:
            http.close()
    subject = {
        "issuer": settings.issuer,
        "client": settings.client_id,
        "app": settings.app_origin,
        "API token": "set" if access else "not set",
    }
    return Report(findings, subject)


__all__ = [
    "API_TOKEN_VARIABLE",
    "APP_ID_VARIABLE",
    "ORG_URL_VARIABLE",
    "Finding",
    "Report",
    "Status",
    "run",
]
