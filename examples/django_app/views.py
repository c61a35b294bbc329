"""Views of the example: who is signed in, as Django and as Okta see them."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html


# --8<-- [start:views]
def home(request: HttpRequest) -> HttpResponse:
    # REMOTE_USER: the verified email (else the Okta id), set from the Okta session only.
    # request.user: the Django user RemoteUserBackend created for it.
    return HttpResponse(
        format_html(
            '<p>Hello, {}! Django knows you as {}.</p><p><a href="/logout">Sign out</a></p>',
            request.META["REMOTE_USER"],
            request.user.get_username(),
        )
    )


def me(request: HttpRequest) -> JsonResponse:
    okta_user = request.okta_user  # the OktaUser (set by OktaUserMiddleware), with groups
    return JsonResponse(
        {
            "remote_user": request.META["REMOTE_USER"],
            "username": request.user.get_username(),
            "name": okta_user.display_name,
            "groups": sorted(okta_user.groups),
        }
    )


def about(request: HttpRequest) -> HttpResponse:
    # A public path (settings.OKTA_PUBLIC_PATHS): anyone may come, signed in or not.
    if request.user.is_authenticated:
        return HttpResponse(format_html("<p>Signed in as {}.</p>", request.user.get_username()))
    return HttpResponse("<p>Nobody is signed in.</p>")


# --8<-- [end:views]
