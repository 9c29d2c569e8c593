"""Reading the alarm journal: search for the history page and its CSV export."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from alarms.models import AlarmCategory, JournalEntry

CSV_COLUMNS = (
    "time", "alarm_id", "alarm_name", "category", "tag_path", "priority", "event", "previous_state", "state",
    "value", "username", "comment", "message", "evidence",
)  # fmt: skip


@dataclass(frozen=True)
class JournalFilter:
    start: datetime
    end: datetime
    text: str = ""
    area_id: int | None = None
    priority: str = ""
    event: str = ""
    alarm_id: int | None = None
    category: str = ""
    #: Whether the reader may see security alarms (alarms.view_security_alarms): without it, none of their entries.
    security: bool = False


def journal_search(*, f: JournalFilter) -> QuerySet[JournalEntry]:
    """Entries with start <= time < end matching the filter, newest first (the time range prunes partitions)."""
    qs = JournalEntry.objects.filter(time__gte=f.start, time__lt=f.end)
    if f.text:
        qs = qs.filter(
            Q(message__icontains=f.text)
            | Q(tag_path__icontains=f.text)
            | Q(alarm_name__icontains=f.text)
            | Q(username__icontains=f.text)
            | Q(comment__icontains=f.text)
        )
    if f.area_id is not None:
        qs = qs.filter(area_id=f.area_id)
    if f.priority:
        qs = qs.filter(priority=f.priority)
    if f.event:
        qs = qs.filter(event=f.event)
    if f.alarm_id is not None:
        qs = qs.filter(alarm_id=f.alarm_id)
    if not f.security:
        qs = qs.filter(category=AlarmCategory.PROCESS)
    if f.category:
        qs = qs.filter(category=f.category)
    return qs.order_by("-time", "-id")


def journal_csv_chunk(*, f: JournalFilter, after: tuple[datetime, int] | None, size: int = 2000) -> list[tuple]:
    """The next `size` entries (as CSV_COLUMNS values plus the id) after the (time, id) position, newest first.

    Keyset pagination: every chunk is one short index query, so an export of a year streams in constant memory.
    """
    qs = journal_search(f=f)
    if after is not None:
        qs = qs.filter(Q(time__lt=after[0]) | Q(time=after[0], id__lt=after[1]))
    return list(qs.values_list(*CSV_COLUMNS, "id")[:size])


def machine_activations(*, machine_id: int, start: datetime, end: datetime, limit: int = 200) -> list[JournalEntry]:
    """A machine's alarm activations in [start, end), oldest first (at most `limit`: a flood is not a timeline)."""
    entries = JournalEntry.objects.filter(machine_id=machine_id, event="activate", time__gte=start, time__lt=end)
    return list(entries.order_by("time", "id")[:limit])


def line_activations(*, line_id: int, start: datetime, end: datetime, limit: int = 500) -> list[JournalEntry]:
    """A line's process-alarm activations in [start, end), oldest first (at most `limit`: the shift report's)."""
    entries = JournalEntry.objects.filter(
        line_id=line_id, event="activate", category=AlarmCategory.PROCESS, time__gte=start, time__lt=end
    )
    return list(entries.order_by("time", "id")[:limit])
