"""What the core says about authorization: the startup warning, the denial's log line
and the 403 it answers with. The decisions themselves are in :mod:`._policy`."""

from __future__ import annotations

import json
import logging

from . import _pages as pages
from ._policy import Denial, Policy
from .user import OktaUser

logger = logging.getLogger("okta_magiclink_mw")

Headers = list[tuple[str, str]]

#: Where an Okta admin adds the claim (README, "Who may enter").
GROUPS_CLAIM_HELP = (
    "in Okta, add a 'groups' claim to the ID token: Security > API > Authorization Servers > "
    "(your server) > Claims > Add Claim (name 'groups', include in ID Token, value type "
    "Groups, a filter such as Matches regex .*); with the org authorization server, set the "
    "app's Sign On tab > OpenID Connect ID Token > Groups claim filter, and add 'groups' to "
    "scopes"
)


def warn_about_groups(policy: Policy) -> None:
    """At startup: group rules work only if Okta puts the groups in the ID token."""
    if policy.uses_groups:
        logger.warning(
            "access rules use groups, which come from the ID token's 'groups' claim; "
            "Okta sends none unless told to (a person without it is refused): %s",
            GROUPS_CLAIM_HELP,
            extra={"event": "startup.groups_claim"},
        )


def log_denial(user: OktaUser, denial: Denial) -> None:
    """One line per refusal: who refused and why, by Okta id (never a token or a cookie).
    A group requirement met by a person whose ID token had no ``groups`` claim is a
    configuration problem, said at WARNING with the fix."""
    missing = bool(denial.requirement.groups) and "groups" not in user.claims
    extra = {
        "event": "access.denied",
        "rule": denial.rule.path if denial.rule is not None else None,
        "source": denial.source,
        "sub": user.identity,
        "groups_claim": "missing" if missing else "present",
    }
    if missing:
        logger.warning(
            "access denied by %s (%s) to %s, whose ID token has no 'groups' claim: %s",
            denial.source,
            denial.requirement.describe(),
            user.identity,
            GROUPS_CLAIM_HELP,
            extra=extra,
        )
    else:
        logger.info(
            "access denied by %s (%s) to %s",
            denial.source,
            denial.requirement.describe(),
            user.identity,
            extra=extra,
        )


def forbidden_page(
    user: OktaUser, denial: Denial, logout_path: str, form_action: str
) -> tuple[Headers, bytes]:
    """The 403 page's headers and body (strict CSP: the page runs no script; its sign-out
    forms may go where sign-out redirects, ``form_action``)."""
    nonce = pages.new_nonce()
    headers = pages.security_headers(pages.strict_csp(nonce, form_action))
    headers.append(("content-type", "text/html; charset=utf-8"))
    who = user.email or user.display_name
    note = None
    requirement = denial.requirement
    unverified = user.email is None and isinstance(user.claims.get("email"), str)
    if unverified and (requirement.emails or requirement.domains):
        note = (
            "Your email address is not verified in Okta, so it cannot give you access. "
            "Verify it in Okta, then sign in again."
        )
    body = pages.forbidden_page(who, logout_path, nonce, note)
    return headers, body


def forbidden_json(login_path: str, logout_path: str) -> tuple[Headers, bytes]:
    headers = pages.security_headers(pages.strict_csp(pages.new_nonce()))
    headers.append(("content-type", "application/json"))
    body = {
        "error": "forbidden",
        "message": "You are signed in, but do not have access to this resource.",
        "login_url": login_path,
        "logout_url": logout_path,
    }
    return headers, json.dumps(body).encode()
