"""The API tokens page: a user's own tokens, created (the token shown once) and revoked."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.http import AuthenticatedHttpRequest
from api.models import ApiToken
from api.permissions import MANAGE_API_TOKENS
from api.services.tokens import TokenError, api_token_create, api_token_revoke


@login_required
@permission_required(MANAGE_API_TOKENS, raise_exception=True)
@require_http_methods(["GET", "POST"])
def token_list_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    context: dict = {"error": None, "created": None, "plain": None}
    if request.method == "POST":
        try:
            token, plain = api_token_create(
                user=request.user, name=request.POST.get("name", ""), remote_addr=request.META.get("REMOTE_ADDR")
            )
        except TokenError as exc:
            context["error"] = str(exc)
        else:
            # Rendered in this response, never stored: the digest alone is kept.
            context |= {"created": token, "plain": plain}
    context["tokens"] = ApiToken.objects.filter(user=request.user)
    response = render(request, "api/tokens.html", context, status=400 if context["error"] else 200)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@permission_required(MANAGE_API_TOKENS, raise_exception=True)
@require_POST
def token_revoke_page(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        raise Http404("No such token")
    api_token_revoke(token=token, actor=request.user, remote_addr=request.META.get("REMOTE_ADDR"))
    return redirect("tokens:list")
