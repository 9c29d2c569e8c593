"""Sign-in pages: the local login form, and OpenID Connect sign-in where it is configured."""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.http import require_POST
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.http import AuthenticatedHttpRequest
from accounts.services.oidc import oidc_enabled
from accounts.services.preferences import request_language_set, request_theme_set, request_time_zone_set

NOT_CONFIGURED = "Sign-in through OpenID Connect is not configured (OIDC_CLIENT_ID)"


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["oidc_provider_name"] = settings.OIDC_PROVIDER_NAME if oidc_enabled() else ""
        context["sign_in_failed"] = self.request.GET.get("sign_in") == "failed"
        return context


class OidcSignInView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider; a 404 where OpenID Connect is not configured (not a 500)."""

    def __init__(self, **kwargs: Any) -> None:
        if oidc_enabled():
            super().__init__(**kwargs)
        else:
            View.__init__(self, **kwargs)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not oidc_enabled():
            raise Http404(NOT_CONFIGURED)
        return super().dispatch(request, *args, **kwargs)


class OidcCallbackView(OIDCAuthenticationCallbackView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not oidc_enabled():
            raise Http404(NOT_CONFIGURED)
        return super().dispatch(request, *args, **kwargs)


@require_POST
@login_required
def theme_set(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The header's theme switch: remember the choice, then back to the page it was made on (a plain form post:
    works without script, and the next page is rendered in the new theme from its first paint)."""
    try:
        request_theme_set(request, theme=request.POST.get("theme", ""))
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    return _back(request)


def _back(request: HttpRequest) -> HttpResponseRedirect:
    """Back to the page the switch was on (`next`), if it is ours; else the plant overview."""
    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return HttpResponseRedirect(target if allowed else reverse("dashboards:plant_overview"))


@require_POST
@login_required
def language_set(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The header's language switch, like the theme's: the user's choice, and the language cookie, so that the
    sign-in page after signing out speaks it too ("" goes back to the browser's language)."""
    language = request.POST.get("language", "")
    try:
        request_language_set(request, language=language)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    response = _back(request)
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=request.is_secure(),
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
    return response


@require_POST
@login_required
def time_zone_set(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The header's time zone switch: the plant's ("") or the user's own (the browser's IANA name, which the page's
    script puts in the form: lib/format.js)."""
    try:
        request_time_zone_set(request, time_zone=request.POST.get("time_zone", ""))
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    return _back(request)
