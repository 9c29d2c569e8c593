"""Production performance: what a machine's tags mean for production, the shift calendars, the downtime reasons,
and the machine-state intervals derived from history (issue 13).

Configuration (admin):
- MachineProduction: per machine, the state source (a tag and StateMapping rows from its values to MachineState),
  two of the three counters (total, good, reject), the product source tag, the thresholds, and per product the
  ideal cycle time (ProductCycleTime).
- ShiftCalendar (per site or per line) with ShiftPattern, Break and Holiday: plain fields in the plant's time zone
  that production.calendar turns into concrete shift periods.
- DowntimeCategory -> DowntimeReason per site (planned or unplanned, one of the six big losses), and FaultCode: a
  PLC fault code (tag + value) that classifies a stop automatically.

StateInterval: a machine's state history as non-overlapping intervals (the database refuses overlaps), written at
ingest by production.services.intervals.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from historian.models.area_grants import AreaGrant, group_xor_user
from production import calendar as shift_calendar
from production import kpis


class MachineState(models.TextChoices):
    """PackML-like machine states (ISA-TR88.00.02 grouped into what OEE needs)."""

    RUNNING = "running", "Running"
    IDLE = "idle", "Idle / starved"
    BLOCKED = "blocked", "Blocked"
    SETUP = "setup", "Setup / changeover"
    PLANNED_STOP = "planned_stop", "Planned stop"
    UNPLANNED_DOWN = "unplanned_down", "Unplanned down"
    OFF = "off", "Off / not scheduled"


class BigLoss(models.TextChoices):
    """The six big losses (Nakajima), which the loss breakdown sums time into."""

    BREAKDOWN = "breakdown", "Equipment failure (breakdown)"
    SETUP_ADJUSTMENT = "setup_adjustment", "Setup and adjustment"
    SMALL_STOP = "small_stop", "Idling and minor stops"
    REDUCED_SPEED = "reduced_speed", "Reduced speed"
    STARTUP_REJECT = "startup_reject", "Startup rejects"
    PRODUCTION_REJECT = "production_reject", "Production rejects"


def _timezone_validate(value: str) -> None:
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not an IANA time zone name (e.g. Europe/Berlin).") from exc


# Configuration per machine


class MachineProduction(models.Model):
    """How a machine's tags describe its production: state, counters, product, thresholds."""

    machine = models.OneToOneField("historian.Machine", on_delete=models.CASCADE, related_name="production")
    enabled = models.BooleanField(default=True, help_text="Derive state intervals for this machine as values arrive")
    state_tag = models.ForeignKey(
        "historian.Tag",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The tag whose value is the machine state (numeric, historized); its values map to states below.",
    )
    unmapped_state = models.CharField(
        max_length=20,
        choices=MachineState.choices,
        blank=True,
        default=MachineState.UNPLANNED_DOWN,
        help_text="The state of a value the mapping does not name; blank: no interval (the time stays unaccounted)",
    )
    total_tag = models.ForeignKey(
        "historian.Tag", on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="Parts made"
    )
    good_tag = models.ForeignKey(
        "historian.Tag", on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="Good parts"
    )
    reject_tag = models.ForeignKey(
        "historian.Tag", on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="Rejected parts"
    )
    product_tag = models.ForeignKey(
        "historian.Tag",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The tag whose value names the product or recipe (a product's code); empty: one product",
    )
    micro_stop_seconds = models.PositiveIntegerField(
        default=120, help_text="Stops shorter than this count as speed loss (minor stops), not availability loss"
    )
    reason_required_seconds = models.PositiveIntegerField(
        default=300, help_text="Stops longer than this without a reason show as Unclassified until classified"
    )

    class Meta:
        verbose_name = "machine production configuration"
        ordering = ["machine"]

    def __str__(self) -> str:
        return f"{self.machine}"

    def thresholds(self) -> kpis.Thresholds:
        return kpis.Thresholds(
            micro_stop=timedelta(seconds=self.micro_stop_seconds),
            reason_required=timedelta(seconds=self.reason_required_seconds),
        )

    @property
    def counter_tags(self) -> dict[str, int | None]:
        return {"total": self.total_tag_id, "good": self.good_tag_id, "reject": self.reject_tag_id}

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        counters = {name: tag_id for name, tag_id in self.counter_tags.items() if tag_id is not None}
        if len(counters) != 2:
            errors.setdefault("__all__", []).append(
                f"Give exactly two of the three counters (total, good, reject), not {len(counters)}: the third "
                "follows from them (total = good + reject)."
            )
        if len(set(counters.values())) != len(counters):
            errors.setdefault("__all__", []).append("The counters must be different tags.")
        sources = {"state_tag": self.state_tag_id, "product_tag": self.product_tag_id, **counters}
        from historian.models import Tag

        tags = Tag.objects.in_bulk([tag_id for tag_id in sources.values() if tag_id is not None])
        for field, tag_id in sources.items():
            tag = tags.get(tag_id) if tag_id is not None else None
            if tag is None:
                continue
            field_name = f"{field}_tag" if field in ("total", "good", "reject") else field
            if self.machine_id is not None and tag.machine_id != self.machine_id:
                errors.setdefault(field_name, []).append(f"{tag.path} belongs to another machine.")
            if not tag.historize:
                errors.setdefault(field_name, []).append(
                    f"{tag.path} is not historized: intervals and counts are computed from its history."
                )
            if field != "product_tag" and tag.is_text:
                errors.setdefault(field_name, []).append(f"{tag.path} is a string tag; this one must be numeric.")
        if errors:
            raise ValidationError(errors)


class StateMapping(models.Model):
    """One value of the state tag and the state it means."""

    machine_production = models.ForeignKey(MachineProduction, on_delete=models.CASCADE, related_name="state_map")
    value = models.IntegerField(help_text="A value of the state tag")
    state = models.CharField(max_length=20, choices=MachineState.choices)

    class Meta:
        ordering = ["machine_production", "value"]
        constraints = [
            models.UniqueConstraint(fields=["machine_production", "value"], name="state_mapping_unique_value")
        ]

    def __str__(self) -> str:
        return f"{self.value} = {self.get_state_display()}"


class Product(models.Model):
    """A product or recipe of a site; `code` is what the machines' product tags carry for it."""

    site = models.ForeignKey("historian.Site", on_delete=models.CASCADE, related_name="products")
    code = models.CharField(max_length=100, help_text="The product tag's value for this product (a number or text)")
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["site", "code"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="product_unique_code_per_site")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self) -> None:
        self.code = self.code.strip()
        if not self.code:
            raise ValidationError({"code": "A product needs a code (the value its product tag carries)."})


