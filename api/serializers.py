"""Request parameters (validated here, so views only call the queries) and response shapes (for the schema)."""

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn

from django.utils.dateparse import parse_duration
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alarms.models import JournalEntry
from historian.device_fields import STATUS_FIELDS
from historian.models import Device, Tag
from historian.queries.common import MAX_PIXELS, MAX_RAW_POINTS
from inventory.models import Asset, AssetChange
from maintenance.queries.requests import request_downtime

MAX_TAGS_PER_REQUEST = 100
# Result-size limits of one JSON history response (the CSV export streams without a limit).
MAX_RESPONSE_POINTS = 500_000
MAX_RESPONSE_INTERVALS = 200_000

AGGREGATE_FIELDS = (
    "count",
    "avg",
    "min",
    "max",
    "stddev",
    "first",
    "last",
    "time_avg",
    "integral",
    "covered_seconds",
    "counter_increase",
    "bad_count",
)
RESOLUTION_CHOICES = ("raw", "1m", "1h")
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


# Zero is not an interval: the pattern wants a non-zero digit in the whole or the fractional part.
@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^(0*[1-9]\d{0,5}(\.\d{1,3})?|0{1,6}\.([1-9]\d{0,2}|0[1-9]\d?|00[1-9]))(ms|s|m|min|h|d)$",
        "example": "1m",
        "description": "A positive duration, at most 3650 days",
    }
)
class IntervalField(serializers.Field):
    """A positive duration: '500ms', '10s', '1m', '15min', '1h', '1d', or an ISO 8601 duration such as 'PT1M'."""

    # DRF's Field.fail always raises (ValidationError); DRF ships no types that say so. Declared, not defined.
    fail: Callable[..., NoReturn]

    default_error_messages = {
        "invalid": "Give a duration such as 10s, 1m, 15min, 1h, 1d or PT1M.",
        "positive": "The interval must be longer than zero.",
        "long": "The interval can be at most 3650 days.",
    }

    def to_internal_value(self, data) -> timedelta:
        text = str(data)
        match = _INTERVAL.match(text)
        try:
            value = timedelta(seconds=float(match[1]) * _UNITS[match[2]]) if match else parse_duration(text)
        except (OverflowError, ValueError):
            self.fail("long")
        if value is None:
            self.fail("invalid")
        if value <= timedelta(0):
            self.fail("positive")
        if value > timedelta(days=3650):
            self.fail("long")
        return value

    def to_representation(self, value: timedelta) -> str:
        return f"{value.total_seconds():g}s"


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string"}], "nullable": True})
class SampleValueField(serializers.Field):
    """A sample's value: a number, or the text of a string tag; null when there is none."""

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "string", "pattern": r"^\d{1,9}(,\d{1,9}){0,99}$", "example": "12,15,40"})
class IdListField(serializers.Field):
    """Comma-separated ids: '12,15,40'."""

    default_error_messages = {"invalid": "Give ids as whole numbers separated by commas, e.g. 12,15,40."}

    def to_internal_value(self, data) -> list[int]:
        parts = [p.strip() for p in str(data).split(",") if p.strip()]
        if not parts or not all(p.isascii() and p.isdigit() and len(p) < 10 for p in parts):
            self.fail("invalid")
        ids = list(dict.fromkeys(int(p) for p in parts))
        if len(ids) > MAX_TAGS_PER_REQUEST:
            raise serializers.ValidationError(f"At most {MAX_TAGS_PER_REQUEST} tags per request, not {len(ids)}.")
        return ids

    def to_representation(self, value) -> str:
        return ",".join(str(v) for v in value)


