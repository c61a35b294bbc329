"""The fake org's mailbox: every email the org "sends" lands here."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EmailMessage:
    """An email challenge as Okta would send it (template "Email Challenge").

    ``otp`` is the one-time passcode (``${verificationToken}``) and
    ``magic_link`` the link (``${emailAuthenticationLink}``):
    ``{org}/email/verify/{appId}?token=...``, Okta's hop that redirects to
    the app's Email verify callback URI with ``state`` and ``otp`` when one
    is set, and otherwise ends on an Okta-hosted page.
    ``sent_at`` is a Unix timestamp taken from the fake's clock.
    """

    to: str
    subject: str
    otp: str
    magic_link: str
    sent_at: float

    def as_json(self) -> dict[str, Any]:
        """The message as served by ``GET /outbox.json``."""
        return {
            "to": self.to,
            "subject": self.subject,
            "otp": self.otp,
            "magic_link": self.magic_link,
            "sent_at": self.sent_at,
        }


def render_outbox_html(messages: list[EmailMessage]) -> str:
    """An HTML mailbox, newest first, every value escaped."""
    rows = []
    for msg in reversed(messages):
        when = dt.datetime.fromtimestamp(msg.sent_at, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        link = html.escape(msg.magic_link, quote=True)
        rows.append(
            '<article class="mail">'
            f"<h2>{html.escape(msg.subject)}</h2>"
            f'<p class="meta">To: <span class="to">{html.escape(msg.to)}</span>'
            f" &middot; {html.escape(when)}</p>"
            f'<p>Your verification code: <code class="otp">{html.escape(msg.otp)}</code></p>'
            f'<p><a class="magic-link" href="{link}">Sign in</a>'
            f' <small class="link-text">{link}</small></p>'
            "</article>"
        )
    body = "\n".join(rows) if rows else '<p class="empty">No messages yet.</p>'
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="5">'
        "<title>FakeOkta outbox</title>"
        "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto}"
        ".mail{border:1px solid #ccc;border-radius:6px;padding:0 1em;margin:1em 0}"
        ".otp{font-size:1.4em;letter-spacing:.1em}.meta{color:#666}</style>"
        "</head><body><h1>FakeOkta outbox</h1>\n"
        f"{body}\n</body></html>\n"
    )
