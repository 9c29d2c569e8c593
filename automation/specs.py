"""What a rule's `condition` and `actions` documents say, validated and resolved against the configuration.

Condition (one per rule), by `type`:
- `tag`: `{"type": "tag", "tag": "<tag path>", "comparison": ">", "value": 9.0, "for_seconds": 30}`: the tag's
  value compares true (> >= < <= == !=) with every good value for `for_seconds`;
- `alarm`: `{"type": "alarm", "tag": "<tag path>", "alarm": "<definition name>", "state": "active"}` (or
  `"unacknowledged"`): an alarm definition's state;
- `kpi`: `{"type": "kpi", "machine": "<site/area/line/machine>", "kpi": "oee", "below": 0.6}` (or `"line":
  "<site/area/line>"`; `kpi`: `oee` or `availability`): the current shift's figure below a threshold (0..1);
- `schedule`: `{"type": "schedule", "daily": "06:00"}` (the plant's time zone) or `{"type": "schedule", "cron":
  "*/15 6-22 * * 1-5"}` (minute hour day month weekday, in the plant's time zone).

Actions (a list), by `type`: `write` (`tag`, `value`: through the tag's write policy), `device_out_of_service`
(`device`), `notify` (`route`: an alarms notification route's name, `message`), and whatever another app
registers (automation/actions.py: `action_kind_register`, e.g. a maintenance work request).

Rules never acknowledge, shelve or suppress alarms: no action does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

from alarms.models import AlarmDefinition
from automation.evaluator import COMPARISONS
from historian.models import Line, Machine, Site, Tag

ALARM_STATES = ("active", "unacknowledged")
KPIS = ("oee", "availability")
MAX_HOLD_SECONDS = 7 * 86400


@dataclass(frozen=True, slots=True)
class TagCondition:
    tag_id: int
    tag_path: str
    comparison: str
    threshold: float
    hold_seconds: float


@dataclass(frozen=True, slots=True)
class AlarmCondition:
    definition_id: int
    label: str
    state: str


@dataclass(frozen=True, slots=True)
class KpiCondition:
    machine_id: int | None
    line_id: int
    label: str
    kpi: str
    below: float


@dataclass(frozen=True, slots=True)
class ScheduleCondition:
    timezone: str
    daily: time | None = None
    cron: Cron | None = None

    def matches(self, at: datetime) -> bool:
        """Is `at` (a minute, any zone) a due time?"""
        local = at.astimezone(ZoneInfo(self.timezone))
        if self.daily is not None:
            return (local.hour, local.minute) == (self.daily.hour, self.daily.minute)
        assert self.cron is not None
        return self.cron.matches(local)


Condition = TagCondition | AlarmCondition | KpiCondition | ScheduleCondition


# -- cron -------------------------------------------------------------------------------------------------------

_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))


@dataclass(frozen=True, slots=True)
class Cron:
    """Five cron fields (minute hour day month weekday, weekday 0 = Sunday); `*`, `*/n`, `a-b`, `a-b/n`, lists."""

    fields: tuple[frozenset[int], ...]

    @classmethod
    def parse(cls, text: str) -> Cron:
        parts = str(text).split()
        if len(parts) != 5:
            raise ValidationError(f"A cron schedule has five fields (minute hour day month weekday), not {text!r}.")
        return cls(tuple(_cron_field(part, *spec) for part, spec in zip(parts, _CRON_FIELDS, strict=True)))

    def matches(self, local: datetime) -> bool:
        minute, hour, day, month, weekday = self.fields
        return (
            local.minute in minute
            and local.hour in hour
            and local.day in day
            and local.month in month
            and (local.isoweekday() % 7) in weekday
        )


def _cron_field(part: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in part.split(","):
        match = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", item)
        if match is None:
            raise ValidationError(f"Cron {name} field {part!r}: {item!r} is not *, n, a-b or a step.")
        span, step = match.group(1), int(match.group(2) or 1)
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (int(x) for x in span.split("-"))
        else:
            first = last = int(span)
        if not low <= first <= last <= high or step < 1:
            raise ValidationError(f"Cron {name} field {part!r}: outside {low}..{high}.")
        values.update(range(first, last + 1, step))
    return frozenset(values)


# -- actions ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """One resolved action: its kind, what it is on (for people) and its parameters (ids resolved)."""

    kind: str
    label: str
    params: dict[str, Any]


# -- validation -------------------------------------------------------------------------------------------------


def _number(document: dict, key: str, what: str) -> float:
    value = document.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValidationError(f"{what}: {key!r} must be a number, not {value!r}.")
    return float(value)


def _tag(path: Any, what: str) -> Tag:
    tag = Tag.objects.filter(path=str(path)).first() if isinstance(path, str) else None
    if tag is None:
        raise ValidationError(f"{what}: no tag {path!r}.")
    return tag


def site_timezone() -> str:
    """The plant's time zone (its one site's; UTC when there are several or none)."""
    zones = set(Site.objects.values_list("timezone", flat=True))
    return zones.pop() if len(zones) == 1 else "UTC"


def condition_resolve(document: Any) -> Condition:
    """The condition a document says, with its references resolved; ValidationError saying what is wrong."""
    if not isinstance(document, dict):
        raise ValidationError("The condition must be an object with a 'type'.")
    kind = document.get("type")
    if kind == "tag":
        tag = _tag(document.get("tag"), "Tag condition")
        comparison = document.get("comparison")
        if comparison not in COMPARISONS:
            raise ValidationError(f"Tag condition: comparison {comparison!r} is not one of {' '.join(COMPARISONS)}.")
        threshold = _number(document, "value", "Tag condition")
        hold = _number(document | {"for_seconds": document.get("for_seconds", 0)}, "for_seconds", "Tag condition")
        if not 0 <= hold <= MAX_HOLD_SECONDS:
            raise ValidationError(f"Tag condition: for_seconds must be between 0 and {MAX_HOLD_SECONDS}.")
        return TagCondition(tag.pk, tag.path, str(comparison), threshold, hold)
    if kind == "alarm":
        tag = _tag(document.get("tag"), "Alarm condition")
        definition = AlarmDefinition.objects.filter(tag=tag, name=str(document.get("alarm", ""))).first()
        if definition is None:
            raise ValidationError(f"Alarm condition: {tag.path} has no alarm {document.get('alarm')!r}.")
        state = document.get("state", "active")
        if state not in ALARM_STATES:
            raise ValidationError(f"Alarm condition: state must be one of {', '.join(ALARM_STATES)}, not {state!r}.")
        return AlarmCondition(definition.pk, f"{definition.name} on {tag.path}", str(state))
    if kind == "kpi":
        kpi = document.get("kpi")
        if kpi not in KPIS:
            raise ValidationError(f"KPI condition: kpi must be one of {', '.join(KPIS)}, not {kpi!r}.")
        below = _number(document, "below", "KPI condition")
        if not 0 < below <= 1:
            raise ValidationError("KPI condition: 'below' is a ratio between 0 and 1 (0.6 for 60 %).")
        if "machine" in document:
            machine = _machine(document["machine"])
            return KpiCondition(machine.pk, machine.line_id, str(document["machine"]), str(kpi), below)
        if "line" in document:
            line = _line(document["line"])
            return KpiCondition(None, line.pk, str(document["line"]), str(kpi), below)
        raise ValidationError("KPI condition: name a 'machine' or a 'line'.")
    if kind == "schedule":
        zone = str(document.get("timezone") or site_timezone())
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"Schedule: unknown time zone {zone!r}.") from None
        if "daily" in document:
            match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(document["daily"]))
            if match is None:
                raise ValidationError(f"Schedule: daily time {document['daily']!r} is not HH:MM.")
            return ScheduleCondition(zone, daily=time(int(match.group(1)), int(match.group(2))))
        if "cron" in document:
            return ScheduleCondition(zone, cron=Cron.parse(document["cron"]))
        raise ValidationError("Schedule: give 'daily' (HH:MM) or 'cron'.")
    raise ValidationError(f"Unknown condition type {kind!r}: tag, alarm, kpi or schedule.")


def _line(path: Any) -> Line:
    parts = str(path).split("/")
    if len(parts) != 3:
        raise ValidationError(f"A line is named site/area/line, not {path!r}.")
    line = Line.objects.filter(area__site__name=parts[0], area__name=parts[1], name=parts[2]).first()
    if line is None:
        raise ValidationError(f"No line {path!r}.")
    return line


def _machine(path: Any) -> Machine:
    parts = str(path).split("/")
    if len(parts) != 4:
        raise ValidationError(f"A machine is named site/area/line/machine, not {path!r}.")
    machine = Machine.objects.filter(
        line__area__site__name=parts[0], line__area__name=parts[1], line__name=parts[2], name=parts[3]
    ).first()
    if machine is None:
        raise ValidationError(f"No machine {path!r}.")
    return machine


def actions_resolve(documents: Any) -> list[Action]:
    """The actions a document says; ValidationError naming the first wrong one."""
    from automation.actions import action_kinds

    if not isinstance(documents, list) or not documents:
        raise ValidationError("Actions must be a non-empty list.")
    kinds = action_kinds()
    resolved = []
    for index, document in enumerate(documents, start=1):
        if not isinstance(document, dict) or document.get("type") not in kinds:
            kind = document.get("type") if isinstance(document, dict) else document
            raise ValidationError(f"Action {index}: unknown type {kind!r} (one of {', '.join(sorted(kinds))}).")
        try:
            resolved.append(kinds[document["type"]].resolve(document))
        except ValidationError as error:
            raise ValidationError(f"Action {index}: {'; '.join(error.messages)}") from None
    return resolved