class QuerySerializer(serializers.Serializer):
    """Query parameters. A parameter given blank (`units=`) is an error unless the field allows blank: DRF would
    otherwise treat it as absent, so `units=` would list every tag instead of saying the filter is empty."""

    def to_internal_value(self, data):
        blank = {
            name: ["Blank: give a value, or leave the parameter out."]
            for name, field in self.fields.items()
            if name in data
            and not getattr(field, "allow_blank", False)
            and any(str(value).strip() == "" for value in _values(data, name))
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


def _values(data, name: str) -> list:
    return data.getlist(name) if hasattr(data, "getlist") else [data[name]]


_FIELD_NAMES = "|".join(AGGREGATE_FIELDS)


@extend_schema_field(
    {"type": "string", "pattern": rf"^\s*({_FIELD_NAMES})\s*(,\s*({_FIELD_NAMES})\s*)*$", "example": "avg,min,max"}
)
class AggregateFieldsField(serializers.Field):
    """Aggregate names, comma-separated: 'avg,min,max'."""

    def to_internal_value(self, data) -> list[str]:
        names = [name.strip() for name in str(data).split(",")]
        unknown = [name for name in names if name not in AGGREGATE_FIELDS]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown aggregate {unknown[:3]}; choose from {', '.join(AGGREGATE_FIELDS)}."
            )
        return list(dict.fromkeys(names))

    def to_representation(self, value) -> str:
        return ",".join(value)


class TagSelectionSerializer(QuerySerializer):
    tags = IdListField(required=False, help_text="Tag ids, comma-separated, e.g. 12,15,40")
    machine = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1, help_text="All its tags")

    def validate(self, attrs):
        if "tags" not in attrs and "machine" not in attrs:
            raise serializers.ValidationError("Name the tags (tags=12,15) or a machine (machine=3).")
        return attrs


class RangeSerializer(TagSelectionSerializer):
    start = serializers.DateTimeField(help_text="ISO 8601, e.g. 2026-01-01T00:00:00Z (no zone: UTC)")
    end = serializers.DateTimeField(
        help_text="ISO 8601, not before start (end before start is a 400). end == start is an empty range: "
        "every series is empty"
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "end must not be before start."})
        return attrs


class RawQuerySerializer(RangeSerializer):
    boundaries = serializers.BooleanField(
        default=False, help_text="Also give the newest sample before start and the oldest at or after end"
    )
    max_points = serializers.IntegerField(
        default=10_000, min_value=1, max_value=MAX_RAW_POINTS, help_text="Per tag; more samples than this is a 400"
    )


class InterpolatedQuerySerializer(RangeSerializer):
    interval = IntervalField(help_text="Step between values: 10s, 1m, 1h, PT1M ...")


class AggregateQuerySerializer(RangeSerializer):
    interval = IntervalField(help_text="Length of each interval: 1m, 15min, 1h, 1d ...")
    fields = AggregateFieldsField(
        required=False, help_text=f"Comma-separated, default all: {', '.join(AGGREGATE_FIELDS)}"
    )
    resolution = serializers.ChoiceField(
        choices=RESOLUTION_CHOICES, required=False, help_text="Force the source (default: chosen by the range)"
    )


class PlotQuerySerializer(RangeSerializer):
    pixels = serializers.IntegerField(min_value=1, max_value=MAX_PIXELS, help_text="The chart's width in pixels")


class ExportQuerySerializer(RangeSerializer):
    kind = serializers.ChoiceField(choices=("raw", "aggregates"), default="raw")
    interval = IntervalField(required=False, help_text="Aggregates: length of each interval")
    fields = AggregateFieldsField(required=False, help_text="Aggregates: comma-separated, default avg,min,max,count")

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs["kind"] == "aggregates":
            if "interval" not in attrs:
                raise serializers.ValidationError({"interval": "Aggregates need an interval, e.g. interval=1m."})
            attrs.setdefault("fields", ["avg", "min", "max", "count"])
        return attrs


class CurrentValuesQuerySerializer(TagSelectionSerializer):
    pass


