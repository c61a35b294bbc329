"""Okta-hosted pages: the magic link's ``/email/verify`` hop and the org's sign-in page.

The email's link is ``{org}/email/verify/{appId}?token=...`` (Okta's
``${emailAuthenticationLink}``). Okta's guide "Email Magic Links overview"
(okta/okta-developer-docs, ``guides/email-magic-links-overview``): if the
app's Email Verification Experience "Callback URI" is set, Okta redirects to
``{callback}?state=...&otp=...``; otherwise "authentication continues at an
Okta-hosted page". That page is the widget showing a terminal state (the
widget's mocks ``terminal-return-email.json``: ``idx.return.to.original.tab``
when the link is opened in the browser that started the sign-in, whose
original tab then finishes; ``terminal-return-otp-only-full-location.json``:
the code and ``idx.enter.otp.in.original.tab`` in another browser or device;
``terminal-return-expired-email.json``: ``idx.return.link.expired``). The
fake renders those states as plain HTML, in the widget's English words.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ._org import Org

_NO_STORE = {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"}


def hosted_page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    """An Okta-hosted page (``title`` and ``body`` are escaped by the caller)."""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><main class='okta-hosted'>"
        f"<h1>{title}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=_NO_STORE)


class HostedPages:
    """Handlers for the pages Okta itself serves to browsers."""

    def __init__(self, org: Org) -> None:
        self.org = org

    async def email_verify(self, request: Request) -> Response:
        """``GET /email/verify/{app_id}?token=``: redirect to the app, or Okta's own page."""
        org = self.org
        link = org.email_links.get(request.query_params.get("token", ""))
        if link is None or link.client_id != request.path_params["app_id"]:
            return hosted_page(
                "Verify with your email",
                "<p class='error'>Could not process this email link. Return to the screen "
                "where you requested it.</p>",
            )
        target = org.email_verify_redirect(link)
        if target is not None:
            return RedirectResponse(target, status_code=302, headers=_NO_STORE)
        if not org.link_is_live(link):
            return hosted_page(
                "Verify with your email",
                "<p class='error'>This email link has expired. To resend it, return to the "
                "screen where you requested it.</p>",
            )
        if org.magic_link_same_browser:
            link.interaction.verified_by_link = True
            return hosted_page(
                "Success! Return to the original tab or window",
                "<p>To continue, please return to the original browser tab or window you "
                "used to verify.</p><p>Close this window anytime.</p>",
            )
        code = html.escape(link.otp)
        return hosted_page(
            "Your verification code",
            f"<p class='otp'><code>{code}</code></p>"
            "<p>Enter the OTP in your original authentication location.</p>"
            "<p>Enter this code on the sign-in page.</p>",
        )

    async def sign_in_page(self, request: Request) -> Response:
        """``GET /``: the org's own sign-in page (where Okta's logout lands without a
        ``post_logout_redirect_uri``)."""
        name = html.escape(self.org.base_url)
        return hosted_page(
            "Sign In",
            f"<p>This is the Okta sign-in page of {name}, not your app.</p>"
            '<p><a href="/outbox">FakeOkta outbox</a></p>',
        )
