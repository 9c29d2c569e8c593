"""Shift reports: a line's figures over a shift (or any range) as a PDF and an XLSX, stored, and emailed.

What a report holds, all read through production.queries (the figures equal the KPI pages' and the API's): the
line's OEE with availability, performance and quality; output against plan per machine (plan: the quantity the
machine would have made at its ideal cycle time over the planned busy time, i.e. PBT / (net production time /
produced), so good / plan is the OEE); the top losses (the loss Pareto); each machine's state timeline, drawn as a
band in the PDF and listed in the XLSX; the line's process-alarm activations.

Text that comes from people or PLCs (reason names, comments, alarm messages) is written to XLSX cells as strings,
never as formulas (as common/csv.py guards CSV). The beat task (production/tasks.py) calls
`shift_reports_run_due` every minute: each shift that ended at least DELAY ago (late data), and not longer than
LOOKBACK ago, gets its report once per line (the model's unique constraint), then is mailed to the line's routes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone
from fpdf import FPDF
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

from alarms.queries.journal import line_activations
from alarms.services.notifications import route_addresses
from historian.models import Line, Machine
from production.calendar import calendar_shifts
from production.kpis import Kpis
from production.models import MachineState, ShiftCalendar, ShiftReport, ShiftReportRecipient
from production.queries.intervals import machine_timeline
from production.queries.kpis import (
    ParetoRow,
    Scope,
    ScopeKind,
    kpis_total,
    line_calendar,
    loss_pareto,
    machines_kpis,
    scope_machine_ids,
)

logger = logging.getLogger(__name__)

#: A shift's report waits this long after its end, for late values (store-and-forward, backfills).
DELAY = timedelta(minutes=5)
#: Shifts that ended longer ago than this are not reported by the beat task (a fresh install, a long outage).
LOOKBACK = timedelta(days=1)
TOP_LOSSES = 10
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

STATE_COLOURS: dict[str, tuple[int, int, int]] = {
    MachineState.RUNNING: (46, 160, 67),
    MachineState.IDLE: (240, 190, 50),
    MachineState.BLOCKED: (250, 140, 40),
    MachineState.SETUP: (80, 140, 220),
    MachineState.PLANNED_STOP: (150, 150, 150),
    MachineState.UNPLANNED_DOWN: (210, 50, 50),
    MachineState.OFF: (60, 60, 60),
}


@dataclass(frozen=True, slots=True)
class MachineRow:
    name: str
    kpis: Kpis

    @property
    def plan(self) -> float | None:
        """Parts at the ideal cycle time over the planned busy time (None: nothing made, no ideal rate known)."""
        k = self.kpis
        if k.produced <= 0 or k.net_production_time <= 0 or k.products_missing_ideal_cycle_time:
            return None
        return k.planned_busy_time / (k.net_production_time / k.produced)


@dataclass(frozen=True, slots=True)
class ReportData:
    line: str
    where: str
    title: str
    start: datetime
    end: datetime
    tz: ZoneInfo
    kpis: Kpis
    machines: list[MachineRow]
    losses: list[ParetoRow]
    timelines: list[tuple[str, list[dict]]]
    alarms: list[dict]

    def local(self, instant: datetime) -> str:
        return instant.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")


def report_data(*, line_id: int, start: datetime, end: datetime, title: str, now: datetime | None = None) -> ReportData:
    """What a report of the line over [start, end) shows (cut at now)."""
    now = now or timezone.now()
    line = Line.objects.select_related("area__site").get(pk=line_id)
    tz = line_calendar(line_id, site_timezone=line.area.site.timezone).tz
    machine_ids = scope_machine_ids(Scope(ScopeKind.LINE, line_id))
    by_machine = machines_kpis(machine_ids=machine_ids, start=start, end=end, now=now)
    names = dict(Machine.objects.filter(pk__in=machine_ids).values_list("pk", "name"))
    order = sorted(machine_ids, key=lambda mid: names.get(mid, ""))
    alarms = [
        {
            "time": entry.time,
            "priority": entry.priority,
            "alarm": entry.alarm_name,
            "tag": entry.tag_path,
            "message": entry.message,
            "value": entry.value,
        }
        for entry in line_activations(line_id=line_id, start=start, end=min(end, now))
    ]
    return ReportData(
        line=line.name,
        where=f"{line.area.site.name} / {line.area.name} / {line.name}",
        title=title,
        start=start,
        end=end,
        tz=tz,
        kpis=kpis_total(by_machine.values()),
        machines=[MachineRow(names.get(mid, str(mid)), by_machine[mid]) for mid in order if mid in by_machine],
        losses=loss_pareto(scope=Scope(ScopeKind.LINE, line_id), start=start, end=end, now=now)[:TOP_LOSSES],
        timelines=[
            (names.get(mid, str(mid)), machine_timeline(machine_id=mid, start=start, end=end, now=now)) for mid in order
        ],
        alarms=alarms,
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


# -- XLSX -----------------------------------------------------------------------------------------------------------


def _cell(cell: Cell, value: object) -> None:
    """A value in a cell; text always stays text (a reason or message starting with "=" is no formula)."""
    cell.value = value  # type: ignore[assignment]  # stub gap: the rows are numbers, text, datetimes, None
    if isinstance(value, str):
        cell.data_type = "s"


def _sheet_rows(sheet: Worksheet, rows: Sequence[Sequence[object]]) -> None:
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            assert isinstance(cell, Cell)  # nothing is merged in these sheets
            _cell(cell, value)


def _naive_local(data: ReportData, instant: datetime) -> datetime:
    return instant.astimezone(data.tz).replace(tzinfo=None)  # Excel has no time zones: the plant's wall clock


def report_xlsx(data: ReportData) -> bytes:
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    k = data.kpis
    plans = [row.plan for row in data.machines]
    plan = None if any(p is None for p in plans) or not plans else sum(p for p in plans if p is not None)
    _sheet_rows(
        summary,
        [
            ["Line", data.where],
            ["Report", data.title],
            ["Start", _naive_local(data, data.start)],
            ["End", _naive_local(data, data.end)],
            ["Time zone", str(data.tz)],
            [],
            ["OEE", k.oee],
            ["Availability", k.availability],
            ["Performance", k.performance],
            ["Quality", k.quality],
            ["Planned busy time (s)", k.planned_busy_time],
            ["Actual production time (s)", k.actual_production_time],
            ["Produced", k.produced],
            ["Good", k.good],
            ["Rejects", k.rejects],
            ["Plan", plan],
        ],
    )
    machines = book.create_sheet("Machines")
    _sheet_rows(
        machines,
        [["Machine", "Produced", "Good", "Rejects", "Plan", "Availability", "Performance", "Quality", "OEE"]]
        + [
            [
                row.name,
                row.kpis.produced,
                row.kpis.good,
                row.kpis.rejects,
                row.plan,
                row.kpis.availability,
                row.kpis.performance,
                row.kpis.quality,
                row.kpis.oee,
            ]
            for row in data.machines
        ],
    )
    losses = book.create_sheet("Losses")
    _sheet_rows(losses, [["Loss", "Kind", "Seconds"]] + [[r.label, str(r.kind), r.seconds] for r in data.losses])
    timeline = book.create_sheet("Timeline")
    _sheet_rows(
        timeline,
        [["Machine", "Start", "End", "Seconds", "State", "Product", "Reason", "Comment"]]
        + [
            [
                name,
                _naive_local(data, datetime.fromisoformat(band["start"])),
                _naive_local(data, datetime.fromisoformat(band["end"])),
                band["duration_s"],
                band["state_label"],
                band["product"] or "",
                (band["reason"] or {}).get("name", ""),
                band["comment"],
            ]
            for name, bands in data.timelines
            for band in bands
        ],
    )
    alarms = book.create_sheet("Alarms")
    _sheet_rows(
        alarms,
        [["Time", "Priority", "Alarm", "Tag", "Message", "Value"]]
        + [
            [_naive_local(data, a["time"]), a["priority"], a["alarm"], a["tag"], a["message"], a["value"]]
            for a in data.alarms
        ],
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- PDF ------------------------------------------------------------------------------------------------------------


def _latin(text: str) -> str:
    """The PDF's core font is Latin-1: other characters become '?' rather than failing the report."""
    return text.encode("latin-1", "replace").decode("latin-1")