class TagFilterSerializer(QuerySerializer):
    search = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Words in the path, name or description (blank: no filter)",
    )
    site = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    area = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    line = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    machine = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    units = serializers.CharField(required=False, max_length=20, help_text="Exactly these units, e.g. bar")
    ids = IdListField(required=False, help_text="Only these tag ids")


class JournalFilterSerializer(QuerySerializer):
    start = serializers.DateTimeField(required=False, help_text="Entries at or after (default: 24 hours ago)")
    end = serializers.DateTimeField(required=False, help_text="Entries before (default: now)")
    machine = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    priority = serializers.ChoiceField(choices=("critical", "high", "medium", "low"), required=False)
    tag = serializers.CharField(required=False, max_length=255, help_text="Part of the tag path")


# -- responses


class MachineNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    tag_count = serializers.IntegerField()


class LineNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    machines = MachineNodeSerializer(many=True)


class AreaNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    lines = LineNodeSerializer(many=True)


class SiteNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    areas = AreaNodeSerializer(many=True)


class TagSerializer(serializers.ModelSerializer):
    machine_name = serializers.CharField(source="machine.name")
    line = serializers.IntegerField(source="machine.line_id")
    interpolation = serializers.CharField(source="effective_interpolation")
    value_labels = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True, help_text="The name of the tag's value label set, if any"
    )
    plot_interpolation = serializers.CharField(
        help_text="How a chart draws the tag between samples: step for counts, states, booleans and counters, linear "
        "only for analog values whose interpolation is linear"
    )

    class Meta:
        model = Tag
        fields = [
            "id",
            "path",
            "name",
            "machine",
            "machine_name",
            "line",
            "units",
            "data_type",
            "interpolation",
            "plot_interpolation",
            "span_low",
            "span_high",
            "value_labels",
            "is_key",
            "description",
        ]


class CurrentValueSerializer(serializers.Serializer):
    tag = serializers.IntegerField()
    time = serializers.DateTimeField(allow_null=True)
    value = SampleValueField(allow_null=True, help_text="A number, or the text of a string tag")
    label = serializers.CharField(
        allow_null=True, help_text="The value's label in the tag's value label set (e.g. Running); null if none"
    )
    quality = serializers.IntegerField(allow_null=True)


class DeviceStatusSerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = [
            "id",
            "name",
            "protocol",
            "host",
            "port",
            "enabled",
            *STATUS_FIELDS,
            "quarantined_at",
            "quarantine_reason",
        ]


class JournalEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = JournalEntry
        fields = [
            "id",
            "time",
            "alarm",
            "alarm_name",
            "tag_path",
            "event",
            "state",
            "previous_state",
            "value",
            "username",
            "comment",
            "priority",
            "message",
            "machine_id",
            "category",
            "evidence",
        ]


class AlarmSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    category = serializers.CharField(help_text="process, or security (only for alarms.view_security_alarms)")
    source = serializers.CharField(help_text="Security alarms: the event's kind and subject; empty otherwise")
    tag = serializers.CharField(help_text="Empty for a security alarm")
    tag_id = serializers.IntegerField(allow_null=True, help_text="Null for a security alarm")
    machine = serializers.CharField()
    machine_id = serializers.IntegerField(allow_null=True)
    line = serializers.CharField()
    area = serializers.CharField()
    priority = serializers.CharField()
    state = serializers.CharField()
    state_label = serializers.CharField()
    unacknowledged = serializers.BooleanField()
    condition = serializers.BooleanField()
    message = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    units = serializers.CharField()
    active_since = serializers.IntegerField(allow_null=True, help_text="Epoch milliseconds")
    changed_at = serializers.IntegerField(allow_null=True, help_text="Epoch milliseconds")
    acknowledged_by = serializers.CharField(allow_null=True)
    acknowledged_at = serializers.IntegerField(allow_null=True, help_text="Epoch milliseconds")
    shelved_until = serializers.IntegerField(allow_null=True, help_text="Epoch milliseconds")
    evidence = serializers.JSONField(allow_null=True, help_text="Security alarms: what the detector saw")
    repeat_count = serializers.IntegerField(help_text="Security alarms: seen again this often while unacknowledged")
    last_seen = serializers.IntegerField(allow_null=True, help_text="Epoch milliseconds")


