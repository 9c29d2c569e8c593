from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext as _

from inventory.models import Asset, AssetChange
from inventory.services.baseline import asset_baseline_accept


class _Observed(admin.ModelAdmin):
    """Observations, never typed in: read-only for everyone (deleting a stale asset is allowed)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Asset)
class AssetAdmin(_Observed):
    list_display = (
        "key",
        "protocol",
        "device",
        "certificate_thumbprint",
        "first_seen",
        "last_seen",
        "changed_at",
        "baseline_accepted_at",
    )
    list_filter = ("protocol", ("baseline_accepted_at", admin.EmptyFieldListFilter))
    search_fields = ("key", "name", "device__name")
    actions = ["accept_into_baseline"]

    def has_accept_into_baseline_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inventory.accept_into_baseline")

    @admin.action(
        description="Accept into the baseline (an edge node or device that belongs here: no longer reported)",
        permissions=["accept_into_baseline"],
    )
    def accept_into_baseline(self, request: HttpRequest, queryset) -> None:
        accepted = [
            str(asset)
            for asset in queryset.order_by("protocol", "key")
            if asset_baseline_accept(asset=asset, user=request.user, remote_addr=request.META.get("REMOTE_ADDR"))
        ]
        self.message_user(
            request,
            _("%(n)s assets accepted into the baseline: %(names)s.")
            % {"n": len(accepted), "names": ", ".join(accepted) or "-"},
        )


@admin.register(AssetChange)
class AssetChangeAdmin(_Observed):
    list_display = ("at", "asset", "field", "before", "after")
    list_filter = ("field",)
    date_hierarchy = "at"

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
