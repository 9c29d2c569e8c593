from django.contrib import admin
from django.http import HttpRequest

from maintenance.models import HealthModel, HealthModelVersion, MaintenanceArea, MaintenanceRequest, RequestComment


@admin.register(HealthModel)
class HealthModelAdmin(admin.ModelAdmin):
    list_display = ["machine", "enabled", "component", "training_start", "training_end", "running_only"]
    list_filter = ["enabled", "machine__line"]
    autocomplete_fields = [
        "machine",
        "signals",
        "score_tag",
        "contribution_tag",
        "rul_median_tag",
        "rul_low_tag",
        "rul_high_tag",
        "maintenance_command_tag",
    ]


@admin.register(HealthModelVersion)
class HealthModelVersionAdmin(admin.ModelAdmin):
    """Fits are made by the fit service (audited), never by hand."""

    list_display = ["health_model", "version", "fitted_at", "fitted_by", "training_start", "training_end", "samples"]
    readonly_fields = [f.name for f in HealthModelVersion._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RequestCommentInline(admin.TabularInline):
    model = RequestComment
    extra = 0
    readonly_fields = ["author", "text", "created_at"]


@admin.register(MaintenanceRequest)
class MaintenanceRequestAdmin(admin.ModelAdmin):
    """Read-only: requests change through their page and API (services/requests.py, audited)."""

    list_display = ["pk", "machine", "component", "title", "status", "assignee", "created_at", "by_monitor"]
    list_filter = ["status", "by_monitor", "machine__line"]
    readonly_fields = [f.name for f in MaintenanceRequest._meta.fields]
    inlines = [RequestCommentInline]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(MaintenanceArea)
class MaintenanceAreaAdmin(admin.ModelAdmin):
    list_display = ["area", "group", "user"]
    autocomplete_fields = ["area", "user"]
