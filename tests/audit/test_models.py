"""The audit trail is append-only in the database itself."""

import pytest
from auditlog.models import LogEntry
from django.db import DatabaseError, connection, transaction

from audit.models import AuditAction, AuditEvent
from audit.services.events import audit_record
from tests.factories import ScanClassFactory, UserFactory


@pytest.fixture
def event(db) -> AuditEvent:
    return audit_record(
        actor=UserFactory(username="olga"), action=AuditAction.PLC_WRITE, target="PLC 1 HR10", details={"v": 1}
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET target = 'nothing happened'",
        "UPDATE audit_auditevent SET actor_username = 'someone else'",
        "DELETE FROM audit_auditevent",
    ],
)
def test_an_audit_event_cannot_be_changed_or_deleted(event, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    event.refresh_from_db()
    assert (event.target, event.actor_username) == ("PLC 1 HR10", "olga")


def test_the_orm_cannot_change_an_audit_event_either(event):
    event.target = "edited"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()


def test_a_configuration_change_record_cannot_be_changed_or_deleted(db):
    before = LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0  # the roles' own, if any
    ScanClassFactory(name="Fast", period_ms=1000)
    entry = LogEntry.objects.get(pk__gt=before)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LogEntry.objects.filter(pk=entry.pk).update(changes={})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entry.delete()


def test_deleting_a_user_keeps_their_events_under_their_name(event, django_user_model):
    django_user_model.objects.filter(username="olga").delete()

    event.refresh_from_db()
    assert (event.actor, event.actor_username, event.target) == (None, "olga", "PLC 1 HR10")
