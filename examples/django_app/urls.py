"""URLs of the example: /about is public (settings.OKTA_PUBLIC_PATHS); the rest needs Okta."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home),
    path("me", views.me),
    path("about", views.about),
]