class PointSerializer(serializers.Serializer):
    t = serializers.FloatField(help_text="Epoch milliseconds")
    v = SampleValueField(allow_null=True, help_text="A number, or the text of a string tag")
    label = serializers.CharField(
        allow_null=True, required=False, help_text="Tags with a value label set: the value's label, null if none"
    )
    q = serializers.IntegerField()


class SeriesSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    path = serializers.CharField()
    units = serializers.CharField()
    t = serializers.ListField(child=serializers.FloatField(), help_text="Epoch milliseconds")
    v = serializers.ListField(child=serializers.FloatField(allow_null=True), help_text="null: no usable value")
    q = serializers.ListField(child=serializers.IntegerField(), help_text="OPC DA quality codes (192 good)")


class RawSeriesSerializer(SeriesSerializer):
    v = serializers.ListField(child=SampleValueField(allow_null=True), help_text="Numbers, or texts of a string tag")
    label = serializers.ListField(
        child=serializers.CharField(allow_null=True),
        required=False,
        help_text="Tags with a value label set: each value's label (null where the set has none), beside v",
    )
    before = PointSerializer(allow_null=True, required=False)
    after = PointSerializer(allow_null=True, required=False)


class RawResponseSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    tags = RawSeriesSerializer(many=True)


class InterpolatedSeriesSerializer(SeriesSerializer):
    label = serializers.ListField(
        child=serializers.CharField(allow_null=True),
        required=False,
        help_text="Tags with a value label set: each value's label (null where the set has none), beside v",
    )


class InterpolatedResponseSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    interval_seconds = serializers.FloatField()
    tags = InterpolatedSeriesSerializer(many=True)


class ValueLabelSerializer(serializers.Serializer):
    label = serializers.CharField()
    colour = serializers.CharField(allow_blank=True, help_text="#rrggbb, or empty")


class PlotSeriesSerializer(SeriesSerializer):
    labels = serializers.DictField(
        child=ValueLabelSerializer(),
        required=False,
        help_text="Tags with a value label set: the set, by value (keys are the values as text)",
    )


class PlotResponseSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    pixels = serializers.IntegerField()
    resolution = serializers.ChoiceField(choices=RESOLUTION_CHOICES)
    bucket_seconds = serializers.FloatField()
    tags = PlotSeriesSerializer(many=True)


class AggregateSeriesSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    path = serializers.CharField()
    units = serializers.CharField()
    start = serializers.ListField(child=serializers.FloatField(), help_text="Interval starts, epoch milliseconds")
    values = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="Per asked aggregate, one value per interval (null: none); first and last also give "
        "first_time / last_time in epoch milliseconds",
    )


class AggregateResponseSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    interval_seconds = serializers.FloatField()
    resolution = serializers.ChoiceField(choices=RESOLUTION_CHOICES)
    fields = serializers.ListField(child=serializers.CharField())
    tags = AggregateSeriesSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What is wrong, in words")
    errors = serializers.DictField(required=False, help_text="Validation errors: the messages per parameter")


TOO_LARGE_HINT = "Ask for a shorter range, fewer tags, or plot values / aggregates; the CSV export streams any size."


class AssetChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssetChange
        fields = ["at", "field", "before", "after"]