def report_pdf(data: ReportData) -> bytes:
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def text(line: str, *, size: int = 9, bold: bool = False, h: float = 5) -> None:
        pdf.set_font("Helvetica", "B" if bold else "", size)
        pdf.cell(width, h, _latin(line), new_x="LMARGIN", new_y="NEXT")

    def table(header: list[str], rows: list[list[str]], widths: list[float]) -> None:
        pdf.set_font("Helvetica", "B", 8)
        for w, h in zip(widths, header, strict=True):
            pdf.cell(w, 5, _latin(h), border="B")
        pdf.ln(5)
        pdf.set_font("Helvetica", "", 8)
        for row in rows:
            for w, value in zip(widths, row, strict=True):
                pdf.cell(w, 4.5, _latin(value)[:90])
            pdf.ln(4.5)
        pdf.ln(2)

    k = data.kpis
    text(f"{data.title}: {data.line}", size=14, bold=True, h=8)
    text(f"{data.where}    {data.local(data.start)} to {data.local(data.end)} ({data.tz})")
    pdf.ln(2)
    text(
        f"OEE {_percent(k.oee)}    Availability {_percent(k.availability)}    "
        f"Performance {_percent(k.performance)}    Quality {_percent(k.quality)}",
        size=11,
        bold=True,
        h=7,
    )
    text(
        f"Planned busy time {_hours(k.planned_busy_time)}    Actual production time "
        f"{_hours(k.actual_production_time)}    Produced {_number(k.produced)}    Good {_number(k.good)}"
    )
    pdf.ln(2)
    text("Output against plan", bold=True, size=10, h=6)
    table(
        ["Machine", "Produced", "Good", "Rejects", "Plan", "Good / plan", "A", "P", "Q", "OEE"],
        [
            [
                row.name,
                _number(row.kpis.produced),
                _number(row.kpis.good),
                _number(row.kpis.rejects),
                _number(row.plan),
                _percent(row.kpis.good / row.plan if row.plan else None),
                _percent(row.kpis.availability),
                _percent(row.kpis.performance),
                _percent(row.kpis.quality),
                _percent(row.kpis.oee),
            ]
            for row in data.machines
        ],
        [60, 24, 24, 24, 24, 24, 20, 20, 20, 20],
    )
    text("Top losses", bold=True, size=10, h=6)
    table(
        ["Loss", "Minutes"],
        [[r.label, f"{r.seconds / 60:.1f}"] for r in data.losses] or [["No loss", ""]],
        [120, 30],
    )
    text("State timeline", bold=True, size=10, h=6)
    _timeline_draw(pdf, data, width)
    text(f"Alarms ({len(data.alarms)})", bold=True, size=10, h=6)
    table(
        ["Time", "Priority", "Alarm", "Message"],
        [[data.local(a["time"]), a["priority"], a["alarm"], a["message"]] for a in data.alarms]
        or [["None", "", "", ""]],
        [40, 20, 60, 150],
    )
    return bytes(pdf.output())


