"""The server's one seam to the authorization policy (issue 10, part A).

Everything the server asks of the policy goes through these three functions, so the
policy's arrival changes this file only.

SHIM (until branch h-authz is merged): ``MagicLinkCore.authorize(user, path)`` and
``MagicLinkCore.forbidden(request, user, denial)`` and ``OktaUser.groups`` are looked up
with ``getattr``. Without them every signed-in person is allowed (what the middleware
does today), groups are read from the ``groups`` claim, and :func:`forbidden` answers
with a plain 403. Once merged, replace the bodies by the direct calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .. import _pages as pages
from .._flow import MagicLinkCore, RequestFacts, Respond
from ..user import OktaUser


def denial(core: MagicLinkCore, user: OktaUser, path: str) -> Any:
    """Why ``user`` may not see ``path`` (a ``Denial``), or None when they may."""
    authorize = getattr(core, "authorize", None)  # SHIM: core.authorize(user, path)
    return None if authorize is None else authorize(user, path)


def forbidden(core: MagicLinkCore, request: RequestFacts, user: OktaUser, why: Any) -> Respond:
    """The 403 page (a navigation) or JSON (an API call) for a denial."""
    page = getattr(core, "forbidden", None)  # SHIM: core.forbidden(request, user, why)
    if page is not None:
        answer: Respond = page(request, user, why)
        return answer
    headers = pages.security_headers(pages.strict_csp(pages.new_nonce()))
    headers.append(("content-type", "application/json"))
    return Respond(403, headers, json.dumps({"error": "forbidden"}).encode())


def groups(user: OktaUser) -> Iterable[str]:
    """The person's groups (the ID token's ``groups`` claim), sorted: one person's
    header is the same on every request."""
    found = getattr(user, "groups", None)  # SHIM: user.groups
    if found is not None:
        return sorted(found)
    claim = user.claims.get("groups")
    if isinstance(claim, list):
        return sorted({group for group in claim if isinstance(group, str)})
    return ()
