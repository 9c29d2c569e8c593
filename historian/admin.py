from django.contrib import admin

from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag


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


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
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
    ]
    list_filter = ["protocol", "enabled", "status"]
    search_fields = ["name", "host", "description"]
    readonly_fields = [
        "status",
        "last_error",
        "last_good_read_at",
        "consecutive_failures",
        "next_retry_at",
        "status_changed_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "protocol", "enabled", "description"]}),
        ("Connection", {"fields": ["host", "port", "unit_id", "word_order", "timeout_seconds"]}),
        ("Status", {"fields": readonly_fields}),
    ]


@admin.register(ScanClass)
class ScanClassAdmin(admin.ModelAdmin):
    list_display = ["name", "period_ms", "description"]
    search_fields = ["name"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
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
    ]
    list_filter = [
        "device",
        "scan_class",
        "data_type",
        "historize",
        "is_key",
        "machine__line__area",
        "machine__line",
    ]
    search_fields = ["path", "name", "address", "description"]
    list_select_related = ["machine__line__area__site", "device", "scan_class"]
    autocomplete_fields = ["machine", "device", "scan_class"]
    list_per_page = 100
    fieldsets = [
        (None, {"fields": ["path", "name", "machine", "description", "is_key"]}),
        ("Source", {"fields": ["device", "address", "data_type", "scan_class"]}),
        ("Engineering", {"fields": ["units", "scale", "offset", "span_low", "span_high", "value_labels"]}),
        ("Storage", {"fields": ["historize", "deadband"]}),
    ]
