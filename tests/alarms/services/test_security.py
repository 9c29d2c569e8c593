"""Security alarms against the real database: raised by a security event, kept until acknowledged, a repeat
updates the evidence and the count, an acknowledged one is raised again; who sees them (the permission matrix);
notifications over security routes only; the failed-login burst detector; the migration with real rows."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from accounts.services.roles import Role
from alarms.models import Alarm, AlarmDefinition, JournalEntry, NotificationDelivery, NotificationRoute
from alarms.queries.alarm_list import alarm_counts, alarm_rows
from alarms.services.actions import alarms_acknowledge
from alarms.services.security import security_alarm_raise, security_source
from audit.models import AuditAction
from audit.services.events import audit_record
from inventory.security_events import SecurityEvent, SecurityEventKind, report_security_event
from tests.factories import TagFactory, UserFactory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE = '<img src=x onerror="alert(1)">'


def _event(at=T0, subject="sparkplug:Plant A/Edge 9", **evidence) -> SecurityEvent:
    return SecurityEvent(
        kind=SecurityEventKind.UNKNOWN_EDGE_NODE,
        subject=subject,
        message=f"Unknown edge node {subject}",
        at=at,
        evidence=evidence or {"group": "Plant A", "node": "Edge 9"},
    )


def _alarm(event: SecurityEvent) -> Alarm:
    return Alarm.objects.select_related("definition").get(definition__source=security_source(event))


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin-1", role=Role.ADMINISTRATOR)


@pytest.fixture
def engineer(db):
    return UserFactory(username="engineer-1", role=Role.ENGINEER)


@pytest.fixture
def role_operator(db):
    return UserFactory(username="operator-1", role=Role.OPERATOR)


def test_a_security_event_raises_one_tagless_alarm_that_waits_for_acknowledgement(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report_security_event(_event())  # through the signal, as a detector reports

    alarm = _alarm(_event())
    definition = alarm.definition
    assert (definition.category, definition.kind, definition.tag_id) == ("security", "security", None)
    assert definition.priority == "high"
    assert alarm.state == "unack_rtn"
    assert alarm.condition is False
    assert alarm.message == "Unknown edge node sparkplug:Plant A/Edge 9"
    assert alarm.evidence["evidence"] == {"group": "Plant A", "node": "Edge 9"}
    entries = list(JournalEntry.objects.filter(alarm_id=definition.pk).order_by("id"))
    assert [(e.event, e.state) for e in entries] == [("activate", "unack_active"), ("clear", "unack_rtn")]
    assert entries[0].category == "security"
    assert entries[0].area_id is None
    assert entries[0].evidence["subject"] == "sparkplug:Plant A/Edge 9"


def test_a_repeat_while_unacknowledged_updates_the_evidence_and_count_and_after_acknowledgement_raises_again(
    db, admin_user
):
    first = security_alarm_raise(event=_event(node="Edge 9", seen=1))
    assert any(e.annunciated for e in first)
    repeat = security_alarm_raise(event=_event(at=T0 + timedelta(minutes=1), node="Edge 9", seen=2))
    assert [(e.event, e.annunciated) for e in repeat] == [("repeat", False)]
    alarm = _alarm(_event())
    assert (alarm.state, alarm.repeat_count, alarm.evidence["evidence"]["seen"]) == ("unack_rtn", 1, 2)
    assert Alarm.objects.filter(definition__category="security").count() == 1

    alarms_acknowledge(alarm_ids=[alarm.pk], user=admin_user, now=T0 + timedelta(minutes=2))
    assert _alarm(_event()).state == "normal"
    again = security_alarm_raise(event=_event(at=T0 + timedelta(minutes=3), node="Edge 9", seen=3))
    assert any(e.annunciated for e in again)
    alarm = _alarm(_event())
    assert (alarm.state, alarm.repeat_count) == ("unack_rtn", 0)
    events = list(JournalEntry.objects.filter(alarm_id=alarm.pk).order_by("id").values_list("event", flat=True))
    assert events == ["activate", "clear", "repeat", "acknowledge", "activate", "clear"]


def test_a_disabled_security_alarm_raises_nothing(db):
    security_alarm_raise(event=_event())
    AlarmDefinition.objects.filter(category="security").update(enabled=False)
    journal = JournalEntry.objects.count()
    assert security_alarm_raise(event=_event(at=T0 + timedelta(hours=1))) == []
    assert JournalEntry.objects.count() == journal


def test_only_who_may_see_security_alarms_sees_lists_counts_and_can_act(db, admin_user, engineer, role_operator):
    security_alarm_raise(event=_event())
    alarm_id = _alarm(_event()).pk
    assert role_operator.has_perm("alarms.view_alarm")
    assert not role_operator.has_perm("alarms.view_security_alarms")
    assert admin_user.has_perm("alarms.view_security_alarms")
    assert engineer.has_perm("alarms.view_security_alarms")

    assert alarm_id not in {r["id"] for r in alarm_rows()}
    assert alarm_counts()["total"] == 0
    assert alarm_counts()["security"] == 0
    assert alarm_id in {r["id"] for r in alarm_rows(security=True)}
    assert alarm_counts(security=True)["security_unacknowledged"] == 1

    refused = alarms_acknowledge(alarm_ids=[alarm_id], user=role_operator, now=T0)
    assert refused.refused == {alarm_id: "no such alarm"}
    assert _alarm(_event()).state == "unack_rtn"


@pytest.mark.parametrize(("role", "sees"), [(Role.OPERATOR, False), (Role.ENGINEER, True), (Role.ADMINISTRATOR, True)])
def test_the_pages_and_api_show_security_alarms_by_role(client, db, role, sees):
    security_alarm_raise(event=_event(node=HOSTILE))
    alarm_id = _alarm(_event()).pk
    client.force_login(UserFactory(username=f"u-{role.value}", role=role))

    detail = client.get(reverse("alarms:detail", args=[alarm_id]))
    assert detail.status_code == (200 if sees else 404)
    if sees:
        body = detail.content.decode()
        assert HOSTILE not in body
        assert "&lt;img src=x onerror=" in body
    api = client.get("/api/v1/alarms/")
    assert (alarm_id in {a["id"] for a in api.json()}) is sees
    journal = client.get("/api/v1/alarms/journal/", {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"})
    assert (alarm_id in {e["alarm"] for e in journal.json()["results"]}) is sees
    history = client.get(reverse("alarms:history"), {"start": "2026-03-01T00:00", "end": "2026-03-02T00:00"})
    assert ('data-entry="' in history.content.decode()) is sees
    export = client.get(reverse("alarms:history_csv"), {"start": "2026-03-01T00:00", "end": "2026-03-02T00:00"})
    if role == Role.OPERATOR:
        assert export.status_code == 403  # no export permission: nothing to leak either way
        return
    rows = list(csv.DictReader(io.StringIO(_body(export))))
    assert {r["category"] for r in rows} == {"security"}
    activation = next(r for r in rows if r["event"] == "activate")
    assert json.loads(activation["evidence"])["evidence"]["node"] == HOSTILE


def test_the_history_export_hides_security_entries_from_who_may_not_see_them(client, db):
    security_alarm_raise(event=_event())
    user = UserFactory(username="exporter", role=Role.OPERATOR)
    user.user_permissions.add(Permission.objects.get(codename="export_data"))
    client.force_login(user)
    export = client.get(reverse("alarms:history_csv"), {"start": "2026-03-01T00:00", "end": "2026-03-02T00:00"})
    assert export.status_code == 200
    assert list(csv.DictReader(io.StringIO(_body(export)))) == []


def _body(response) -> str:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)().decode()


def test_security_alarms_go_over_security_routes_only(db, django_capture_on_commit_callbacks, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    process = NotificationRoute.objects.create(
        name="process", channel="webhook", target="http://127.0.0.1:9/", secret="s", min_priority="low"
    )
    security = NotificationRoute.objects.create(
        name="security", channel="webhook", target="http://127.0.0.1:9/", secret="s", min_priority="low",
        category="security",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        security_alarm_raise(event=_event())
    for callback in callbacks:  # the live push and the dispatch (not the sending task: no worker here)
        if callback.__name__ == "run":
            callback()
    deliveries = list(NotificationDelivery.objects.all())
    assert [d.route_id for d in deliveries] == [security.pk]
    assert deliveries[0].payload["alarm"]["evidence"]["evidence"]["node"] == "Edge 9"
    assert not NotificationDelivery.objects.filter(route=process).exists()


def test_a_burst_of_failed_logins_raises_one_alarm_per_address_and_per_user_name(db, settings):
    settings.SECURITY_FAILED_LOGIN_BURST_COUNT = 5
    settings.SECURITY_FAILED_LOGIN_BURST_WINDOW_SECONDS = 300
    for i in range(4):
        audit_record(actor=None, action=AuditAction.LOGIN_FAILED, actor_username=f"name{i}", remote_addr="10.0.0.5")
    assert not AlarmDefinition.objects.filter(category="security").exists()  # below the count
    audit_record(actor=None, action=AuditAction.LOGIN_FAILED, actor_username=HOSTILE, remote_addr="10.0.0.5")

    alarm = Alarm.objects.get(definition__source="failed_login_burst:login:address:10.0.0.5")
    evidence = alarm.evidence["evidence"]
    assert evidence["failures"] == 5
    assert evidence["user_names"][HOSTILE] == 1
    assert len(evidence["user_names"]) == 5
    assert alarm.state == "unack_rtn"

    for _ in range(5):  # one name from several addresses
        for address in ("10.0.0.7", "10.0.0.8"):
            audit_record(actor=None, action=AuditAction.LOGIN_FAILED, actor_username="alice", remote_addr=address)
    by_user = Alarm.objects.get(definition__source="failed_login_burst:login:user:alice")
    assert by_user.evidence["evidence"]["addresses"] == {"10.0.0.7": 5, "10.0.0.8": 5}
    assert by_user.repeat_count == 1  # reported at 5 and again at 10 failures: one alarm, seen twice
    for address in ("10.0.0.7", "10.0.0.8"):  # five each: each address is a burst of its own too
        assert Alarm.objects.get(definition__source=f"failed_login_burst:login:address:{address}").repeat_count == 0


def test_a_wrong_password_through_the_login_page_counts(client, db, settings):
    settings.SECURITY_FAILED_LOGIN_BURST_COUNT = 3
    UserFactory(username="bob")
    for _ in range(3):
        client.post(reverse("login"), {"username": "bob", "password": "wrong"}, REMOTE_ADDR="192.0.2.9")
    assert Alarm.objects.filter(definition__source="failed_login_burst:login:user:bob").exists()
    assert Alarm.objects.filter(definition__source="failed_login_burst:login:address:192.0.2.9").exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_process_alarms_and_journal_rows_both_ways():
    tag = TagFactory()
    executor = MigrationExecutor(connection)
    executor.migrate([("alarms", "0002_journal")])
    old = MigrationExecutor(connection).loader.project_state([("alarms", "0002_journal")]).apps
    definition = old.get_model("alarms", "AlarmDefinition").objects.create(
        tag_id=tag.pk, name="legacy hi", kind="hi", limit=1.0, priority="high", message="hot"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO alarms_journal (time, alarm_id, event, state, previous_state, priority, alarm_name, tag_path,"
            " area_id, line_id, machine_id) VALUES (%s, %s, 'activate', 'unack_active', 'normal', 'high', 'legacy hi',"
            " 'x', 1, 2, 3)",
            [T0, definition.pk],
        )
    executor = MigrationExecutor(connection)
    executor.migrate([("alarms", "0003_security_category")])
    new_definition = AlarmDefinition.objects.get(pk=definition.pk)
    assert (new_definition.category, new_definition.source, new_definition.tag_id) == ("process", "", tag.pk)
    entry = JournalEntry.objects.get(alarm_id=definition.pk)
    assert (entry.category, entry.evidence, entry.area_id) == ("process", None, 1)

    security_alarm_raise(event=_event())
    executor = MigrationExecutor(connection)
    executor.migrate([("alarms", "0002_journal")])  # backwards: security rows go, the process ones stay
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM alarms_journal WHERE alarm_id = %s", [definition.pk])
        assert cursor.fetchone()[0] == 1
        cursor.execute("SELECT count(*) FROM alarms_alarmdefinition WHERE tag_id IS NULL")
        assert cursor.fetchone()[0] == 0
    call_command("migrate", verbosity=0)


def test_admin_lists_security_alarms_and_routes_only_for_who_may_see_them(client, db, admin_user):
    security_alarm_raise(event=_event())
    definition = AlarmDefinition.objects.get(category="security")
    client.force_login(admin_user)
    page = client.get(reverse("admin:alarms_alarmdefinition_changelist"))
    assert page.status_code == 200
    assert definition.name in page.content.decode()
    assert client.get(reverse("admin:alarms_alarmdefinition_change", args=[definition.pk])).status_code == 200
    assert client.get(reverse("admin:alarms_alarm_changelist")).status_code == 200

    staff = UserFactory(username="staff-no-security")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="alarms").exclude(codename="view_security_alarms")
    )
    client.force_login(staff)
    page = client.get(reverse("admin:alarms_alarmdefinition_changelist"))
    assert page.status_code == 200
    assert definition.name not in page.content.decode()
    assert client.get(reverse("admin:alarms_alarmdefinition_change", args=[definition.pk])).status_code == 302
