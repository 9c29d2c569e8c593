"""Operator actions on stored alarms: permission-checked, journaled with user and comment, shelve expiry."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.forms.models import model_to_dict

from alarms.models import Alarm, JournalEntry
from alarms.services.actions import (
    AlarmActionError,
    alarm_shelves_expire,
    alarms_acknowledge,
    alarms_set_out_of_service,
    alarms_shelve,
    alarms_unshelve,
)
from alarms.services.evaluation import alarms_evaluate_strict
from historian.quality import Quality
from historian.sample_types import SampleRow
from tests.alarms.conftest import grant

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def hot(define, signals):
    """Two active, unacknowledged alarms on the motor temperature."""
    temp = signals["motor_temperature"]
    hi = define(temp, name="hi", kind="hi", limit=85)
    hihi = define(temp, name="hihi", kind="hihi", limit=92, priority="critical")
    alarms_evaluate_strict(rows=[SampleRow(T0, temp.pk, 93.0, Quality.GOOD)], now=T0)
    return hi, hihi


def test_acknowledging_many_records_who_and_why(hot, operator):
    hi, hihi = hot

    result = alarms_acknowledge(alarm_ids=[hi.pk, hihi.pk], user=operator, comment=" fan checked ", now=T0)

    assert result.done == [hi.pk, hihi.pk]
    assert set(Alarm.objects.values_list("state", flat=True)) == {"ack_active"}
    alarm = Alarm.objects.get(pk=hi.pk)
    assert (alarm.acknowledged_by, alarm.acknowledged_at) == (operator, T0)
    entry = JournalEntry.objects.get(alarm_id=hihi.pk, event="acknowledge")
    assert (entry.username, entry.user_id, entry.comment, entry.state) == (
        "operator",
        operator.pk,
        "fan checked",
        "ack_active",
    )


def test_acknowledging_what_waits_for_nothing_is_refused_per_alarm(hot, operator):
    hi, hihi = hot
    alarms_acknowledge(alarm_ids=[hi.pk], user=operator, now=T0)

    result = alarms_acknowledge(alarm_ids=[hi.pk, hihi.pk, 999999], user=operator, now=T0)

    assert result.done == [hihi.pk]
    assert "nothing to acknowledge" in result.refused[hi.pk]
    assert result.refused[999999] == "no such alarm"


def test_a_user_without_the_permission_cannot_acknowledge_or_shelve(hot, viewer):
    hi, _ = hot
    with pytest.raises(PermissionDenied):
        alarms_acknowledge(alarm_ids=[hi.pk], user=viewer, now=T0)
    with pytest.raises(PermissionDenied):
        alarms_shelve(alarm_ids=[hi.pk], user=viewer, minutes=10, now=T0)
    assert Alarm.objects.get(pk=hi.pk).state == "unack_active"


@pytest.mark.parametrize("minutes", [0, -5, 100000, "10", None, True])
def test_a_shelve_needs_a_sensible_duration(hot, operator, minutes):
    with pytest.raises(AlarmActionError, match="Shelve for 1 to"):
        alarms_shelve(alarm_ids=[hot[0].pk], user=operator, minutes=minutes, now=T0)


def test_a_comment_too_long_is_refused(hot, operator):
    with pytest.raises(AlarmActionError, match="longer than"):
        alarms_acknowledge(alarm_ids=[hot[0].pk], user=operator, comment="x" * 1001, now=T0)


def test_a_shelved_alarm_comes_back_by_itself_when_its_shelve_ends(hot, operator):
    hi, _ = hot
    alarms_shelve(alarm_ids=[hi.pk], user=operator, minutes=30, comment="sensor being replaced", now=T0)
    assert Alarm.objects.get(pk=hi.pk).shelved_until == T0 + timedelta(minutes=30)

    assert alarm_shelves_expire(now=T0 + timedelta(minutes=29)).done == []
    result = alarm_shelves_expire(now=T0 + timedelta(minutes=30))

    assert result.done == [hi.pk]
    alarm = Alarm.objects.get(pk=hi.pk)
    assert (alarm.state, alarm.shelved_until) == ("unack_active", None)  # still hot: annunciated again
    events = list(
        JournalEntry.objects.filter(alarm_id=hi.pk).order_by("time", "id").values_list("event", "username", "comment")
    )
    assert events[-2:] == [("shelve", "operator", "sensor being replaced"), ("unshelve", "", "shelve expired")]


def test_unshelve_by_hand(hot, operator):
    hi, _ = hot
    alarms_shelve(alarm_ids=[hi.pk], user=operator, minutes=30, now=T0)
    assert alarms_unshelve(alarm_ids=[hi.pk], user=operator, now=T0).done == [hi.pk]
    assert Alarm.objects.get(pk=hi.pk).shelved_until is None


def test_out_of_service_needs_its_own_permission(hot, operator):
    hi, _ = hot
    with pytest.raises(PermissionDenied):
        alarms_set_out_of_service(alarm_ids=[hi.pk], user=operator, out_of_service=True, now=T0)
    engineer = grant(operator, "set_alarm_out_of_service")

    alarms_set_out_of_service(alarm_ids=[hi.pk], user=engineer, out_of_service=True, comment="loop check", now=T0)

    assert Alarm.objects.get(pk=hi.pk).out_of_service


def test_a_superuser_holds_every_alarm_permission(hot, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", password="pw-boss-1")
    assert alarms_acknowledge(alarm_ids=[a.pk for a in hot], user=boss, now=T0).done == [a.pk for a in hot]


def test_disabling_a_definition_in_admin_takes_its_alarm_off_the_list(hot, django_user_model, client):
    hi, _ = hot
    client.force_login(django_user_model.objects.create_superuser("boss", password="pw-boss-1"))
    form = {k: "" if v is None else v for k, v in model_to_dict(hi).items() if k not in ("id", "enabled")}

    response = client.post(f"/admin/alarms/alarmdefinition/{hi.pk}/change/", form)  # "enabled" unticked

    assert response.status_code == 302
    assert Alarm.objects.get(pk=hi.pk).state == "normal"
    assert JournalEntry.objects.filter(alarm_id=hi.pk, event="disable", username="boss").exists()
