"""Production's per-tag configuration in the tag CSV (production/tag_csv.py): the demo's configuration round-trips,
an edited file plans its exact diff and applies it audited, mistakes are reported on their row and change nothing."""

import pytest
from auditlog.models import LogEntry

from demo.plant import SITE_NAME
from demo.production import demo_production_load
from demo.simulator.plant import PRODUCTION_STATES
from demo.simulator.production import FAULT_CODES
from historian.models import Site, Tag
from historian.services.tag_csv import tag_export_csv, tag_import_csv
from production.models import (
    DowntimeCategory,
    DowntimeReason,
    FaultCode,
    MachineProduction,
    MachineState,
    StateMapping,
)
from tests.factories import TagFactory
from tests.historian.services.tag_csv.support import export_text, rows_of, write_rows
from tests.production.factories import MachineProductionFactory


def _rows() -> list[dict[str, str]]:
    return rows_of(export_text())


def _configuration() -> tuple:
    """Everything the columns describe, as plain values."""
    return (
        sorted(
            (c.machine_id, c.state_tag_id, c.total_tag_id, c.good_tag_id, c.reject_tag_id, c.product_tag_id)
            for c in MachineProduction.objects.all()
        ),
        sorted(StateMapping.objects.values_list("machine_production_id", "value", "state")),
        sorted(FaultCode.objects.values_list("tag_id", "value", "reason_id")),
    )


@pytest.fixture
def demo_production(demo_plant) -> Site:
    site = Site.objects.get(name=SITE_NAME)
    assert demo_production_load(site=site) == 2
    return site


def _by_suffix(rows: list[dict[str, str]], suffix: str) -> list[dict[str, str]]:
    return [r for r in rows if r["path"].endswith(suffix)]


def test_the_demo_production_configuration_round_trips(demo_production):
    rows = _rows()
    for state in _by_suffix(rows, ".state"):
        assert state["production_role"] == "state"
        assert state["state_map"] == ";".join(f"{int(v)}={s}" for v, s in sorted(PRODUCTION_STATES.items()))
    for fault in _by_suffix(rows, ".alarm_code"):
        assert fault["production_role"] == "fault"
        assert fault["fault_codes"] == ";".join(f"{v}={v} {text}" for v, (text, _) in sorted(FAULT_CODES.items()))
    assert {r["production_role"] for r in _by_suffix(rows, ".produced_count")} == {"total"}
    assert {r["production_role"] for r in _by_suffix(rows, ".reject_count")} == {"reject"}
    assert {r["production_role"] for r in _by_suffix(rows, ".product")} == {"product"}
    configuration = _configuration()
    entries = LogEntry.objects.count()

    report = tag_import_csv(file="".join(tag_export_csv()), dry_run=False, actor=None)

    assert report.errors == []
    assert report.updated == []
    assert report.unchanged == len(rows)
    assert _configuration() == configuration
    assert LogEntry.objects.count() == entries  # nothing changed, nothing logged


