"""The ASGI application, behind Okta magic-link sign-in (set the OKTA_* variables first).

cd examples && uvicorn --port 8000 --lifespan off django_app.asgi:application
"""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

from okta_magiclink_mw import OktaMagicLink, Settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")

# --8<-- [start:wrap]
application = OktaMagicLink(
    get_asgi_application(),
    Settings.from_env(public_paths=settings.OKTA_PUBLIC_PATHS),
)
# --8<-- [end:wrap]
