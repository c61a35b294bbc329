"""FakeOkta: an in-memory Okta Identity Engine org for tests and demos.

Like ``moto`` for AWS: the real Okta Sign-In Widget (and okta-auth-js in
it) completes a password-optional email / magic-link sign-in against it, and
the middleware redeems the interaction code at its ``/v1/token``. It is as
strict as a real org: set an app up the way the README tells an admin to
(:meth:`FakeOkta.add_web_app`), or piece by piece::

    from okta_magiclink_mw.testing import FakeOkta

    fake = FakeOkta(base_url="http://127.0.0.1:8001")
    fake.add_user(email="ada@example.com", name="Ada Lovelace")
    fake.add_web_app("http://localhost:8000/login/callback", client_id="0oaDemo")

For pytest, the plugin ``okta_magiclink_mw.pytest_plugin`` (loaded by itself once the
package is installed) has the fixtures ``fake_okta``, ``okta_settings``, ``okta_env``,
``sign_in`` and ``sign_in_with_magic_link``; :func:`sign_in` and
:func:`sign_in_with_magic_link` here are the same without pytest. Annotate fixtures with
:class:`SignInFixture` and :class:`MagicLinkSignInFixture`.
"""

from ._app import FakeOkta, find_widget_dist
from ._conversation import MagicLinkSignIn, SignInError
from ._faults import ConnectionDropped, Faults
from ._model import EVERYONE, FakeClient, FakeUser, TrustedOrigin
from ._org import SeenRequest, s256
from ._outbox import EmailMessage
from ._signing_in import MagicLinkSignInFixture, SignInFixture, sign_in, sign_in_with_magic_link

__all__ = [
    "EVERYONE",
    "ConnectionDropped",
    "EmailMessage",
    "FakeClient",
    "FakeOkta",
    "FakeUser",
    "Faults",
    "MagicLinkSignIn",
    "MagicLinkSignInFixture",
    "SeenRequest",
    "SignInError",
    "SignInFixture",
    "TrustedOrigin",
    "find_widget_dist",
    "s256",
    "sign_in",
    "sign_in_with_magic_link",
]
