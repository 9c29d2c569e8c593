"""Alarm pages: the live list, one alarm's detail, the history (search, CSV export) and the performance KPIs.
Views stay thin. Security alarms (and their journal entries and evidence) only for alarms.view_security_alarms."""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from alarms.models import AlarmCategory, AlarmState, Priority
from alarms.queries.alarm_list import alarm_detail
from alarms.queries.journal import CSV_COLUMNS, JournalFilter, journal_csv_chunk, journal_search
from alarms.queries.kpi import alarm_kpis
from alarms.services.actions import PERM_ACKNOWLEDGE, PERM_SHELVE, PERM_VIEW, may_see_security
from alarms.state_machine import Event
from common.csv import csv_async, csv_stream_chunks
from historian.models import Area, Line

HISTORY_PAGE_ROWS = 500
MAX_RANGE = timedelta(days=366)
SHELVE_CHOICES = (10, 30, 60, 120, 240, 480, 720)
EXPORT_DATA = "historian.export_data"


class RangeError(ValueError):
    pass


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise RangeError(f"{raw!r} is not a date and time such as 2026-03-01T08:00.") from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _range(request: HttpRequest, *, default: timedelta) -> tuple[datetime, datetime]:
    end = _parse_time(request.GET.get("end")) or timezone.now()
    start = _parse_time(request.GET.get("start")) or end - default
    if end <= start:
        raise RangeError("The end must be after the start.")
    if end - start > MAX_RANGE:
        raise RangeError("Choose at most a year.")
    return start, end


def _local_input(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _int_or_none(raw: str | None, name: str) -> int | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise RangeError(f"{name} must be a number.") from None


def _journal_filter(request: HttpRequest) -> JournalFilter:
    start, end = _range(request, default=timedelta(hours=24))
    priority = request.GET.get("priority", "")
    event = request.GET.get("event", "")
    if priority and priority not in Priority.values:
        raise RangeError("Unknown priority.")
    if event and event not in {e.value for e in Event}:
        raise RangeError("Unknown event.")
    category = request.GET.get("category", "")
    if category and category not in AlarmCategory.values:
        raise RangeError("Unknown category.")
    return JournalFilter(
        start=start,
        end=end,
        text=request.GET.get("q", "").strip()[:200],
        area_id=_int_or_none(request.GET.get("area"), "area"),
        priority=priority,
        event=event,
        alarm_id=_int_or_none(request.GET.get("alarm"), "alarm"),
        category=category,
        security=may_see_security(request.user),
    )


@login_required
@permission_required(PERM_VIEW, raise_exception=True)
@require_GET
def alarm_list_page(request: HttpRequest) -> HttpResponse:
    permissions = {"acknowledge": request.user.has_perm(PERM_ACKNOWLEDGE), "shelve": request.user.has_perm(PERM_SHELVE)}
    security = may_see_security(request.user)
    return render(
        request,
        "alarms/list.html",
        {
            "areas": Area.objects.order_by("name"),
            "lines": Line.objects.select_related("area").order_by("area__name", "name"),
            "priorities": Priority.choices,
            "states": [(s, label) for s, label in AlarmState.choices if s != AlarmState.NORMAL],
            "can_acknowledge": permissions["acknowledge"],
            "can_shelve": permissions["shelve"],
            "permissions_json": permissions,
            "shelve_choices": [m for m in SHELVE_CHOICES if m <= settings.ALARMS_MAX_SHELVE_MINUTES],
            "can_see_security": security,
            "categories": AlarmCategory.choices,
            "category": request.GET.get("category", "") if security else "",
        },
    )


@login_required
@permission_required(PERM_VIEW, raise_exception=True)
@require_GET
def alarm_detail_page(request: HttpRequest, alarm_id: int) -> HttpResponse:
    """One alarm: where it is, its state, a security alarm's evidence (as text), and its latest journal entries."""
    security = may_see_security(request.user)
    alarm = alarm_detail(alarm_id=alarm_id, security=security)
    if alarm is None:  # a security alarm is "not found" for those who may not see it, as a missing one is
        raise Http404("No such alarm.")
    end = timezone.now()
    recent = journal_search(f=JournalFilter(start=end - MAX_RANGE, end=end, alarm_id=alarm_id, security=security))
    return render(
        request,
        "alarms/detail.html",
        {
            "alarm": alarm,
            "evidence": json.dumps(alarm["evidence"], indent=2, sort_keys=True, ensure_ascii=False)
            if alarm["evidence"] is not None
            else None,
            "entries": list(recent[:50]),
        },
    )


@login_required
@permission_required(PERM_VIEW, raise_exception=True)
@require_GET
def alarm_history_page(request: HttpRequest) -> HttpResponse:
    context: dict = {
        "areas": Area.objects.order_by("name"),
        "priorities": Priority.choices,
        "events": [e.value for e in Event],
        "query": request.GET,
        "start": request.GET.get("start", ""),
        "end": request.GET.get("end", ""),
    }
    try:
        f = _journal_filter(request)
    except RangeError as exc:
        context["error"] = str(exc)
        return render(request, "alarms/history.html", context, status=400)
    entries = list(journal_search(f=f)[: HISTORY_PAGE_ROWS + 1])
    context |= {
        "entries": entries[:HISTORY_PAGE_ROWS],
        "truncated": len(entries) > HISTORY_PAGE_ROWS,
        "limit": HISTORY_PAGE_ROWS,
        "start": _local_input(f.start),
        "end": _local_input(f.end),
        "export_query": request.GET.urlencode(),
    }
    return render(request, "alarms/history.html", context)


def _journal_chunks(f: JournalFilter) -> Iterator[list[list]]:
    """The journal's entries, one keyset page at a time (the id that ends each row is left out)."""
    after = None
    while chunk := journal_csv_chunk(f=f, after=after):
        # The evidence (last column before the id) as JSON text, which the CSV writer guards like any text.
        yield [
            [row[0].isoformat(), *row[1:-2], json.dumps(row[-2], sort_keys=True) if row[-2] is not None else None]
            for row in chunk
        ]
        after = (chunk[-1][0], chunk[-1][-1])


@login_required
@permission_required([PERM_VIEW, EXPORT_DATA], raise_exception=True)
@require_GET
def alarm_history_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    try:
        f = _journal_filter(request)
    except RangeError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    # common.csv: text cells (comments, user names, messages) through the formula guard; an async iterator, so
    # that ASGI streams the journal instead of collecting it first.
    content = csv_async(csv_stream_chunks(CSV_COLUMNS, _journal_chunks(f)))
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    name = f"alarm-journal-{f.start:%Y%m%d%H%M}-{f.end:%Y%m%d%H%M}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@permission_required(PERM_VIEW, raise_exception=True)
@require_GET
def alarm_kpi_page(request: HttpRequest) -> HttpResponse:
    context: dict = {"query": request.GET, "start": request.GET.get("start", ""), "end": request.GET.get("end", "")}
    try:
        start, end = _range(request, default=timedelta(hours=24))
    except RangeError as exc:
        context["error"] = str(exc)
        return render(request, "alarms/kpi.html", context, status=400)
    kpis = alarm_kpis(start=start, end=end, now=timezone.now())
    context |= {"kpis": kpis, "start": _local_input(start), "end": _local_input(end)}
    return render(request, "alarms/kpi.html", context)