class AssetSerializer(serializers.ModelSerializer):
    device = serializers.SlugRelatedField(slug_field="name", read_only=True, help_text="The configured device, if any")
    recent_changes = serializers.SerializerMethodField(
        help_text="The latest changes (at most ten), newest first; all of them: /api/v1/assets/{id}/changes/"
    )
    change_count = serializers.IntegerField(read_only=True, help_text="How many changes the asset has in all")

    class Meta:
        model = Asset
        fields = [
            "id",
            "protocol",
            "key",
            "name",
            "device",
            "addresses",
            "identity",
            "certificate_thumbprint",
            "first_seen",
            "last_seen",
            "changed_at",
            "baseline_accepted_at",
            "endpoints",
            "communication",
            "change_count",
            "recent_changes",
        ]

    @extend_schema_field(AssetChangeSerializer(many=True))
    def get_recent_changes(self, asset: Asset) -> list[dict[str, Any]]:
        # inventory.queries.assets_with_recent_changes prefetched them, bounded per asset
        return AssetChangeSerializer(getattr(asset, "recent_changes", []), many=True).data


# Production performance (issue 13)

MAX_PRODUCTION_RANGE = timedelta(days=400)


class ProductionScopeSerializer(QuerySerializer):
    scope = serializers.ChoiceField(choices=["machine", "line", "area", "site"], help_text="What `id` names")
    id = serializers.IntegerField(help_text="The machine's, line's, area's or site's id")


class ProductionRangeSerializer(ProductionScopeSerializer):
    start = serializers.DateTimeField(required=False, help_text="ISO 8601 (no zone: UTC); with end, or give shift")
    end = serializers.DateTimeField(required=False, help_text="ISO 8601, after start; past now counts up to now")
    shift = serializers.ChoiceField(
        choices=["current"], required=False, help_text="current: the current shift of a line (scope=line), to now"
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if "shift" in attrs:
            if attrs["scope"] != "line":
                raise serializers.ValidationError({"shift": "The current shift is a line's: give scope=line."})
            if "start" in attrs or "end" in attrs:
                raise serializers.ValidationError({"shift": "Give either shift or start and end, not both."})
            return attrs
        if "start" not in attrs or "end" not in attrs:
            raise serializers.ValidationError({"start": "Give start and end (or shift=current for a line)."})
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "end must be after start."})
        if attrs["end"] - attrs["start"] > MAX_PRODUCTION_RANGE:
            raise serializers.ValidationError({"end": f"At most {MAX_PRODUCTION_RANGE.days} days in one request."})
        return attrs


class ProductionKpiQuerySerializer(ProductionRangeSerializer):
    grain = serializers.ChoiceField(
        choices=["shift", "day", "week"], required=False, help_text="A series per shift, local day or week"
    )


class ProductionExportQuerySerializer(ProductionKpiQuerySerializer):
    kind = serializers.ChoiceField(choices=["kpis", "intervals"], help_text="KPIs per period, or the state intervals")


class KpisSerializer(serializers.Serializer):
    """ISO 22400-2 time elements (seconds), quantities and ratios (0..1, null when undefined)."""

    calendar_time = serializers.FloatField()
    non_scheduled_time = serializers.FloatField()
    planned_operation_time = serializers.FloatField()
    planned_downtime = serializers.FloatField()
    planned_busy_time = serializers.FloatField()
    actual_production_time = serializers.FloatField()
    running_time = serializers.FloatField()
    running_unplanned = serializers.FloatField()
    unit_down_time = serializers.FloatField()
    setup_time = serializers.FloatField()
    delay_time = serializers.FloatField()
    breakdowns = serializers.FloatField()
    setup_adjustments = serializers.FloatField()
    small_stops = serializers.FloatField()
    reduced_speed = serializers.FloatField()
    startup_rejects_time = serializers.FloatField()
    production_rejects_time = serializers.FloatField()
    unclassified = serializers.FloatField()
    no_data = serializers.FloatField()
    micro_stops = serializers.IntegerField()
    produced = serializers.FloatField()
    good = serializers.FloatField()
    rejects = serializers.FloatField()
    startup_rejects = serializers.FloatField()
    net_production_time = serializers.FloatField()
    fully_productive_time = serializers.FloatField()
    failure_events = serializers.IntegerField()
    failure_time = serializers.FloatField()
    machines = serializers.IntegerField()
    products_missing_ideal_cycle_time = serializers.ListField(child=serializers.CharField())
    availability = serializers.FloatField(allow_null=True)
    performance = serializers.FloatField(allow_null=True)
    quality = serializers.FloatField(allow_null=True)
    oee = serializers.FloatField(allow_null=True)
    teep = serializers.FloatField(allow_null=True)
    mtbf = serializers.FloatField(allow_null=True, help_text="Seconds")
    mttr = serializers.FloatField(allow_null=True, help_text="Seconds")
    losses = serializers.DictField(
        child=serializers.FloatField(), help_text="The six big losses, unclassified, no data"
    )


class KpiPeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    label = serializers.CharField()
    kpis = KpisSerializer()


class KpiResponseSerializer(serializers.Serializer):
    scope = serializers.CharField()
    id = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    shift = serializers.CharField(allow_null=True, help_text="The shift's name and date (shift=current)")
    kpis = KpisSerializer()
    machines = serializers.DictField(child=KpisSerializer(), help_text="Per machine id")
    periods = KpiPeriodSerializer(many=True, required=False, help_text="With grain: one per shift, day or week")


class ParetoRowSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="reason, unclassified, short_stop, micro_stop, no_data")
    reason = serializers.IntegerField(allow_null=True)
    label = serializers.CharField()
    seconds = serializers.FloatField()


class StateIntervalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    machine = serializers.IntegerField(source="machine_id")
    machine_name = serializers.CharField(source="machine.name")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True, help_text="null: the current interval")
    state = serializers.CharField()
    product = serializers.CharField(source="product.code", allow_null=True, default=None)
    reason = serializers.CharField(source="reason.name", allow_null=True, default=None)
    reason_id = serializers.IntegerField(allow_null=True)
    auto_classified = serializers.BooleanField()
    comment = serializers.CharField()
    classified_by = serializers.CharField(source="classified_by.username", allow_null=True, default=None)
    classified_at = serializers.DateTimeField(allow_null=True)


class StopSerializer(StateIntervalSerializer):
    seconds = serializers.FloatField(help_text="Its length (to now while it lasts)")
    unclassified = serializers.BooleanField(help_text="No reason, and longer than the reason-required threshold")


# Maintenance work requests (maintenance.queries.requests)


class RequestCommentSerializer(serializers.Serializer):
    author = serializers.CharField(source="author.username", default=None, allow_null=True)
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class MaintenanceRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    machine_id = serializers.IntegerField()
    machine = serializers.CharField(source="machine.name")
    component = serializers.CharField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=["open", "planned", "done"])
    assignee = serializers.CharField(source="assignee.username", default=None, allow_null=True)
    planned_for = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    by_monitor = serializers.BooleanField(help_text="Opened by the health monitor")
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by = serializers.CharField(source="closed_by.username", default=None, allow_null=True)
    done_note = serializers.CharField()
    evidence = serializers.JSONField(help_text="Score trend, contributing signals and RUL when it was opened")


class RequestDowntimeSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The stop's id (production's state interval)")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True, help_text="null: still stopped")
    state = serializers.CharField()
    reason = serializers.CharField(source="reason.name", default=None, allow_null=True)
    relation = serializers.ChoiceField(
        choices=["before", "while_open", "after_done"],
        help_text="before the request was opened (came too late to avoid it), while it was open (the maintenance "
        "stop it caused), after it was done (a failure it did not avoid)",
    )


class MaintenanceRequestDetailSerializer(MaintenanceRequestSerializer):
    comments = RequestCommentSerializer(many=True, source="comments.all")
    downtime = serializers.SerializerMethodField(
        help_text="The stops of its machine from 24 h before it was opened to 24 h after it was done (or now)"
    )

    @extend_schema_field(RequestDowntimeSerializer(many=True))
    def get_downtime(self, request: Any) -> list[dict[str, Any]]:
        return list(RequestDowntimeSerializer(request_downtime(request=request), many=True).data)


