"""The asset inventory page: what Millwright talks to, as it identified itself, and what changed."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from inventory.queries import asset_changes_recent, assets_list

PERM_VIEW_ASSETS = "inventory.view_asset"


@login_required
@permission_required(PERM_VIEW_ASSETS, raise_exception=True)
@require_GET
def asset_list_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "inventory/assets.html",
        {"assets": list(assets_list()), "changes": list(asset_changes_recent(limit=50))},
    )
