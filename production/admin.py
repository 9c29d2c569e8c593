from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from production.models import (
    Break,
    DowntimeArea,
    DowntimeCategory,
    DowntimeReason,
    FaultCode,
    Holiday,
    MachineProduction,
    Product,
    ProductCycleTime,
    ShiftCalendar,
    ShiftPattern,
    StateInterval,
    StateMapping,
)
from production.services.intervals import machine_intervals_rebuild


class StateMappingInline(admin.TabularInline):
    model = StateMapping
    extra = 1


class ProductCycleTimeInline(admin.TabularInline):
    model = ProductCycleTime
    extra = 1
    autocomplete_fields = ["product"]


@admin.register(MachineProduction)
class MachineProductionAdmin(admin.ModelAdmin):
    list_display = ["machine", "enabled", "state_tag", "product_tag", "micro_stop_seconds", "reason_required_seconds"]
    list_filter = ["enabled", "machine__line"]
    autocomplete_fields = ["state_tag", "total_tag", "good_tag", "reject_tag", "product_tag"]
    inlines = [StateMappingInline, ProductCycleTimeInline]
    actions = ["rebuild_intervals"]

    @admin.action(description="Rebuild state intervals from history (after a change of the state mapping)")
    def rebuild_intervals(self, request: HttpRequest, queryset: QuerySet[MachineProduction]) -> None:
        for config in queryset.select_related("machine"):
            written = machine_intervals_rebuild(machine_id=config.machine_id)
            self.message_user(request, f"{config.machine}: {written} state intervals rebuilt from history.")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "site"]
    list_filter = ["site"]
    search_fields = ["code", "name"]


class BreakInline(admin.TabularInline):
    model = Break
    extra = 1


@admin.register(ShiftPattern)
class ShiftPatternAdmin(admin.ModelAdmin):
    list_display = ["name", "calendar", "start_time", "duration_minutes", "weekdays"]
    list_filter = ["calendar"]
    inlines = [BreakInline]


class ShiftPatternInline(admin.TabularInline):
    model = ShiftPattern
    extra = 1
    show_change_link = True  # breaks are edited on the shift's page


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1


@admin.register(ShiftCalendar)
class ShiftCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "site", "line", "timezone"]
    inlines = [ShiftPatternInline, HolidayInline]


class DowntimeReasonInline(admin.TabularInline):
    model = DowntimeReason
    extra = 1


@admin.register(DowntimeCategory)
class DowntimeCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "site"]
    list_filter = ["site"]
    inlines = [DowntimeReasonInline]


@admin.register(DowntimeReason)
class DowntimeReasonAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "planned", "loss"]
    list_filter = ["category__site", "planned", "loss"]
    search_fields = ["name", "category__name"]


@admin.register(FaultCode)
class FaultCodeAdmin(admin.ModelAdmin):
    list_display = ["tag", "value", "reason"]
    autocomplete_fields = ["tag", "reason"]


@admin.register(StateInterval)
class StateIntervalAdmin(admin.ModelAdmin):
    list_display = ["machine", "start", "end", "state", "product", "reason", "auto_classified", "classified_by"]
    list_filter = ["state", "auto_classified", "machine__line"]
    date_hierarchy = "start"
    raw_id_fields = ["machine", "classified_by"]

    # Intervals are derived from history; people classify, comment and split them through the audited downtime
    # services, never by editing rows here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(DowntimeArea)
class DowntimeAreaAdmin(admin.ModelAdmin):
    """Which groups or users classify stops in which area (with production.classify_downtime)."""

    list_display = ["area", "group", "user"]
    list_filter = ["area"]
    raw_id_fields = ["user"]