def _timeline_draw(pdf: FPDF, data: ReportData, width: float) -> None:
    """Each machine's states as a band of coloured rectangles over [start, end), a legend under them."""
    label_w = 45
    band_w = width - label_w
    span = (data.end - data.start).total_seconds()
    pdf.set_font("Helvetica", "", 8)
    for name, bands in data.timelines:
        if pdf.will_page_break(8):
            pdf.add_page()
        y = pdf.get_y()
        pdf.cell(label_w, 6, _latin(name)[:28])
        x0 = pdf.l_margin + label_w
        pdf.set_draw_color(120, 120, 120)
        pdf.rect(x0, y, band_w, 6)
        for band in bands:
            a = (datetime.fromisoformat(band["start"]) - data.start).total_seconds() / span
            b = (datetime.fromisoformat(band["end"]) - data.start).total_seconds() / span
            pdf.set_fill_color(*STATE_COLOURS.get(band["state"], (200, 200, 200)))
            pdf.rect(x0 + a * band_w, y, max((b - a) * band_w, 0.2), 6, style="F")
        pdf.set_xy(pdf.l_margin, y + 8)
    x = pdf.l_margin + label_w
    y = pdf.get_y()
    for state, label in MachineState.choices:
        pdf.set_fill_color(*STATE_COLOURS[state])
        pdf.rect(x, y + 1, 3, 3, style="F")
        pdf.set_xy(x + 4, y)
        pdf.cell(34, 5, _latin(label))
        x += 38
    pdf.set_xy(pdf.l_margin, y + 8)


