"""The WSGI application, behind Okta magic-link sign-in (set the OKTA_* variables first).

cd examples && waitress-serve --port 8000 django_app.wsgi:application
"""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from okta_magiclink_mw import OktaMagicLinkWSGI, Settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")

# --8<-- [start:wrap]
application = OktaMagicLinkWSGI(
    get_wsgi_application(),
    Settings.from_env(public_paths=settings.OKTA_PUBLIC_PATHS),
)
# --8<-- [end:wrap]
