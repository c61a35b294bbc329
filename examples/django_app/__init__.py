"""A minimal Django project behind Okta magic-link sign-in (see docs/frameworks/django.md)."""