class ProductCycleTime(models.Model):
    """The ideal cycle time of a product on a machine (performance = produced x ideal cycle time / run time)."""

    machine_production = models.ForeignKey(MachineProduction, on_delete=models.CASCADE, related_name="cycle_times")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="cycle_times")
    ideal_cycle_seconds = models.FloatField(
        validators=[MinValueValidator(0.001)], help_text="Seconds per part at the machine's ideal (design) rate"
    )

    class Meta:
        ordering = ["machine_production", "product"]
        constraints = [
            models.UniqueConstraint(fields=["machine_production", "product"], name="cycle_time_unique_product"),
            models.CheckConstraint(condition=Q(ideal_cycle_seconds__gt=0), name="cycle_time_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.product}: {self.ideal_cycle_seconds:g} s"

    def clean(self) -> None:
        if self.product_id is None or self.machine_production_id is None:
            return
        site_id = self.machine_production.machine.line.area.site_id
        if self.product.site_id != site_id:
            raise ValidationError({"product": f"{self.product} is a product of another site than the machine's."})


# Shift calendars


class ShiftCalendar(models.Model):
    """The shifts of a site, or of one line (a line's calendar overrides its site's), in the plant's time zone."""

    name = models.CharField(max_length=100)
    site = models.ForeignKey(
        "historian.Site", on_delete=models.CASCADE, null=True, blank=True, related_name="shift_calendars"
    )
    line = models.ForeignKey(
        "historian.Line", on_delete=models.CASCADE, null=True, blank=True, related_name="shift_calendars"
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[_timezone_validate],
        help_text="IANA name, e.g. Europe/Berlin; blank: the site's time zone",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(site__isnull=False, line__isnull=True) | Q(site__isnull=True, line__isnull=False),
                name="shift_calendar_site_xor_line",
                violation_error_message="A shift calendar belongs to a site or to a line, not both and not neither.",
            ),
            models.UniqueConstraint(
                fields=["site"], condition=Q(site__isnull=False), name="shift_calendar_one_per_site"
            ),
            models.UniqueConstraint(
                fields=["line"], condition=Q(line__isnull=False), name="shift_calendar_one_per_line"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def time_zone(self) -> str:
        """The plant's time zone: this calendar's, else its site's."""
        if self.timezone:
            return self.timezone
        if self.site is not None:
            return self.site.timezone
        assert self.line is not None  # a calendar has a site or a line (constraint shift_calendar_site_xor_line)
        return self.line.area.site.timezone

    @classmethod
    def for_line(cls, line_id: int) -> ShiftCalendar | None:
        """The calendar a line works to: its own, else its site's (None: neither has one)."""
        found = {
            c.line_id is not None: c for c in cls.objects.filter(Q(line_id=line_id) | Q(site__areas__lines=line_id))
        }
        return found.get(True) or found.get(False)

    def calendar(self) -> shift_calendar.Calendar:
        """As production.calendar takes it (expanded there into concrete shifts)."""
        shifts = list(self.shifts.prefetch_related("breaks"))
        return shift_calendar.Calendar(
            tz=zoneinfo.ZoneInfo(self.time_zone),
            shifts=tuple(
                shift_calendar.ShiftPattern(
                    name=s.name, start=s.start_time, duration_minutes=s.duration_minutes, weekdays=frozenset(s.weekdays)
                )
                for s in shifts
            ),
            breaks=tuple(
                shift_calendar.BreakPattern(
                    shift=s.name,
                    offset_minutes=b.start_offset_minutes,
                    duration_minutes=b.duration_minutes,
                    planned=b.planned,
                )
                for s in shifts
                for b in s.breaks.all()
            ),
            holidays=frozenset(self.holidays.values_list("date", flat=True)),
        )

    def clean(self) -> None:
        if (self.site_id is None) == (self.line_id is None):
            raise ValidationError("Choose a site or a line for the calendar (one of the two, not both).")


class ShiftPattern(models.Model):
    """A shift that recurs on some weekdays: it starts at `start_time` (local) and lasts `duration_minutes`, which
    may cross midnight (a night shift 22:00 + 480 min ends at 06:00 the next day). `weekdays`: the days it starts
    on, 0 = Monday ... 6 = Sunday."""

    calendar = models.ForeignKey(ShiftCalendar, on_delete=models.CASCADE, related_name="shifts")
    name = models.CharField(max_length=50, help_text="e.g. Early, Late, Night")
    start_time = models.TimeField(help_text="Local time the shift starts")
    duration_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)], help_text="8 h = 480, 12 h = 720"
    )
    weekdays = models.JSONField(
        default=list, blank=True, help_text="Days the shift starts on, 0 = Monday ... 6 = Sunday, e.g. [0, 1, 2, 3, 4]"
    )

    class Meta:
        ordering = ["calendar", "start_time"]
        constraints = [models.UniqueConstraint(fields=["calendar", "name"], name="shift_pattern_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} {self.start_time:%H:%M} +{self.duration_minutes} min"

    def clean(self) -> None:
        days = self.weekdays
        if not isinstance(days, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in days):
            raise ValidationError({"weekdays": "A list of day numbers, 0 = Monday ... 6 = Sunday, e.g. [0, 1, 2]."})
        if not days or any(not 0 <= d <= 6 for d in days) or len(set(days)) != len(days):
            raise ValidationError(
                {"weekdays": "Give each day the shift starts on once, 0 = Monday ... 6 = Sunday (at least one)."}
            )
        self.weekdays = sorted(days)
        if self.calendar_id is not None and self.start_time is not None and self.duration_minutes:
            self._overlaps_refuse()

    def _overlaps_refuse(self) -> None:
        """Two shifts of one calendar may not overlap in the week (a minute belongs to one shift at most)."""
        week = 7 * 24 * 60

        def spans(pattern: ShiftPattern) -> list[tuple[int, int]]:
            start = pattern.start_time.hour * 60 + pattern.start_time.minute
            return [(d * 24 * 60 + start, d * 24 * 60 + start + pattern.duration_minutes) for d in pattern.weekdays]

        mine = spans(self)
        for other in ShiftPattern.objects.filter(calendar_id=self.calendar_id).exclude(pk=self.pk):
            for a0, a1 in mine:
                for b0, b1 in spans(other):
                    # Compare on the week's circle: a Sunday night shift runs into Monday.
                    if any(a0 < b1 + k and b0 + k < a1 for k in (-week, 0, week)):
                        raise ValidationError(
                            f"{self.name} overlaps {other.name} ({other}) on day {b0 // (24 * 60)}: shifts of one "
                            "calendar may not overlap."
                        )


class Break(models.Model):
    """A planned break inside a shift: `start_offset_minutes` after the shift starts, for `duration_minutes`."""

    shift = models.ForeignKey(ShiftPattern, on_delete=models.CASCADE, related_name="breaks")
    name = models.CharField(max_length=50, blank=True, help_text="e.g. Lunch")
    start_offset_minutes = models.PositiveIntegerField(help_text="Minutes after the shift's start")
    duration_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    planned = models.BooleanField(
        default=True,
        help_text="Planned downtime (not planned busy time); clear it for a staggered break the machine runs through",
    )

    class Meta:
        ordering = ["shift", "start_offset_minutes"]

    def __str__(self) -> str:
        return f"{self.name or 'Break'} +{self.start_offset_minutes} min, {self.duration_minutes} min"

    def clean(self) -> None:
        if self.shift_id is None or self.duration_minutes is None or self.start_offset_minutes is None:
            return
        if self.start_offset_minutes + self.duration_minutes > self.shift.duration_minutes:
            raise ValidationError(
                f"The break ends {self.start_offset_minutes + self.duration_minutes} min after the shift starts, "
                f"after the shift's end ({self.shift.duration_minutes} min)."
            )
        for other in Break.objects.filter(shift_id=self.shift_id).exclude(pk=self.pk):
            if (
                self.start_offset_minutes < other.start_offset_minutes + other.duration_minutes
                and other.start_offset_minutes < self.start_offset_minutes + self.duration_minutes
            ):
                raise ValidationError(f"The break overlaps {other} of the same shift.")


class Holiday(models.Model):
    """A non-working day: no shift of the calendar starts on it."""

    calendar = models.ForeignKey(ShiftCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_date")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


# Downtime reasons


class DowntimeCategory(models.Model):
    site = models.ForeignKey("historian.Site", on_delete=models.CASCADE, related_name="downtime_categories")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["site", "name"]
        verbose_name_plural = "downtime categories"
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="downtime_category_unique_name")]

    def __str__(self) -> str:
        return self.name


class DowntimeReason(models.Model):
    category = models.ForeignKey(DowntimeCategory, on_delete=models.CASCADE, related_name="reasons")
    name = models.CharField(max_length=100)
    planned = models.BooleanField(default=False, help_text="A planned stop (excluded from availability losses)")
    loss = models.CharField(max_length=20, choices=BigLoss.choices, help_text="Which of the six big losses it is")

    class Meta:
        ordering = ["category", "name"]
        constraints = [models.UniqueConstraint(fields=["category", "name"], name="downtime_reason_unique_name")]

    def __str__(self) -> str:
        return f"{self.category.name} / {self.name}"

    def as_kpi(self) -> kpis.Reason:
        return kpis.Reason(name=self.name, planned=self.planned, loss=kpis.Loss(self.loss) if self.loss else None)

    def clean(self) -> None:
        if self.planned and self.loss == BigLoss.BREAKDOWN:
            raise ValidationError({"loss": "A breakdown is never planned: choose another loss or make it unplanned."})


class FaultCode(models.Model):
    """A PLC fault or alarm code: while `tag` holds `value` and the machine is stopped, the stop's reason is
    `reason` (automatic; an operator may override it)."""

    tag = models.ForeignKey("historian.Tag", on_delete=models.CASCADE, related_name="+")
    value = models.IntegerField()
    reason = models.ForeignKey(DowntimeReason, on_delete=models.CASCADE, related_name="fault_codes")

    class Meta:
        ordering = ["tag", "value"]
        constraints = [models.UniqueConstraint(fields=["tag", "value"], name="fault_code_unique_value")]

    def __str__(self) -> str:
        return f"{self.tag.path} = {self.value}: {self.reason}"

    def clean(self) -> None:
        if self.tag_id is None or self.reason_id is None:
            return
        if self.tag.is_text:
            raise ValidationError({"tag": f"{self.tag.path} is a string tag; fault codes are numbers."})
        if not self.tag.historize:
            raise ValidationError({"tag": f"{self.tag.path} is not historized: stops are classified from history."})
        if self.reason.category.site_id != self.tag.machine.line.area.site_id:
            raise ValidationError({"reason": f"{self.reason} is a reason of another site than {self.tag.path}'s."})


# State intervals


class TsTzRange(models.Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class StateInterval(models.Model):
    """One stretch of a machine's state: [start, end), end null while it lasts. Intervals of one machine never
    overlap (an exclusion constraint on the time range).

    `auto_reason` is what the PLC's fault codes said; `reason` the stop's reason as it stands (the automatic one,
    `auto_classified`, or one an operator chose, who and when in classified_by / classified_at)."""

    machine = models.ForeignKey("historian.Machine", on_delete=models.CASCADE, related_name="state_intervals")
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=MachineState.choices)
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    auto_reason = models.ForeignKey(DowntimeReason, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reason = models.ForeignKey(DowntimeReason, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    auto_classified = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    classified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    classified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["machine", "start"]
        indexes = [models.Index(fields=["machine", "start"], name="state_interval_machine_start")]
        permissions = [
            ("classify_downtime", "Can classify, split and comment stops in the areas granted (DowntimeArea)"),
            ("classify_downtime_any_area", "Can classify, split and comment stops in every area"),
        ]
        constraints = [
            ExclusionConstraint(
                name="state_interval_no_overlap",
                expressions=[
                    (TsTzRange("start", "end", RangeBoundary()), RangeOperators.OVERLAPS),
                    ("machine", RangeOperators.EQUAL),
                ],
                violation_error_message="This interval overlaps another state interval of the same machine.",
            ),
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gt=models.F("start")),
                name="state_interval_end_after_start",
                violation_error_message="An interval ends after it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.machine} {self.get_state_display()} {self.start:%Y-%m-%d %H:%M:%S} - {self.end or '...'}"

    def as_kpi(self) -> kpis.StateInterval:
        """As production.kpis takes it (select_related reason and product to read many)."""
        return kpis.StateInterval(
            start=self.start,
            end=self.end,
            state=kpis.MachineState(self.state),
            reason=self.reason.as_kpi() if self.reason is not None else None,
            product=self.product.code if self.product is not None else None,
        )

    @property
    def manually_classified(self) -> bool:
        return (
            self.classified_by_id is not None
            or bool(self.comment)
            or (self.reason_id is not None and not self.auto_classified)
        )


# Downtime work from the floor: what operators said, kept apart from the derived intervals so that it survives
# their derivation again (late values, a rebuild after a change of the state mapping).


class StopClassification(models.Model):
    """What an operator said of the stop that starts at `start` on `machine`: its reason (null: none chosen, the
    automatic one stands), comment, who and when. production.services.intervals applies it to the interval that
    starts there whenever that interval is derived again."""

    machine = models.ForeignKey("historian.Machine", on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    reason = models.ForeignKey(DowntimeReason, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    comment = models.TextField(blank=True)
    classified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    classified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["machine", "start"]
        constraints = [models.UniqueConstraint(fields=["machine", "start"], name="stop_classification_unique")]

    def __str__(self) -> str:
        return f"{self.machine} {self.start:%Y-%m-%d %H:%M:%S}: {self.reason or 'no reason'}"


class StopSplit(models.Model):
    """An instant at which an operator split a stop in two (a breakdown that turned into a changeover): the
    derivation cuts the interval holding it there, each part classified on its own."""

    machine = models.ForeignKey("historian.Machine", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["machine", "at"]
        constraints = [models.UniqueConstraint(fields=["machine", "at"], name="stop_split_unique")]

    def __str__(self) -> str:
        return f"{self.machine} split at {self.at:%Y-%m-%d %H:%M:%S}"


class DowntimeArea(AreaGrant):
    """Where holders of production.classify_downtime may classify stops: an area, for a group (e.g. "Line 1
    operators") or for one user. Holders of production.classify_downtime_any_area need none."""

    class Meta(AreaGrant.Meta):
        verbose_name = "downtime classification area"
        constraints = [group_xor_user("downtime_area_group_xor_user")]


# KPI summaries (a cache of production.queries.kpis)

#: The Kpis fields a summary keeps as columns (summed in SQL over machines and segments).
SUMMARY_FLOAT_FIELDS = (
    "calendar_time",
    "non_scheduled_time",
    "planned_operation_time",
    "planned_downtime",
    "planned_busy_time",
    "actual_production_time",
    "running_time",
    "running_unplanned",
    "unit_down_time",
    "setup_time",
    "delay_time",
    "breakdowns",
    "setup_adjustments",
    "small_stops",
    "reduced_speed",
    "startup_rejects_time",
    "production_rejects_time",
    "unclassified",
    "no_data",
    "produced",
    "good",
    "startup_rejects",
    "net_production_time",
    "fully_productive_time",
    "failure_time",
)
SUMMARY_INT_FIELDS = ("micro_stops", "failure_events", "failures_carried")


class KpiSummary(models.Model):
    """One machine's KPIs (production.kpis.Kpis, its fields as columns) over one closed segment of time: the
    stretches between its calendar's shift boundaries and local midnights, so that any shift, day, week or range
    of whole segments is a SQL sum. Materialised on first request once the segment is closed, deleted when
    something it was computed from changes (services/summaries.py); never edited."""

    machine = models.ForeignKey("historian.Machine", on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    computed_at = models.DateTimeField(auto_now_add=True)
    products_missing_ideal_cycle_time = models.TextField(blank=True, help_text="Product codes, comma separated")
    calendar_time = models.FloatField(default=0.0)
    non_scheduled_time = models.FloatField(default=0.0)
    planned_operation_time = models.FloatField(default=0.0)
    planned_downtime = models.FloatField(default=0.0)
    planned_busy_time = models.FloatField(default=0.0)
    actual_production_time = models.FloatField(default=0.0)
    running_time = models.FloatField(default=0.0)
    running_unplanned = models.FloatField(default=0.0)
    unit_down_time = models.FloatField(default=0.0)
    setup_time = models.FloatField(default=0.0)
    delay_time = models.FloatField(default=0.0)
    breakdowns = models.FloatField(default=0.0)
    setup_adjustments = models.FloatField(default=0.0)
    small_stops = models.FloatField(default=0.0)
    reduced_speed = models.FloatField(default=0.0)
    startup_rejects_time = models.FloatField(default=0.0)
    production_rejects_time = models.FloatField(default=0.0)
    unclassified = models.FloatField(default=0.0)
    no_data = models.FloatField(default=0.0)
    produced = models.FloatField(default=0.0)
    good = models.FloatField(default=0.0)
    startup_rejects = models.FloatField(default=0.0)
    net_production_time = models.FloatField(default=0.0)
    fully_productive_time = models.FloatField(default=0.0)
    failure_time = models.FloatField(default=0.0)
    micro_stops = models.IntegerField(default=0)
    failure_events = models.IntegerField(default=0)
    failures_carried = models.IntegerField(default=0)  # a failure already in PBT before the segment (0 or 1)

    class Meta:
        ordering = ["machine", "start"]
        constraints = [models.UniqueConstraint(fields=["machine", "start"], name="kpi_summary_unique_segment")]
        indexes = [models.Index(fields=["machine", "end"], name="kpi_summary_machine_end")]

    def __str__(self) -> str:
        return f"{self.machine_id} {self.start:%Y-%m-%d %H:%M} - {self.end:%H:%M}"


class LossSummary(models.Model):
    """Seconds of planned busy time one machine lost in one segment, by reason (reason null: `kind` says what:
    unclassified, a short stop without a reason, a micro-stop, no data), for the loss Pareto."""

    summary = models.ForeignKey(KpiSummary, on_delete=models.CASCADE, related_name="losses")
    kind = models.CharField(max_length=20)
    reason = models.ForeignKey(DowntimeReason, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    seconds = models.FloatField()

    class Meta:
        ordering = ["summary", "kind"]

    def __str__(self) -> str:
        return f"{self.kind} {self.reason_id or ''} {self.seconds:g} s"


class ShiftReport(models.Model):
    """A line's report over one shift (or, on demand, any range): its PDF and XLSX, kept in the database as bytes.

    Bytes in the database, not files: the web process that serves a download and the Celery worker that wrote it
    need no shared volume, the reports go with the database's backups and retention, and a report is tens of KB.
    A shift's report exists once per line and shift (the unique constraint): the beat task may run any number of
    times."""

    line = models.ForeignKey("historian.Line", on_delete=models.CASCADE, related_name="shift_reports")
    shift_name = models.CharField(max_length=100, blank=True, help_text="Empty: a report on demand over any range")
    start = models.DateTimeField()
    end = models.DateTimeField()
    generated_at = models.DateTimeField()
    requested_by = models.CharField(max_length=150, blank=True)
    pdf = models.BinaryField()
    xlsx = models.BinaryField()
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-start", "-generated_at"]
        # Generating a report on demand costs the server a PDF and an XLSX over any range: operators may, a wall
        # screen (which only views) may not.
        permissions = [("request_shift_report", "Generate a line's report on demand")]
        indexes = [models.Index(fields=["line", "-start"], name="production_report_line_start")]
        constraints = [
            models.UniqueConstraint(
                fields=["line", "shift_name", "start"], condition=~Q(shift_name=""), name="production_report_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line} {self.shift_name or 'range'} {self.start:%Y-%m-%d %H:%M}"

    @property
    def file_stem(self) -> str:
        label = self.shift_name or "range"
        stem = f"{self.line.name}-{self.start:%Y%m%d-%H%M}-{label}"
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)


class ShiftReportRecipient(models.Model):
    """Who receives a line's shift reports: an email notification route (alarms), so the addresses are kept once."""

    line = models.ForeignKey("historian.Line", on_delete=models.CASCADE, related_name="report_recipients")
    route = models.ForeignKey(
        "alarms.NotificationRoute",
        on_delete=models.CASCADE,
        related_name="+",
        limit_choices_to={"channel": "email"},
        help_text="An email route: its addresses receive the line's reports (its priority and area do not apply)",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["line", "route"], name="production_report_recipient_once")]

    def __str__(self) -> str:
        return f"{self.line} -> {self.route}"

    def clean(self) -> None:
        from alarms.models import Channel

        if self.route_id is not None and self.route.channel != Channel.EMAIL:
            raise ValidationError({"route": "Reports go by email: pick an email route."})
