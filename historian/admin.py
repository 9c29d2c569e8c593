from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from historian.admin_csv import TagCsvAdminMixin
from historian.device_fields import STATUS_FIELDS
from historian.models import (
    Area,
    Device,
    EdgePublication,
    HistorianSettings,
    Line,
    Machine,
    OperateArea,
    ScanClass,
    Site,
    Tag,
    ValueLabel,
    ValueLabelSet,
    WritePolicy,
)
from historian.tasks import retention_maintain


class AreaInline(admin.TabularInline):
    model = Area
    extra = 0


class LineInline(admin.TabularInline):
    model = Line
    extra = 0


class MachineInline(admin.TabularInline):
    model = Machine
    extra = 0
    fields = ["name", "description"]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "timezone", "description"]
    search_fields = ["name", "description"]
    inlines = [AreaInline]


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ["name", "site", "description"]
    list_filter = ["site"]
    search_fields = ["name", "description"]
    list_select_related = ["site"]
    inlines = [LineInline]


@admin.register(Line)
class LineAdmin(admin.ModelAdmin):
    list_display = ["name", "area", "description"]
    list_filter = ["area__site", "area"]
    search_fields = ["name", "description"]
    list_select_related = ["area__site"]
    inlines = [MachineInline]


@admin.register(Machine)
class MachineAdmin(admin.ModelAdmin):
    list_display = ["name", "line", "state_tag", "description"]
    list_filter = ["line__area__site", "line__area", "line"]
    search_fields = ["name", "description"]
    list_select_related = ["line__area__site", "state_tag"]
    raw_id_fields = ["state_tag"]


# ingest/admin.py extends this with the OPC UA connection fields and the address-space browser.
@admin.register(Device)
class DeviceAdminBase(admin.ModelAdmin):
    list_display = [
        "name",
        "protocol",
        "host",
        "port",
        "unit_id",
        "enabled",
        "status",
        "last_good_read_at",
        "consecutive_failures",
        "last_error",
        "quarantined_at",
        "writes_enabled",
    ]
    list_filter = [
        "protocol",
        "enabled",
        "discovered",
        "status",
        ("quarantined_at", admin.EmptyFieldListFilter),
        "writes_enabled",
    ]
    search_fields = ["name", "host", "description"]
    readonly_fields = [*STATUS_FIELDS, "quarantined_at", "quarantine_reason", "writes_enabled"]
    fieldsets = [
        (None, {"fields": ["name", "protocol", "enabled", "description"]}),
        ("Connection", {"fields": ["host", "port", "unit_id", "word_order", "timeout_seconds"]}),
        ("Modbus reads", {"fields": ["byte_order", "max_gap_registers", "max_gap_bits"]}),
        (
            "MQTT Sparkplug B",
            {"fields": ["sparkplug_group_id", "sparkplug_edge_node_id", "sparkplug_device_id", "discovered"]},
        ),
        ("Status", {"fields": list(STATUS_FIELDS)}),
        ("Quarantine (set and released with the list's actions)", {"fields": ["quarantined_at", "quarantine_reason"]}),
        ("Writes (enabled and disabled by administrators with the list's actions)", {"fields": ["writes_enabled"]}),
    ]


@admin.register(ScanClass)
class ScanClassAdmin(admin.ModelAdmin):
    list_display = ["name", "period_ms", "description"]
    search_fields = ["name"]


