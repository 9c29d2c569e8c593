from django.contrib import admin
from django.http import HttpRequest

from inventory.models import Asset, AssetChange


class _Observed(admin.ModelAdmin):
    """Observations, never typed in: read-only for everyone (deleting a stale asset is allowed)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Asset)
class AssetAdmin(_Observed):
    list_display = ("key", "protocol", "device", "certificate_thumbprint", "first_seen", "last_seen", "changed_at")
    list_filter = ("protocol",)
    search_fields = ("key", "name", "device__name")


@admin.register(AssetChange)
class AssetChangeAdmin(_Observed):
    list_display = ("at", "asset", "field", "before", "after")
    list_filter = ("field",)
    date_hierarchy = "at"

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
