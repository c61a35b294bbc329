"""Where each setting is in the Okta Admin Console, worded once for every message.

The paths follow Okta's own guides (developer.okta.com): "Verify that the Interaction
Code grant type is enabled" (guides/implement-grant-type/interactioncode), "Use the
Email Verification Experience" (guides/email-magic-links-overview), "Trusted Origins"
(Security > API) and "Customize tokens returned from Okta with a groups claim".
"""

from __future__ import annotations

APP = "Okta Admin Console > Applications > Applications > (your app)"
APP_GENERAL_EDIT = f"{APP} > General > General Settings > Edit"

GRANT_APP = f"{APP_GENERAL_EDIT} > Grant type > Advanced: tick Interaction Code, then Save"
GRANT_ORG = (
    "Okta Admin Console > Settings > Account > Embedded widget sign-in support: tick "
    "Interaction Code (a super admin's setting, for the whole org)"
)


def grant_server(server: str) -> str:
    """Where a custom authorization server allows the Interaction Code grant."""
    return (
        f"Okta Admin Console > Security > API > Authorization Servers > {server} > Access "
        "Policies > (the policy that applies to your app) > (its rule) > Edit > IF Grant "
        "type is > Advanced: tick Interaction Code, then Update Rule"
    )


def redirect_uri(uri: str) -> str:
    return f"{APP_GENERAL_EDIT} > LOGIN > Sign-in redirect URIs: add exactly {uri}, then Save"


def sign_out_uri(uri: str) -> str:
    return f"{APP_GENERAL_EDIT} > LOGIN > Sign-out redirect URIs: add exactly {uri}, then Save"


def trusted_origin(origin: str) -> str:
    return (
        "Okta Admin Console > Security > API > Trusted Origins > Add Origin: Origin URL "
        f"{origin}, Type: tick CORS, then Save (the origin of OKTA_REDIRECT_URI, where the "
        "login page runs the Sign-In Widget)"
    )


def email_verify_callback(uri: str) -> str:
    return (
        f"{APP_GENERAL_EDIT} > EMAIL VERIFICATION EXPERIENCE > Callback URI: {uri} (your "
        "redirect_uri), then Save; unset, a magic link ends on an Okta page that tells people "
        "to go back to their first tab"
    )


CLIENT_ID = (
    f"set OKTA_CLIENT_ID to the Client ID of {APP} > General > Client Credentials, and "
    "check that OKTA_ISSUER is an authorization server of the same org"
)
ISSUER = (
    "set OKTA_ISSUER to the Issuer URI shown at Okta Admin Console > Security > API > "
    "Authorization Servers (for example https://{your org}.okta.com/oauth2/default), or to "
    "the org URL itself for the org authorization server"
)
API_ACCESS = (
    "create a token as a read-only administrator (Okta Admin Console > Security > API > "
    "Tokens > Create Token; a token acts with the rights of the admin who made it) and put "
    "it in OKTA_API_TOKEN"
)
SCOPES = (
    "set OKTA_MW_SCOPES to scopes the authorization server has (Okta Admin Console > "
    "Security > API > Authorization Servers > (your server) > Scopes; openid, profile and "
    "email always exist), and allowed by its access policy rule"
)
CLOCK = (
    "synchronise this machine's clock with NTP (for example `timedatectl set-ntp true` "
    "on systemd, or chrony); OKTA_MW_LEEWAY (at most 300 seconds) only hides a drift"
)