def test_an_edited_file_plans_its_exact_diff_and_applies_it_audited(demo_production, django_user_model):
    user = django_user_model.objects.create_user("engineer", password="x")
    rows = _rows()
    state, fault = _by_suffix(rows, ".state")[0], _by_suffix(rows, ".alarm_code")[0]
    state_before, fault_before = state["state_map"], fault["fault_codes"]
    mapping = dict(e.split("=") for e in state_before.split(";"))
    first, last = min(mapping, key=int), max(mapping, key=int)
    mapping[first] = "blocked"
    del mapping[last]
    mapping["99"] = "off"
    state["state_map"] = ";".join(f"{v}={s}" for v, s in sorted(mapping.items(), key=lambda i: int(i[0])))
    fault["fault_codes"] = "101=205 Hydraulic pressure low;205=205 Hydraulic pressure low;777=Product changeover"
    tag = Tag.objects.get(path=state["path"])
    config = MachineProduction.objects.get(state_tag=tag)

    plan = tag_import_csv(file=write_rows(rows), dry_run=True, actor=user)

    assert plan.errors == []
    assert {(c.path, tuple(c.changes.items())) for c in plan.updated} == {
        (state["path"], (("state_map", (state_before, state["state_map"])),)),
        (fault["path"], (("fault_codes", (fault_before, fault["fault_codes"])),)),
    }
    assert StateMapping.objects.get(machine_production=config, value=int(first)).state != "blocked"

    report = tag_import_csv(file=write_rows(rows), dry_run=False, actor=user)

    assert report.applied
    assert dict(config.state_map.values_list("value", "state")) == {int(v): s for v, s in mapping.items()}
    codes = {c.value: c.reason.name for c in FaultCode.objects.filter(tag__path=fault["path"])}
    assert codes == {101: "205 Hydraulic pressure low", 205: "205 Hydraulic pressure low", 777: "Product changeover"}
    logged = LogEntry.objects.filter(actor=user)
    assert {(e.action, e.object_repr) for e in logged.filter(content_type__model="statemapping")} == {
        (LogEntry.Action.UPDATE, f"{_label(config)}: state {first}"),
        (LogEntry.Action.CREATE, f"{_label(config)}: state 99"),
        (LogEntry.Action.DELETE, f"{int(last)} = {MachineState(PRODUCTION_STATES[int(last)]).label}"),
    }
    assert {(e.action, e.object_repr) for e in logged.filter(content_type__model="faultcode")} >= {
        (LogEntry.Action.UPDATE, f"{fault['path']} = 101"),
        (LogEntry.Action.CREATE, f"{fault['path']} = 777"),
    }
    kept = {101, 205}  # the edited cell keeps these two codes and adds 777: every other demo code is deleted
    deleted = len(set(FAULT_CODES) - kept)
    assert logged.filter(content_type__model="faultcode", action=LogEntry.Action.DELETE).count() == deleted
    again = tag_import_csv(file="".join(tag_export_csv()), dry_run=True, actor=None)
    assert (again.errors, again.updated) == ([], [])


def _label(config: MachineProduction) -> str:
    machine = config.machine
    return f"{machine.line.area.site.name}/{machine.line.area.name}/{machine.line.name}/{machine.name}"


@pytest.fixture
def configured(db) -> MachineProduction:
    config = MachineProductionFactory(codes={-1: MachineState.OFF, 1: MachineState.RUNNING})
    category = DowntimeCategory.objects.create(site=config.machine.line.area.site, name="Mechanical")
    DowntimeReason.objects.create(category=category, name="=SUM(A1)", loss="breakdown")
    DowntimeReason.objects.create(category=category, name="Jam", loss="breakdown")
    other = DowntimeCategory.objects.create(site=config.machine.line.area.site, name="Electrical")
    DowntimeReason.objects.create(category=other, name="Jam", loss="breakdown")
    return config


def test_roles_move_between_tags_and_a_new_tag_takes_one(configured):
    rows = _rows()
    good = next(r for r in rows if r["path"] == configured.good_tag.path)
    reject = dict(good, path=good["path"].rsplit(".", 1)[0] + ".reject", address="HR900", production_role="reject")
    good["production_role"] = ""

    report = tag_import_csv(file=write_rows([*rows, reject]), dry_run=False, actor=None)

    assert report.errors == []
    configured.refresh_from_db()
    assert configured.good_tag is None
    assert configured.reject_tag.path == reject["path"]
    assert [c.changes for c in report.updated] == [{"production_role": ("good", "")}]


def test_formula_like_cells_are_guarded_and_round_trip(configured):
    fault = TagFactory(machine=configured.machine, device=configured.state_tag.device, name="fault")
    FaultCode.objects.create(
        tag=fault,
        value=-5,
        reason=DowntimeReason.objects.get(name="=SUM(A1)"),
    )
    text = "".join(tag_export_csv())
    assert "'-1=off;1=running" in text
    assert "'-5==SUM(A1)" in text
    rows = _rows()
    assert next(r for r in rows if r["path"] == fault.path)["fault_codes"] == "'-5==SUM(A1)"

    report = tag_import_csv(file=text, dry_run=True, actor=None)

    assert (report.errors, report.updated) == ([], [])


