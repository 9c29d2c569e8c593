"""The production pages: who may open them, what they carry, and operators' text kept inert."""

import json

import pytest
import time_machine
from django.urls import reverse

from accounts.services.roles import Role
from production.models import DowntimeArea, ShiftPattern
from production.services.downtime import stop_comment
from tests.factories import LineFactory, UserFactory
from tests.production.conftest import at
from tests.production.engineered import _store
from tests.production.factories import ProductCycleTimeFactory, ShiftCalendarFactory, ShiftPatternFactory

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture
def stopped(line):
    line.store(0, state=1, product=1, fault=0)
    line.store(60, state=6, fault=17)
    line.store(600, state=1, fault=0)
    return line


def _alarm_at(machine, seconds: float, event: str = "activate"):
    from alarms.models import JournalEntry

    return JournalEntry.objects.create(
        time=at(seconds), alarm_id=1, event=event, state="unack_active", previous_state="normal", priority="high",
        alarm_name="HiHi", tag_path="m.temp", message="Motor hot", area_id=machine.line.area_id,
        line_id=machine.line_id, machine_id=machine.pk,
    )  # fmt: skip


def _urls(line) -> list[str]:
    machine = line.config.machine
    return [
        reverse("production:line_downtime", args=[machine.line_id]),
        reverse("production:machine_timeline", args=[machine.pk]),
        reverse("production:line_oee", args=[machine.line_id]),
        reverse("production:line_pareto", args=[machine.line_id]),
    ]


def test_the_pages_need_a_sign_in_and_the_plant_view_permission(client, stopped):
    for url in _urls(stopped):
        client.logout()
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
        client.force_login(UserFactory(role=None))
        assert client.get(url).status_code == 403
        for role in Role:
            client.force_login(UserFactory(role=role))
            assert client.get(url).status_code == 200, (url, role)
    client.force_login(UserFactory(role=Role.OPERATOR))
    assert client.get(reverse("production:line_downtime", args=[999999])).status_code == 404
    assert client.get(reverse("production:machine_timeline", args=[999999])).status_code == 404


def test_the_downtime_page_says_whether_the_operator_may_classify_this_line(client, stopped):
    machine = stopped.config.machine
    url = reverse("production:line_downtime", args=[machine.line_id])
    granted, other = UserFactory(role=Role.OPERATOR), UserFactory(role=Role.OPERATOR)
    DowntimeArea.objects.create(area=machine.line.area, user=granted)

    def config(user) -> dict:
        client.force_login(user)
        response = client.get(url)
        page = response.content.decode()
        carried = page.split('id="downtime-config" type="application/json">')[1].split("</script>")[0]
        assert json.loads(carried) == response.context["config"]
        return response.context["config"]

    assert config(granted)["can_classify"] is True
    assert config(other)["can_classify"] is False
    assert [c["reasons"][0]["name"] for c in config(granted)["reasons"]] == ["Jam"]


def test_the_timeline_shows_the_shift_holding_the_instant_and_keeps_a_hostile_comment_inert(client, stopped):
    from production.models import StateInterval

    machine = stopped.config.machine
    operator = UserFactory(role=Role.ENGINEER)
    stop = StateInterval.objects.get(machine=machine, state="unplanned_down")
    stop_comment(interval_id=stop.pk, comment=HOSTILE, user=operator)
    calendar = ShiftCalendarFactory(site=machine.line.area.site)
    ShiftPatternFactory(calendar=calendar, name="Early", weekdays=[0, 1, 2, 3, 4, 5, 6])  # 06:00 + 8 h
    assert ShiftPattern.objects.count() == 1
    client.force_login(operator)
    stopped.store(900, product=2)  # a changeover without a stop
    _alarm_at(machine, 120)
    _alarm_at(machine, 130, event="acknowledge")  # not an activation: not marked
    _alarm_at(machine, 9 * 3600)  # after the shift

    with time_machine.travel(at(3600), tick=False):
        response = client.get(reverse("production:machine_timeline", args=[machine.pk]), {"at": at(300).isoformat()})

    assert response.status_code == 200
    html = response.content.decode()
    assert HOSTILE not in html
    assert "<img src=x" not in html
    timeline = response.context["timeline"]
    assert (timeline["start"], timeline["end"]) == (at(0).isoformat(), at(8 * 3600).isoformat())
    assert [(b["state"], b["duration_s"]) for b in timeline["bands"]] == [
        ("running", 60.0),
        ("unplanned_down", 540.0),
        ("running", 300.0),
        ("running", 2700.0),  # product 2, open: up to the clock
    ]
    assert [(m["kind"], m["at"], m["text"]) for m in timeline["marks"]] == [
        ("alarm", at(120).isoformat(), "high alarm: Motor hot"),
        ("product", at(900).isoformat(), "Product 2"),
    ]
    assert timeline["bands"][1]["comment"] == HOSTILE  # as data, escaped by json_script, drawn as text
    assert "Early shift 2026-03-01" in response.context["window"].label


