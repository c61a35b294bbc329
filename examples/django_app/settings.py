"""Django settings of the example: the parts that matter are MIDDLEWARE, AUTHENTICATION_BACKENDS
and OKTA_PUBLIC_PATHS. The OKTA_* environment variables are read in wsgi.py and asgi.py."""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

# Django signs its own session cookie with this. Without DJANGO_SECRET_KEY each process draws
# one: Django's sessions then end at a restart, and the Okta session logs people in again.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]

# --8<-- [start:middleware]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.okta_user, and REMOTE_USER from the Okta session only (WSGI and ASGI) ...
    "okta_magiclink_mw.django.OktaUserMiddleware",
    # ... which Django turns into request.user, and logs out when the Okta session ends.
    "django.contrib.auth.middleware.RemoteUserMiddleware",
]
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.RemoteUserBackend"]
# --8<-- [end:middleware]

# --8<-- [start:public]
# Paths anyone may see without signing in (exact, or prefixes ending in "/"): wsgi.py and
# asgi.py hand them to the middleware. Everything else needs an Okta session.
OKTA_PUBLIC_PATHS = ["/about", "/static/"]
# --8<-- [end:public]

ROOT_URLCONF = "django_app.urls"
WSGI_APPLICATION = "django_app.wsgi.application"  # manage.py runserver serves it, wrapped

# RemoteUserBackend creates a Django user on each person's first visit.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", str(BASE_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