# -- storing, scheduling, sending -----------------------------------------------------------------------------------


def shift_report_create(
    *,
    line_id: int,
    start: datetime,
    end: datetime,
    shift_name: str = "",
    requested_by: str = "",
    now: datetime | None = None,
) -> ShiftReport:
    """The line's report over [start, end), generated and stored. A shift's (shift_name given) exists once: asked
    again, the stored one is returned."""
    if end <= start:
        raise ValueError("the report's end must be after its start")
    now = now or timezone.now()
    if shift_name:
        found = ShiftReport.objects.filter(line_id=line_id, shift_name=shift_name, start=start).first()
        if found is not None:
            return found
    title = f"Shift report {shift_name}" if shift_name else "Production report"
    data = report_data(line_id=line_id, start=start, end=end, title=title, now=now)
    report = ShiftReport(
        line_id=line_id,
        shift_name=shift_name,
        start=start,
        end=end,
        generated_at=now,
        requested_by=requested_by,
        pdf=report_pdf(data),
        xlsx=report_xlsx(data),
    )
    try:
        with transaction.atomic():
            report.save()
    except IntegrityError:  # another worker stored the same shift's meanwhile
        return ShiftReport.objects.get(line_id=line_id, shift_name=shift_name, start=start)
    return report


def shift_reports_due(*, now: datetime) -> list[tuple[int, str, datetime, datetime]]:
    """(line, shift name, start, end) of every shift of a line with production machines and a calendar that ended
    between LOOKBACK and DELAY ago and has no report yet."""
    due = []
    line_ids = sorted(
        {line for line in Machine.objects.filter(production__isnull=False).values_list("line_id", flat=True)}
    )
    for line in Line.objects.filter(pk__in=line_ids).select_related("area__site").order_by("pk"):
        if ShiftCalendar.for_line(line.pk) is None:
            continue
        calendar = line_calendar(line.pk, site_timezone=line.area.site.timezone)
        latest = now - DELAY
        shifts = [
            s
            for s in calendar_shifts(calendar, start=now - LOOKBACK - timedelta(days=1), end=latest)
            if now - LOOKBACK <= s.end <= latest
        ]
        done = set(
            ShiftReport.objects.filter(line=line, start__in=[s.start for s in shifts])
            .exclude(shift_name="")
            .values_list("shift_name", "start")
        )
        due += [(line.pk, s.name, s.start, s.end) for s in shifts if (s.name, s.start) not in done]
    return due


def shift_report_send(*, report_id: int, now: datetime | None = None) -> int:
    """Mail the report (PDF and XLSX attached) to the line's recipients' routes; returns how many addresses."""
    report = ShiftReport.objects.select_related("line").get(pk=report_id)
    routes = [r.route for r in ShiftReportRecipient.objects.filter(line_id=report.line_id, route__enabled=True)]
    addresses = sorted({address for route in routes for address in route_addresses(route)})
    if not addresses:
        return 0
    message = EmailMessage(
        subject=f"[Millwright] {report}"[:200],
        body=f"The production report of {report.line} from {report.start:%Y-%m-%d %H:%M} to "
        f"{report.end:%Y-%m-%d %H:%M} UTC is attached (PDF and XLSX).",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=addresses,
    )
    message.attach(f"{report.file_stem}.pdf", bytes(report.pdf), "application/pdf")
    message.attach(f"{report.file_stem}.xlsx", bytes(report.xlsx), XLSX_TYPE)
    try:
        message.send()
    except OSError as exc:  # smtplib errors are OSErrors
        logger.warning("shift report %s not mailed: %s", report.pk, exc)
        ShiftReport.objects.filter(pk=report.pk).update(email_error=str(exc)[:500])
        return 0
    ShiftReport.objects.filter(pk=report.pk).update(emailed_at=now or timezone.now(), email_error="")
    return len(addresses)


def shift_reports_run_due(*, now: datetime | None = None) -> list[int]:
    """Generate the reports of the shifts that just ended and mail them; the new reports' ids."""
    now = now or timezone.now()
    created = []
    for line_id, name, start, end in shift_reports_due(now=now):
        report = shift_report_create(line_id=line_id, shift_name=name, start=start, end=end, now=now)
        if report.generated_at == now:  # made by this run, not by a concurrent one
            created.append(report.pk)
            shift_report_send(report_id=report.pk, now=now)
    return created
