"""OpenID Connect sign-in (the names are the ones mozilla-django-oidc reverses). Sign-out is the local one."""

from django.urls import path

from accounts.views import OidcCallbackView, OidcSignInView

urlpatterns = [
    path("authenticate/", OidcSignInView.as_view(), name="oidc_authentication_init"),
    path("callback/", OidcCallbackView.as_view(), name="oidc_authentication_callback"),
]
