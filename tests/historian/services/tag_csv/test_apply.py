"""historian/services/tag_csv/apply.py and audit.py: an atomic apply, every change audited with before and after,
the pollers told."""

import pytest
from auditlog.models import LogEntry

from audit.models import AuditAction, AuditEvent
from historian.models import Area, Machine, Tag
from historian.services.tag_csv import tag_import_csv
from ingest.acquisition.config_token import acquisition_config_version
from tests.historian.services.tag_csv.support import (
    LINES,
    MACHINES_PER_LINE,
    TAGS_PER_MACHINE,
    export_of_site,
    export_text,
    line_numbers,
    plant_build,
    report_cid,
    rows_of,
    write_rows,
)


@pytest.mark.slow
def test_a_10k_tag_file_for_a_new_site_creates_it_all_with_devices_and_audits_each_tag(db, admin_user):
    plant_build(LINES, MACHINES_PER_LINE, TAGS_PER_MACHINE)
    text = export_text().replace("Plant Ü", "Plant B").replace("PLC ", "PLC B")
    progress = []

    report = tag_import_csv(
        file=text, dry_run=False, actor=admin_user, filename="plant.csv", progress=lambda *p: progress.append(p)
    )

    assert report.applied
    assert len(report.created) == 10_000
    assert {o.kind for o in report.objects if o.created} == {"site", "area", "line", "machine", "device"}
    assert export_of_site("Plant B") == text
    assert Machine.objects.filter(line__area__site__name="Plant B").count() == LINES * MACHINES_PER_LINE
    assert LogEntry.objects.filter(cid=report_cid(), content_type__model="tag").count() == 10_000
    event = AuditEvent.objects.get(action=AuditAction.TAG_CSV_IMPORT)
    assert (event.actor, event.target, event.details["created"]) == (admin_user, "plant.csv", 10_000)
    assert ("writing", 10_000, 10_000) in progress


def test_applying_writes_the_diff_and_audits_each_change_with_before_and_after(plant, admin_user):
    rows = rows_of(export_text())
    rows[0]["deadband"] = "2.5"
    rows[0]["device_host"] = "plc-new.plant"
    for row in rows:
        if row["device"] == rows[0]["device"]:
            row["device_host"] = "plc-new.plant"

    report = tag_import_csv(file=write_rows(rows), dry_run=False, actor=admin_user, filename="edit.csv")

    assert report.applied
    tag = Tag.objects.get(path=rows[0]["path"])
    assert tag.deadband == 2.5
    assert tag.device.host == "plc-new.plant"
    tag_entry = LogEntry.objects.get(object_pk=str(tag.pk), content_type__model="tag", action=LogEntry.Action.UPDATE)
    assert tag_entry.changes_dict == {"deadband": ["0.0", "2.5"]}
    assert tag_entry.actor == admin_user
    device_entry = LogEntry.objects.get(
        object_pk=str(tag.device_id), content_type__model="device", action=LogEntry.Action.UPDATE
    )
    assert device_entry.changes_dict["host"] == ["10.0.0.1", "plc-new.plant"]
    assert tag_entry.cid == device_entry.cid == AuditEvent.objects.get().details["auditlog_cid"]


def test_one_bad_row_makes_the_apply_write_nothing(plant, admin_user):
    rows = rows_of(export_text())
    rows[0]["deadband"] = "9"
    rows.append(dict(rows[1], path="Plant Ü/Extra/Line 1/M1.x", area="Extra"))
    rows[-2]["deadband"] = "-1"
    before = list(Tag.objects.order_by("pk").values())
    entries = LogEntry.objects.count()

    text = write_rows(rows)
    report = tag_import_csv(file=text, dry_run=False, actor=admin_user)

    assert not report.applied
    assert [e.line for e in report.errors] == [line_numbers(text)[rows[-2]["path"]]]
    assert list(Tag.objects.order_by("pk").values()) == before
    assert not Area.objects.filter(name="Extra").exists()
    assert LogEntry.objects.count() == entries
    assert not AuditEvent.objects.filter(action=AuditAction.TAG_CSV_IMPORT).exists()


def test_moving_the_machine_state_to_another_tag_updates_both_rows(plant, admin_user):
    machine = Machine.objects.exclude(state_tag=None).get()
    rows = rows_of(export_text())
    old = next(r for r in rows if r["path"] == machine.state_tag.path)
    new = next(r for r in rows if r["machine"] == old["machine"] and r["line"] == old["line"] and r is not old)
    old["machine_state"], new["machine_state"] = "false", "true"

    report = tag_import_csv(file=write_rows(rows), dry_run=False, actor=admin_user)

    assert {c.path: c.changes for c in report.updated} == {
        old["path"]: {"machine_state": ("true", "false")},
        new["path"]: {"machine_state": ("false", "true")},
    }
    machine.refresh_from_db()
    assert machine.state_tag.path == new["path"]


def test_an_applied_import_tells_the_pollers_to_reread_their_tags(
    plant, admin_user, django_capture_on_commit_callbacks
):
    rows = rows_of(export_text())
    rows[0]["deadband"] = "2.5"
    before = acquisition_config_version()

    with django_capture_on_commit_callbacks(execute=True):
        tag_import_csv(file=write_rows(rows), dry_run=False, actor=admin_user, filename="edit.csv")

    assert acquisition_config_version() not in (None, before)
