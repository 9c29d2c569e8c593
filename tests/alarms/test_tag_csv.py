"""Alarm definitions in the tag CSV: the `alarms` column round-trips, and its changes are diffed and applied."""

import json

import pytest
from auditlog.models import LogEntry

from alarms.models import AlarmDefinition
from historian.models import Tag
from historian.services.tag_csv import tag_export_csv, tag_import_csv
from tests.factories import DeviceFactory, MachineFactory, ScanClassFactory, TagFactory
from tests.historian.services.tag_csv.support import export_text, rows_of, write_rows


@pytest.fixture
def tags(db) -> dict[str, Tag]:
    machine = MachineFactory(name="M", line__name="L", line__area__name="A", line__area__site__name="S")
    device = DeviceFactory(name="PLC")
    scan = ScanClassFactory(name="Fast", period_ms=1000)
    made = {}
    for i, name in enumerate(["temp", "setpoint", "state"]):
        made[name] = TagFactory(name=name, machine=machine, device=device, scan_class=scan, address=f"HR{i * 2}")
    temp = made["temp"]
    AlarmDefinition.objects.create(tag=temp, name="High", kind="hi", limit=80.5, priority="high", message="{value}")
    AlarmDefinition.objects.create(tag=temp, name="Low", kind="lo", limit=-0.1, deadband=0.5, message="cold")
    AlarmDefinition.objects.create(
        tag=temp,
        name="Off setpoint",
        kind="deviation",
        limit=5.0,
        setpoint_tag=made["setpoint"],
        suppress_tag=made["state"],
        suppress_when="ne",
        suppress_value=1.0,
        on_delay_seconds=10.0,
        message="Deviates by {value}",
    )
    return made


def _rows() -> list[dict[str, str]]:
    return rows_of(export_text())


def _alarms(row: dict[str, str]) -> dict[str, dict]:
    return {a["name"]: a for a in json.loads(row["alarms"])}


def test_alarm_definitions_round_trip_with_the_tags_they_refer_to(tags):
    text = "".join(tag_export_csv())
    temp = next(r for r in _rows() if r["path"] == "S/A/L/M.temp")
    assert _alarms(temp)["Off setpoint"]["setpoint_tag"] == "S/A/L/M.setpoint"
    assert _alarms(temp)["Low"]["limit"] == -0.1

    report = tag_import_csv(file=text, dry_run=False, actor=None)

    assert (report.unchanged, report.updated, report.errors) == (3, [], [])
    assert "".join(tag_export_csv()) == text


def test_a_changed_limit_a_new_alarm_and_a_removed_one_are_diffed_then_applied_and_audited(tags):
    rows = _rows()
    temp = next(r for r in rows if r["path"] == "S/A/L/M.temp")
    alarms = _alarms(temp)
    alarms["High"]["limit"] = 90.0
    del alarms["Low"]
    alarms["HiHi"] = {"name": "HiHi", "kind": "hihi", "limit": 95, "message": "very hot", "priority": "critical"}
    temp["alarms"] = json.dumps(list(alarms.values()))
    high = AlarmDefinition.objects.get(name="High")

    dry = tag_import_csv(file=write_rows(rows), dry_run=True, actor=None)
    assert [(c.path, list(c.changes)) for c in dry.updated] == [("S/A/L/M.temp", ["alarms"])]
    assert AlarmDefinition.objects.count() == 3

    tag_import_csv(file=write_rows(rows), dry_run=False, actor=None)

    assert set(AlarmDefinition.objects.values_list("name", "limit")) == {
        ("High", 90.0),
        ("HiHi", 95.0),
        ("Off setpoint", 5.0),
    }
    update = LogEntry.objects.get(object_pk=str(high.pk), action=LogEntry.Action.UPDATE)
    assert update.changes_dict == {"limit": ["80.5", "90.0"]}
    assert LogEntry.objects.filter(action=LogEntry.Action.DELETE, object_repr__contains="Low").exists()


def test_alarm_mistakes_are_reported_on_the_tag_line(tags):
    rows = _rows()
    rows[0]["alarms"] = '[{"name": "High", "kind": "hi", "message": "no limit"}]'
    rows[1]["alarms"] = '[{"name": "Dev", "kind": "deviation", "limit": 1, "message": "x", "setpoint_tag": "S/nope"}]'
    rows[2]["alarms"] = '{"name": "not a list"}'

    report = tag_import_csv(file=write_rows(rows), dry_run=True, actor=None)

    errors = {e.line: e.message for e in report.errors}
    assert errors == {
        2: "alarms: alarm 'High': limit: This kind of alarm needs a limit.",
        3: "alarms: alarm 'Dev': setpoint_tag 'S/nope' is no tag (neither in the database nor in this file); "
        "alarms: alarm 'Dev': setpoint_tag: A deviation alarm needs the tag that holds its setpoint.",
        4: 'alarms: must be a JSON list of alarms, e.g. [{"name": "High", "kind": "hi"}]',
    }


def test_a_new_tag_can_carry_an_alarm_on_another_new_tag_of_the_same_file(tags):
    rows = _rows()
    base = next(r for r in rows if r["path"] == "S/A/L/M.temp")
    pv = dict(base, path="S/A/L/M.pressure", address="HR10", machine_state="false")
    sp = dict(base, path="S/A/L/M.pressure_sp", address="HR12", alarms="", machine_state="false")
    pv["alarms"] = json.dumps(
        [{"name": "Dev", "kind": "deviation", "limit": 2, "message": "off", "setpoint_tag": "S/A/L/M.pressure_sp"}]
    )

    report = tag_import_csv(file=write_rows([*rows, pv, sp]), dry_run=False, actor=None)

    assert report.errors == []
    assert len(report.created) == 2
    definition = AlarmDefinition.objects.get(tag__path="S/A/L/M.pressure", name="Dev")
    assert definition.setpoint_tag.path == "S/A/L/M.pressure_sp"