def test_a_lines_reports_page_generates_on_demand_lists_and_downloads(client, night):
    from production.models import ShiftReport
    from tests.production.engineered import END, S

    line = night.config.machine.line
    url = reverse("production:line_reports", args=[line.pk])
    client.force_login(UserFactory(role=None))
    assert client.get(url).status_code == 403
    assert client.post(reverse("production:line_report_create", args=[line.pk])).status_code == 403
    client.force_login(UserFactory(role=Role.WALL_SCREEN))  # sees the reports, generates none
    wall_page = client.get(url)
    assert wall_page.status_code == 200
    assert 'id="report-form"' not in wall_page.content.decode()
    assert client.post(reverse("production:line_report_create", args=[line.pk])).status_code == 403
    operator = UserFactory(role=Role.OPERATOR)
    client.force_login(operator)
    form = {"start": S.strftime("%Y-%m-%dT%H:%M"), "end": END.strftime("%Y-%m-%dT%H:%M")}

    assert 'id="report-form"' in client.get(url).content.decode()
    refused = client.post(reverse("production:line_report_create", args=[line.pk]), {**form, "end": form["start"]})
    assert refused.status_code == 200
    assert "The end must be after the start." in refused.content.decode()
    response = client.post(reverse("production:line_report_create", args=[line.pk]), form)

    assert response.status_code == 302
    report = ShiftReport.objects.get()
    assert (report.start, report.end, report.shift_name, report.requested_by) == (S, END, "", operator.username)
    page = client.get(url)
    assert page.status_code == 200
    assert list(page.context["reports"]) == [report]
    pdf = client.get(reverse("production:line_report_download", args=[line.pk, report.pk, "pdf"]))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert f'filename="{report.file_stem}.pdf"' in pdf["Content-Disposition"]
    xlsx = client.get(reverse("production:line_report_download", args=[line.pk, report.pk, "xlsx"]))
    assert xlsx.content == bytes(report.xlsx)
    other = LineFactory()
    assert client.get(reverse("production:line_report_download", args=[other.pk, report.pk, "pdf"])).status_code == 404
    assert client.get(reverse("production:line_report_download", args=[line.pk, report.pk, "exe"])).status_code == 404


def test_the_pareto_page_takes_a_range_and_refuses_dates_that_make_none(client, stopped):
    line_id = stopped.config.machine.line_id
    url = reverse("production:line_pareto", args=[line_id])
    client.force_login(UserFactory(role=Role.OPERATOR))

    def config(response) -> dict:
        html = response.content.decode()
        return json.loads(html.split('id="pareto-config" type="application/json">')[1].split("</script>")[0])

    assert config(client.get(url))["range"] == "shift"  # the default
    assert config(client.get(url, {"range": "24h"}))["range"] == "24h"
    dated = config(client.get(url, {"range": "dates", "first": "2026-03-01", "last": "2026-03-02"}))
    assert (dated["range"], dated["first"], dated["last"]) == ("dates", "2026-03-01", "2026-03-02")
    assert dated["downtime_url"] == reverse("production:line_downtime", args=[line_id])
    backwards = client.get(url, {"range": "dates", "first": "2026-03-02", "last": "2026-03-01"})
    assert config(backwards)["range"] == "shift"
    assert "The last date must not be before the first." in backwards.content.decode()
    assert client.get(url, {"range": "year"}).status_code == 404


def test_the_overview_cards_carry_the_current_shifts_oee_and_since_when_the_state_holds(client, line):
    from production.queries.kpis import machines_kpis

    machine = line.config.machine
    ShiftPatternFactory(
        calendar=ShiftCalendarFactory(site=machine.line.area.site), name="Early", weekdays=[0, 1, 2, 3, 4, 5, 6]
    )
    ProductCycleTimeFactory(machine_production=line.config, product=line.p1, ideal_cycle_seconds=12)
    with time_machine.travel(at(900), tick=False):
        line.store(0, state=1, product=1, fault=0)
        _store(line, at(0), {"total": 0, "good": 0})
        line.store(60, state=6, fault=17)
        line.store(600, state=1, fault=0)
        _store(line, at(600), {"total": 8, "good": 7})
        client.force_login(UserFactory(role=Role.OPERATOR))
        html = client.get(reverse("dashboards:plant_overview")).content.decode()
        expected = machines_kpis(machine_ids=[machine.pk], start=at(0), end=at(900))[machine.pk]
    data = json.loads(html.split('id="machines-data" type="application/json">')[1].split("</script>")[0])
    [card] = [m for m in data if m["id"] == machine.pk]
    assert card["production"]["state"] == "running"
    assert card["production"]["since"] == round(at(600).timestamp() * 1000)
    assert card["production"]["oee"] == pytest.approx(expected.oee)
    assert 0 < card["production"]["oee"] < 1
    assert f'data-oee-for="{machine.pk}"' in html
    assert reverse("production:line_oee", args=[machine.line_id]) in html
    # The line's heading: its current shift's OEE (one machine: the machine's).
    lines = json.loads(html.split('id="lines-data" type="application/json">')[1].split("</script>")[0])["lines"]
    [heading] = [row for row in lines if row["id"] == machine.line_id]
    assert heading["oee"] == pytest.approx(expected.oee)
