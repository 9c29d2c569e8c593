"""Reads of the state intervals for the floor: a line's stops (the downtime list), a machine's state timeline,
and a site's reason tree (the two-tap picker); for the API and the exports, intervals and stops over a range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from alarms.queries.journal import machine_activations
from production.calendar import calendar_shifts, shift_at
from production.models import DowntimeCategory, MachineProduction, MachineState, ShiftCalendar, StateInterval

#: The states the downtime list shows: every stop, not running and not "off / not scheduled" (no downtime).
STOP_STATES = (
    MachineState.IDLE,
    MachineState.BLOCKED,
    MachineState.SETUP,
    MachineState.PLANNED_STOP,
    MachineState.UNPLANNED_DOWN,
)
STATE_LABELS = dict(MachineState.choices)


def _ms(instant: datetime | None) -> int | None:
    return round(instant.timestamp() * 1000) if instant is not None else None


def _reason(reason: Any) -> dict | None:
    if reason is None:
        return None
    return {"id": reason.pk, "name": reason.name, "category": reason.category.name, "planned": reason.planned}


def _stops() -> QuerySet[StateInterval]:
    return StateInterval.objects.filter(state__in=STOP_STATES).select_related(
        "machine__production", "product", "reason__category", "auto_reason__category", "classified_by"
    )


def stop_row(interval: StateInterval, *, now: datetime) -> dict:
    """A stop as the downtime page shows it (times in epoch ms; what operators typed is plain text the page
    escapes)."""
    end = interval.end or now
    config = getattr(interval.machine, "production", None)
    required = config.reason_required_seconds if config is not None else 0
    duration = max(0.0, (end - interval.start).total_seconds())
    return {
        "id": interval.pk,
        "machine_id": interval.machine_id,
        "machine": interval.machine.name,
        "start": _ms(interval.start),
        "end": _ms(interval.end),
        "open": interval.end is None,
        "duration_s": round(duration, 1),
        "state": interval.state,
        "state_label": STATE_LABELS.get(interval.state, interval.state),
        "product": interval.product.code if interval.product is not None else None,
        "auto_reason": _reason(interval.auto_reason),
        "reason": _reason(interval.reason),
        "auto_classified": interval.auto_classified,
        "overridden": interval.auto_reason_id is not None and not interval.auto_classified,
        "unclassified": interval.reason_id is None,
        "reason_required": interval.reason_id is None and duration >= required,
        "comment": interval.comment,
        "classified_by": interval.classified_by.get_username() if interval.classified_by is not None else None,
        "classified_at": _ms(interval.classified_at),
    }


def stops_sort(rows: list[dict]) -> list[dict]:
    """Unclassified first, then newest first."""
    return sorted(rows, key=lambda r: (not r["unclassified"], -r["start"], -r["id"]))


def line_stops(
    *, line_id: int, start: datetime, end: datetime | None = None, now: datetime | None = None
) -> list[dict]:
    """The stops of a line's machines that overlap [start, end) (end None: up to now), unclassified first."""
    now = now or timezone.now()
    stops = _stops().filter(machine__line_id=line_id).filter(Q(end__isnull=True) | Q(end__gt=start))
    if end is not None:
        stops = stops.filter(start__lt=end)
    return stops_sort([stop_row(iv, now=now) for iv in stops])


def machine_stops_since(*, machine_id: int, since: datetime, now: datetime | None = None) -> list[dict]:
    """A machine's stops still open or ending at or after `since` (what a derivation or an operator changed)."""
    now = now or timezone.now()
    stops = _stops().filter(machine_id=machine_id).filter(Q(end__isnull=True) | Q(end__gte=since))
    return [stop_row(iv, now=now) for iv in stops.order_by("start")]


def reason_tree(*, site_id: int) -> list[dict]:
    """The site's downtime categories, each with its reasons (the picker: category, then reason)."""
    return [
        {
            "id": category.pk,
            "name": category.name,
            "reasons": [
                {"id": r.pk, "name": r.name, "planned": r.planned, "loss": r.loss} for r in category.reasons.all()
            ],
        }
        for category in DowntimeCategory.objects.filter(site_id=site_id).prefetch_related("reasons")
        if category.reasons.all()
    ]


