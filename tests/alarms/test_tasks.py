"""The thin Celery tasks, run in-process with apply() (a real worker is exercised in tests/test_walking_skeleton.py)."""

from datetime import UTC, datetime

import pytest

from alarms.models import NotificationDelivery, NotificationRoute
from alarms.services.evaluation import alarms_evaluate_strict
from alarms.services.notifications import MAX_ATTEMPTS, notifications_dispatch
from alarms.tasks import alarm_journal_maintain, notification_send
from common.net import free_port
from historian.quality import Quality
from historian.sample_types import SampleRow

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def failing_delivery(define, signals) -> int:
    temp = signals["motor_temperature"]
    define(temp, kind="hihi", limit=90, priority="critical")
    NotificationRoute.objects.create(
        name="down", channel="webhook", target=f"http://127.0.0.1:{free_port()}/", secret="k"
    )
    events = alarms_evaluate_strict(rows=[SampleRow(T0, temp.pk, 95.0, Quality.GOOD)], now=T0)
    [delivery_id] = notifications_dispatch(events=events)
    return delivery_id


def test_a_failing_send_is_retried_until_the_attempts_run_out(failing_delivery):
    result = notification_send.apply(args=[failing_delivery])  # eager: the retries run at once, inline

    assert result.result == "failed"
    delivery = NotificationDelivery.objects.get(pk=failing_delivery)
    assert (delivery.status, delivery.attempts) == ("failed", MAX_ATTEMPTS)


def test_the_last_failed_attempt_gives_up_and_says_so(failing_delivery):
    result = notification_send.apply(args=[failing_delivery], retries=MAX_ATTEMPTS - 1)
    assert result.result == "failed"
    delivery = NotificationDelivery.objects.get(pk=failing_delivery)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "unreachable" in delivery.last_error


@pytest.mark.django_db
def test_journal_maintenance_is_harmless_to_repeat():
    alarm_journal_maintain.apply()
    assert alarm_journal_maintain.apply().result == 0