@admin.register(Tag)
class TagAdmin(TagCsvAdminMixin):
    list_display = [
        "path",
        "machine",
        "device",
        "address",
        "data_type",
        "units",
        "scan_class",
        "deadband",
        "historize",
        "is_key",
        "writable",
    ]
    list_filter = [
        "device",
        "scan_class",
        "data_type",
        "historize",
        "is_key",
        "writable",
        "edge_publish",
        "machine__line__area",
        "machine__line",
    ]
    search_fields = ["path", "name", "address", "description"]
    list_select_related = ["machine__line__area__site", "device", "scan_class"]
    autocomplete_fields = ["machine", "device", "scan_class", "value_labels"]
    list_per_page = 100
    fieldsets = [
        (None, {"fields": ["path", "name", "machine", "description", "is_key"]}),
        (
            "Source",
            {"fields": ["device", "address", "data_type", "word_order", "byte_order", "scan_class", "writable"]},
        ),
        ("Engineering", {"fields": ["units", "scale", "offset", "span_low", "span_high", "value_labels"]}),
        ("Storage", {"fields": ["historize", "deadband", "retention_days", "edge_publish"]}),
        (
            "Compression and quality",
            {
                "fields": [
                    "deviation_unit",
                    "compression_deviation",
                    "max_store_interval_seconds",
                    "stale_after_seconds",
                ]
            },
        ),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "retention_days" in form.changed_data:
            _retention_apply_soon()


class ValueLabelInline(admin.TabularInline):
    model = ValueLabel
    extra = 1
    fields = ["value", "label", "colour"]


@admin.register(ValueLabelSet)
class ValueLabelSetAdmin(admin.ModelAdmin):
    """Value labels: one set (machine state, a bool's Open/Closed, alarm codes) assigned to many tags."""

    list_display = ["name", "description"]
    search_fields = ["name", "description"]
    inlines = [ValueLabelInline]


def _retention_apply_soon() -> None:
    """Queue the retention task once the change is committed (TimescaleDB policies follow the settings)."""
    transaction.on_commit(retention_maintain.delay)


@admin.register(HistorianSettings)
class HistorianSettingsAdmin(admin.ModelAdmin):
    """One row of settings: it can be changed, not added twice nor deleted."""

    fieldsets = [
        ("Retention", {"fields": ["default_retention_days"]}),
        ("TimescaleDB", {"fields": ["chunk_interval_hours", "compress_after_days"]}),
    ]

    def has_add_permission(self, request) -> bool:
        # The row is created when first opened (HistorianSettings.load in changelist_view).
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # Straight to the one row.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        settings = HistorianSettings.load()
        return HttpResponseRedirect(reverse("admin:historian_historiansettings_change", args=[settings.pk]))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.changed_data:
            _retention_apply_soon()


@admin.register(EdgePublication)
class EdgePublicationAdmin(admin.ModelAdmin):
    """Where this site publishes its tags marked `edge_publish` (ingest.acquisition.edge_publisher)."""

    list_display = ["name", "enabled", "host", "port", "group_id", "edge_node_id", "primary_host_id"]
    fieldsets = [
        (None, {"fields": ["name", "enabled"]}),
        ("Broker", {"fields": ["host", "port", "username", "password"]}),
        ("Sparkplug B", {"fields": ["group_id", "edge_node_id", "primary_host_id"]}),
    ]


@admin.register(WritePolicy)
class WritePolicyAdmin(admin.ModelAdmin):
    """Each writable tag's write policy (enforced by ingest/services/writes.py). No policy: no write."""

    list_display = ["tag", "min_value", "max_value", "max_step", "min_interval_seconds", "confirmation"]
    list_filter = ["confirmation", "tag__machine__line__area"]
    search_fields = ["tag__path"]
    autocomplete_fields = ["tag", "interlock_tag"]
    fieldsets = [
        (None, {"fields": ["tag", "confirmation", "confirm_within_seconds"]}),
        ("Value", {"fields": ["min_value", "max_value", "max_step", "max_rate_per_second", "min_interval_seconds"]}),
        ("Interlock", {"fields": ["interlock_tag", "interlock_comparison", "interlock_value"]}),
    ]


@admin.register(OperateArea)
class OperateAreaAdmin(admin.ModelAdmin):
    """Where holders of historian.operate may write setpoints and commands."""

    list_display = ["area", "group", "user"]
    list_filter = ["area"]