def test_mistakes_are_reported_on_their_row_and_column_and_change_nothing(configured):
    rows = _rows()
    by_name = {r["path"].rsplit(".", 1)[1]: r for r in rows}
    lines = {name: rows.index(row) + 2 for name, row in by_name.items()}
    by_name["state"]["state_map"] = "1=running;x=idle;2=sleeping;1=off"
    by_name["total"]["production_role"] = "counter"
    by_name["good"]["fault_codes"] = "17=Coffee break;18=Jam"
    by_name["product"]["state_map"] = "1=running"
    configuration = _configuration()

    report = tag_import_csv(file=write_rows(rows), dry_run=False, actor=None)

    assert {e.line: e.message for e in report.errors} == {
        lines["state"]: "state_map: 'x=idle' is not value=name (e.g. 1=running); state_map: value 1 is given twice; "
        "state_map: 2=sleeping: 'sleeping' is no state (running, idle, blocked, setup, planned_stop, unplanned_down, "
        "off)",
        lines["total"]: "production_role: 'counter' is none of state, total, good, reject, product, fault (or empty)",
        lines["good"]: f"fault_codes: 17=Coffee break: no downtime reason 'Coffee break' in "
        f"{configured.machine.line.area.site.name}'s reason tree; fault_codes: 18=Jam: 'Jam' is a reason in several "
        "categories (Electrical, Mechanical); write it as Category / Jam",
        lines["product"]: "state_map: only the state tag (production_role state) has a state map",
    }
    assert not report.applied
    assert _configuration() == configuration


def test_a_machine_left_without_a_state_tag_or_with_three_counters_is_refused(configured):
    rows = _rows()
    by_name = {r["path"].rsplit(".", 1)[1]: r for r in rows}
    by_name["state"]["production_role"] = ""
    by_name["state"]["state_map"] = ""
    by_name["product"]["production_role"] = "reject"
    configuration = _configuration()

    report = tag_import_csv(file=write_rows(rows), dry_run=False, actor=None)

    machine = configured.machine.name
    assert [e.message for e in report.errors] == [
        f"production_role: machine {machine!r} would have no state tag (give one tag production_role state); "
        f"production_role: machine {machine!r} needs exactly two of the counters total, good, reject, not 3"
    ]
    assert _configuration() == configuration


def test_fault_codes_need_the_fault_role_and_a_fault_role_needs_codes(configured):
    rows = _rows()
    by_name = {r["path"].rsplit(".", 1)[1]: r for r in rows}
    fault = dict(by_name["good"], path=by_name["good"]["path"][:-5] + ".fault", address="HR901")
    fault.update(production_role="", fault_codes="3=Mechanical / Jam")
    alarm = dict(fault, path=fault["path"] + "2", address="HR902", production_role="fault", fault_codes="")

    report = tag_import_csv(file=write_rows([*rows, fault, alarm]), dry_run=True, actor=None)

    assert [(e.line, e.message) for e in report.errors] == [
        (len(rows) + 2, "production_role: a tag with fault codes has a role (fault, unless it is another input)"),
        (len(rows) + 3, "fault_codes: a fault tag (production_role fault) needs its codes, e.g. 101=Jam"),
    ]
    fault["production_role"] = "fault"
    report = tag_import_csv(file=write_rows([*rows, fault]), dry_run=False, actor=None)
    assert report.errors == []
    assert FaultCode.objects.get(tag__path=fault["path"], value=3).reason.category.name == "Mechanical"


@pytest.mark.timescale
def test_a_state_mapping_changed_in_the_file_rebuilds_the_machines_intervals_audited(line, django_user_model):
    from audit.models import AuditAction, AuditEvent

    user = django_user_model.objects.create_user("engineer", password="x")
    line.store(0, state=1, product=1, fault=0)
    line.store(600, state=6)
    line.store(1200, state=1)
    assert [iv[2] for iv in line.intervals()] == ["running", "unplanned_down", "running"]
    rows = _rows()
    state = next(r for r in rows if r["path"] == line.config.state_tag.path)
    mapping = dict(e.split("=") for e in state["state_map"].split(";"))
    mapping["6"] = "blocked"  # the PLC's 6 means blocked on this machine, not down
    state["state_map"] = ";".join(f"{v}={s}" for v, s in sorted(mapping.items(), key=lambda i: int(i[0])))

    report = tag_import_csv(file=write_rows(rows), dry_run=False, actor=user)

    assert report.errors == []
    assert [iv[2] for iv in line.intervals()] == ["running", "blocked", "running"]
    event = AuditEvent.objects.get(action=AuditAction.INTERVALS_REBUILD)
    assert event.actor == user
    assert event.details["machine"] == line.config.machine_id
    assert event.details["intervals_written"] > 0

    # The same file again changes nothing: no rebuild.
    tag_import_csv(file=write_rows(rows), dry_run=False, actor=user)
    assert AuditEvent.objects.filter(action=AuditAction.INTERVALS_REBUILD).count() == 1
