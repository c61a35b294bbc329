"""What the guards of :mod:`.fastapi`, :mod:`.starlette` and :mod:`.flask` share.

A guard refuses by raising: :class:`~okta_magiclink_mw.errors.AccessDenied` for a person
its requirement does not let in, :class:`~okta_magiclink_mw.errors.SignInRequired` for
nobody (a guarded view on a public path). The exception is :func:`noted` for the request,
so the middleware answers in the app's place, exactly as for its own rules: the 403 page
or JSON, or the turn-away, also when the framework has made a 500 page of it.

Apps without a guard pay nothing for them: the adapters watch the app's failures only
when :data:`declared` says some guard exists in the process (read once per request).
"""

from __future__ import annotations

from ._access_tokens import noted
from ._policy import Denial, Requirement
from .errors import AccessDenied, SignInRequired
from .user import OktaUser

#: Set for good by the first guard made: from then on the adapters let guards answer.
declared = False


def requirement(emails: object, domains: object, groups: object) -> Requirement:
    """A guard's requirement, validated like the settings' lists."""
    global declared
    required = Requirement.of(emails, domains, groups, where="require(): ")
    declared = True
    return required


def check(required: Requirement, user: object, path: str) -> OktaUser:
    """The signed-in person, if ``required`` lets them in; else raise (see the module)."""
    if not isinstance(user, OktaUser):
        raise noted(SignInRequired())
    if not required.allows(user):
        denial = Denial(path, required, None, "a guard in the app")
        raise noted(AccessDenied(user=user, denial=denial))
    return user
