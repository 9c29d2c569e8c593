"""What the OEE view, the loss Pareto page and the plant overview's cards show, as plain JSON-ready values, read
through production.queries.kpis (the one KPI implementation) and the state intervals."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from enum import StrEnum

from django.utils import timezone

from historian.models import Line, Machine
from production.calendar import local_to_utc, shift_at
from production.kpis import Kpis
from production.models import StateInterval
from production.queries.kpis import (
    LossKind,
    Scope,
    ScopeKind,
    line_calendar,
    line_shift_kpis,
    loss_pareto,
    scope_machine_ids,
)

ROLLING = timedelta(hours=24)
MAX_RANGE = timedelta(days=92)


class ParetoRange(StrEnum):
    SHIFT = "shift"  # the line's current shift (the default)
    DAY = "24h"  # the last 24 hours
    DATES = "dates"  # local dates, first to last inclusive


def _ms(at: datetime | None) -> int | None:
    return round(at.timestamp() * 1000) if at is not None else None


def _figures(k: Kpis) -> dict[str, float | None]:
    return {"availability": k.availability, "performance": k.performance, "quality": k.quality, "oee": k.oee}


def line_oee(*, line_id: int, now: datetime | None = None) -> dict:
    """A line's current shift: each machine's A, P, Q and OEE and the line's (None outside every shift)."""
    now = now or timezone.now()
    names = dict(Machine.objects.filter(line_id=line_id).values_list("pk", "name"))
    current = line_shift_kpis(line_id=line_id, now=now)
    machine_ids = sorted(scope_machine_ids(Scope(ScopeKind.LINE, line_id)), key=lambda m: (names.get(m, ""), m))
    empty = Kpis()
    return {
        "line": line_id,
        "at": _ms(now),
        "shift": None
        if current is None
        else {
            "name": current.shift.name,
            "date": current.shift.date.isoformat(),
            "start": _ms(current.shift.start),
            "end": _ms(current.shift.end),
        },
        "kpis": _figures(current.kpis if current else empty),
        "machines": [
            {"id": m, "name": names.get(m, str(m)), **_figures(current.machines.get(m, empty) if current else empty)}
            for m in machine_ids
        ],
    }


def pareto_window(
    *, line_id: int, kind: ParetoRange, first: str | None = None, last: str | None = None, now: datetime | None = None
) -> tuple[datetime, datetime] | None:
    """The range a Pareto covers: the current shift (None outside every shift), the last 24 h, or local dates
    `first` to `last` (ISO, inclusive) in the line's time zone. ValueError for dates that make no range."""
    now = now or timezone.now()
    line = Line.objects.select_related("area__site").get(pk=line_id)
    calendar = line_calendar(line_id, site_timezone=line.area.site.timezone)
    if kind is ParetoRange.SHIFT:
        shift = shift_at(calendar, now)
        return None if shift is None else (shift.start, min(shift.end, now))
    if kind is ParetoRange.DAY:
        return now - ROLLING, now
    if not first or not last:
        raise ValueError("A date range needs a first and a last date.")
    a, b = datetime.fromisoformat(first).date(), datetime.fromisoformat(last).date()
    start = local_to_utc(calendar.tz, datetime.combine(a, time()))
    end = local_to_utc(calendar.tz, datetime.combine(b + timedelta(days=1), time()))
    if end <= start:
        raise ValueError("The last date must not be before the first.")
    if end - start > MAX_RANGE:
        raise ValueError(f"At most {MAX_RANGE.days} days.")
    return start, end


def line_pareto(*, line_id: int, start: datetime, end: datetime, now: datetime | None = None) -> list[dict]:
    """Minutes lost over [start, end) on the line by reason, largest first (Unclassified one row)."""
    rows = loss_pareto(scope=Scope(ScopeKind.LINE, line_id), start=start, end=end, now=now)
    return [
        {
            "label": r.label,
            "kind": str(r.kind),
            "reason": r.reason_id,
            "minutes": round(r.seconds / 60, 2),
            "unclassified": r.kind is LossKind.UNCLASSIFIED,
        }
        for r in rows
    ]


def overview_production(*, machine_ids: Iterable[int], now: datetime | None = None) -> dict[int, dict]:
    """Per machine of the overview: its current shift's OEE (None outside shifts or unconfigured) and since when
    it is in its current state (epoch ms of its open interval's start, None without one)."""
    return overview_production_lines(machine_ids=machine_ids, now=now)[0]


def overview_production_lines(
    *, machine_ids: Iterable[int], now: datetime | None = None
) -> tuple[dict[int, dict], dict[int, float | None]]:
    """overview_production's machines, and the current shift's OEE of each line holding one of them in a state
    (a line's heading on the overview and the wall screen); lines without a shift or data are left out."""
    now = now or timezone.now()
    ids = set(machine_ids)
    out: dict[int, dict] = {m: {"oee": None, "state": None, "since": None} for m in ids}
    line_oee_now: dict[int, float | None] = {}
    # One read: each machine's open interval (derivation keeps one open per configured machine with data); the
    # lines holding one get their current shift's KPIs.
    lines: set[int] = set()
    for m, line_id, state, start in StateInterval.objects.filter(machine_id__in=ids, end__isnull=True).values_list(
        "machine_id", "machine__line_id", "state", "start"
    ):
        out[m]["state"] = state
        out[m]["since"] = _ms(start)
        lines.add(line_id)
    for line_id in sorted(lines):
        current = line_shift_kpis(line_id=line_id, now=now)
        if current is None:
            continue
        line_oee_now[line_id] = current.kpis.oee
        for m, k in current.machines.items():
            if m in out:
                out[m]["oee"] = k.oee
    return out, line_oee_now


def overview_lines(*, machine_ids: Iterable[int]) -> set[int]:
    """The lines of the overview's machines (whose stop changes move their cards' figures)."""
    return set(Machine.objects.filter(pk__in=list(machine_ids)).values_list("line_id", flat=True))