def machine_timeline(*, machine_id: int, start: datetime, end: datetime, now: datetime | None = None) -> list[dict]:
    """A machine's state intervals over [start, end), clipped to it: the band of the state timeline."""
    now = min(now or timezone.now(), end)
    intervals = (
        StateInterval.objects.filter(machine_id=machine_id, start__lt=end)
        .filter(Q(end__isnull=True) | Q(end__gt=start))
        .select_related("product", "reason__category", "auto_reason__category")
        .order_by("start")
    )
    rows = []
    for iv in intervals:
        band_start = max(iv.start, start)
        band_end = min(iv.end or now, end)
        if band_end <= band_start:
            continue
        rows.append(
            {
                "id": iv.pk,
                "start": band_start.astimezone(UTC).isoformat(),
                "end": band_end.astimezone(UTC).isoformat(),
                "duration_s": round((band_end - band_start).total_seconds(), 1),
                "state": iv.state,
                "state_label": STATE_LABELS.get(iv.state, iv.state),
                "product": iv.product.code if iv.product is not None else None,
                "reason": _reason(iv.reason),
                "auto_reason": _reason(iv.auto_reason),
                "auto_classified": iv.auto_classified,
                "comment": iv.comment,
                "open": iv.end is None,
            }
        )
    return rows


def machine_timeline_marks(*, machine_id: int, start: datetime, end: datetime) -> list[dict]:
    """What the timeline marks on its band: product changes (where an interval's product differs from the one
    before it) and the machine's alarm activations, in [start, end), oldest first."""
    marks = []
    previous = (
        StateInterval.objects.filter(machine_id=machine_id, start__lt=start)
        .order_by("-start")
        .values_list("product__code", flat=True)
        .first()
    )
    intervals = StateInterval.objects.filter(machine_id=machine_id, start__gte=start, start__lt=end).order_by("start")
    for at, product in intervals.values_list("start", "product__code"):
        if product != previous and previous is not None and product is not None:
            marks.append({"kind": "product", "at": at.astimezone(UTC).isoformat(), "text": f"Product {product}"})
        previous = product if product is not None else previous
    for entry in machine_activations(machine_id=machine_id, start=start, end=end):
        marks.append(
            {
                "kind": "alarm",
                "at": entry.time.astimezone(UTC).isoformat(),
                "text": f"{entry.priority} alarm: {entry.message or entry.alarm_name}",
            }
        )
    return sorted(marks, key=lambda m: m["at"])


@dataclass(frozen=True, slots=True)
class TimelineWindow:
    """The stretch a state timeline shows: a shift of the line's calendar, or FALLBACK_WINDOW up to the instant
    asked for where there is no calendar or no shift then; with the instants of the previous and next one."""

    label: str
    start: datetime
    end: datetime
    previous: datetime
    next: datetime


FALLBACK_WINDOW = timedelta(hours=8)


def timeline_window(*, line_id: int, at: datetime) -> TimelineWindow:
    found = ShiftCalendar.for_line(line_id)
    if found is not None:
        calendar = found.calendar()
        shift = shift_at(calendar, at)
        if shift is not None:
            before = calendar_shifts(calendar, start=shift.start - timedelta(days=7), end=shift.start)
            after = calendar_shifts(calendar, start=shift.end, end=shift.end + timedelta(days=7))
            local = shift.start.astimezone(calendar.tz)
            return TimelineWindow(
                label=f"{shift.name} shift {shift.date.isoformat()} from {local:%H:%M} ({calendar.tz.key})",
                start=shift.start,
                end=shift.end,
                previous=before[-1].start if before else shift.start - FALLBACK_WINDOW,
                next=after[0].start if after else shift.end,
            )
    return TimelineWindow(
        label=f"{FALLBACK_WINDOW.total_seconds() / 3600:g} hours to {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        start=at - FALLBACK_WINDOW,
        end=at,
        previous=at - FALLBACK_WINDOW,
        next=at + FALLBACK_WINDOW,
    )


# The API and the exports: intervals and stops of several machines over a range.


def intervals_in_range(*, machine_ids: Sequence[int], start: datetime, end: datetime) -> QuerySet[StateInterval]:
    """The intervals of the machines overlapping [start, end), by machine and time (whole, not cut to the range)."""
    return (
        StateInterval.objects.filter(machine_id__in=machine_ids, start__lt=end)
        .filter(Q(end__isnull=True) | Q(end__gt=start))
        .select_related("machine", "product", "reason__category", "auto_reason", "classified_by")
        .order_by("machine_id", "start")
    )


def stops_in_range(*, machine_ids: Sequence[int], start: datetime, end: datetime) -> QuerySet[StateInterval]:
    """The stops (every state but running and off) overlapping [start, end), newest first."""
    return (
        intervals_in_range(machine_ids=machine_ids, start=start, end=end)
        .exclude(state__in=[MachineState.RUNNING, MachineState.OFF])
        .order_by("-start", "machine_id")
    )


def reason_required_seconds(machine_ids: Sequence[int]) -> dict[int, int]:
    """Each machine's reason-required threshold (a stop without a reason longer than it is Unclassified)."""
    return dict(
        MachineProduction.objects.filter(machine_id__in=machine_ids).values_list(
            "machine_id", "reason_required_seconds"
        )
    )
