"""Sign-in pages: the local login form, and OpenID Connect sign-in where it is configured."""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponseBase
from django.views import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.services.oidc import oidc_enabled

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