class PresentChoiceField(serializers.ChoiceField):
    """An optional query choice that refuses an empty value (`status=`), which DRF would read as absent."""

    def get_value(self, dictionary: Any) -> Any:
        if dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class MaintenanceRequestsQuerySerializer(serializers.Serializer):
    status = PresentChoiceField(choices=["open", "planned", "done"], required=False)
    machine = serializers.IntegerField(required=False, min_value=1)


class MaintenanceRequestCreateSerializer(serializers.Serializer):
    machine = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="The machine's id")
    component = serializers.CharField(max_length=100, help_text="What it is about, e.g. spindle bearing")
    title = serializers.CharField(max_length=200)


class MaintenanceRequestUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["open", "planned", "done"],
        required=False,
        help_text="planned (with planned_for), or done: records the maintenance, re-baselines the machine's health "
        "model and writes its maintenance command, as the request's page does. A planned request does not go back to "
        "open, a done one stays done (open a new one).",
    )
    planned_for = serializers.DateTimeField(required=False, allow_null=True, help_text="With status planned")
    assignee = serializers.CharField(
        required=False, allow_null=True, max_length=150, help_text="A user's username; null: nobody"
    )
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=4000, help_text="With status done: what was done"
    )


class MaintenanceCommentCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)


# --- writes to the plant (ingest.services.writes) ---------------------------------------------------------------


class WriteValueSerializer(serializers.Serializer):
    # Any JSON: the write service parses it (a finite number, or its text) and refuses anything else, audited.
    value = serializers.JSONField(help_text="The value to write, in the tag's engineering units (a number)")


class WriteConfirmSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64, help_text="The token the armed write's answer gave")


class WriteOutcomeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["confirmed", "mismatched", "failed"])
    sent = serializers.BooleanField(help_text="Whether the value reached the device")
    read_back = serializers.FloatField(allow_null=True, help_text="The value read back after the write")
    error = serializers.CharField()
    seconds = serializers.FloatField(help_text="How long the write and its read-back took")


class WriteResultSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["executed", "armed", "awaiting_approval"])
    message = serializers.CharField(help_text="What happened, in words")
    request = serializers.IntegerField(allow_null=True, help_text="The write request's id")
    token = serializers.CharField(
        help_text="Armed: pass it to /api/v1/writes/confirm/ before expires_at (empty otherwise)"
    )
    expires_at = serializers.DateTimeField(allow_null=True)
    outcome = WriteOutcomeSerializer(allow_null=True, help_text="Executed: what the device did")


class WriteRefusalSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why the write was refused, in words")
    # Absent only from the API's own answers that come before the write service (a path that names nothing, an
    # authentication error).
    rule = serializers.CharField(
        required=False, help_text="The rule that refused it (ingest.services.writes.WriteRule)"
    )
    state = serializers.ChoiceField(choices=["refused"], required=False)
    request = serializers.IntegerField(allow_null=True, required=False)


class WriteRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tag = serializers.IntegerField()
    value = serializers.FloatField(help_text="The value asked for")
    state = serializers.ChoiceField(choices=["armed", "awaiting_approval", "executed", "refused", "expired"])
    outcome = serializers.CharField(help_text="Executed: confirmed, mismatched or failed")
    requested_by = serializers.CharField()
    requested_via = serializers.CharField(help_text="The API token's name, when through one")
    requested_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.CharField()
    executed_at = serializers.DateTimeField(allow_null=True)
    sent = serializers.BooleanField()
    old_value = serializers.FloatField(allow_null=True)
    read_back = serializers.FloatField(allow_null=True)
    error = serializers.CharField()


class TagWritesQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20, help_text="How many, newest first")
