"""Notifications: a real local HTTP receiver checks the webhook signature; email through Django's locmem backend."""

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from alarms.models import DeliveryStatus, NotificationDelivery, NotificationRoute
from alarms.services.actions import alarms_acknowledge
from alarms.services.evaluation import alarms_evaluate_strict
from alarms.services.notifications import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    NotificationError,
    notification_deliver,
    notification_escalations_due,
    notification_retry_delay,
    notifications_dispatch,
)
from historian.models import Area
from historian.quality import Quality
from historian.sample_types import SampleRow

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cret-signing-key"


class Receiver:
    """A webhook receiver on a free loopback port that verifies signatures the way a real one should."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers[TIMESTAMP_HEADER]
                expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(self.headers[SIGNATURE_HEADER], f"sha256={expected}")
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    receiver.received.append({"valid": valid, "payload": json.loads(body)})
                    self.send_response(204 if valid else 401)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/millwright"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def hot_critical(define, signals):
    temp = signals["motor_temperature"]
    return define(temp, name="hihi", kind="hihi", limit=92, priority="critical", message="{machine} at {value} {units}")


def _raise(definition, signals, t=T0):
    temp = signals["motor_temperature"]
    return alarms_evaluate_strict(rows=[SampleRow(t, temp.pk, 94.0, Quality.GOOD)], now=t)


def test_a_webhook_reaches_a_real_receiver_with_a_valid_signature(hot_critical, signals, receiver):
    route = NotificationRoute.objects.create(
        name="maintenance", channel="webhook", target=receiver.url, secret=SECRET, min_priority="high"
    )
    route.full_clean()
    events = _raise(hot_critical, signals)

    [delivery_id] = notifications_dispatch(events=events)
    status = notification_deliver(delivery_id=delivery_id)

    assert status == DeliveryStatus.SENT
    [received] = receiver.received
    assert received["valid"]
    assert received["payload"]["kind"] == "alarm"
    assert received["payload"]["alarm"]["id"] == hot_critical.pk
    assert received["payload"]["alarm"]["message"] == "CNC 101 at 94 °C"
    assert received["payload"]["alarm"]["priority"] == "critical"


def test_a_failed_webhook_is_recorded_and_succeeds_on_retry(hot_critical, signals, receiver):
    NotificationRoute.objects.create(name="m", channel="webhook", target=receiver.url, secret=SECRET)
    [delivery_id] = notifications_dispatch(events=_raise(hot_critical, signals))
    receiver.fail_next = 1

    with pytest.raises(NotificationError, match="HTTP 503"):
        notification_deliver(delivery_id=delivery_id)
    delivery = NotificationDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "webhook answered HTTP 503")

    assert notification_deliver(delivery_id=delivery_id) == DeliveryStatus.SENT
    assert NotificationDelivery.objects.get(pk=delivery_id).attempts == 2
    assert len(receiver.received) == 1
    assert notification_deliver(delivery_id=delivery_id) == DeliveryStatus.SENT  # sent once, never twice
    assert len(receiver.received) == 1


def test_an_unreachable_webhook_is_a_retryable_failure(hot_critical, signals):
    from common.net import free_port

    NotificationRoute.objects.create(
        name="m", channel="webhook", target=f"http://127.0.0.1:{free_port()}/", secret=SECRET
    )
    [delivery_id] = notifications_dispatch(events=_raise(hot_critical, signals))
    with pytest.raises(NotificationError, match="unreachable"):
        notification_deliver(delivery_id=delivery_id)


def test_retries_back_off_exponentially_up_to_a_ceiling():
    assert [notification_retry_delay(n) for n in range(8)] == [10, 20, 40, 80, 160, 320, 640, 900]


def test_routes_filter_by_priority_and_area(hot_critical, define, signals, machine):
    NotificationRoute.objects.create(
        name="all critical", channel="email", target="a@plant.example", min_priority="critical"
    )
    elsewhere = Area.objects.create(site=machine.line.area.site, name="Assembly")
    NotificationRoute.objects.create(
        name="elsewhere", channel="email", target="b@plant.example", min_priority="low", area=elsewhere
    )
    low = define(signals["vibration_rms"], kind="hi", limit=5, priority="low")
    events = _raise(hot_critical, signals) + alarms_evaluate_strict(
        rows=[SampleRow(T0, signals["vibration_rms"].pk, 9.0, Quality.GOOD)], now=T0
    )

    created = notifications_dispatch(events=events)

    assert [d.alarm_id for d in NotificationDelivery.objects.filter(pk__in=created)] == [hot_critical.pk]
    assert low.pk not in {d.alarm_id for d in NotificationDelivery.objects.all()}


def test_an_email_goes_out_through_the_email_backend(hot_critical, signals):
    NotificationRoute.objects.create(name="shift", channel="email", target="lead@plant.example, ops@plant.example")
    [delivery_id] = notifications_dispatch(events=_raise(hot_critical, signals))

    notification_deliver(delivery_id=delivery_id)

    [message] = mail.outbox
    assert message.to == ["lead@plant.example", "ops@plant.example"]
    assert message.subject == "[CRITICAL] CNC 101 at 94 °C"
    assert hot_critical.tag.path in message.body


def test_an_alarm_unacknowledged_too_long_escalates_once(hot_critical, signals, operator):
    NotificationRoute.objects.create(
        name="escalate", channel="email", target="boss@plant.example", escalate_after_minutes=15
    )
    _raise(hot_critical, signals)

    assert notification_escalations_due(now=T0 + timedelta(minutes=14)) == []
    [delivery_id] = notification_escalations_due(now=T0 + timedelta(minutes=15))
    assert notification_escalations_due(now=T0 + timedelta(minutes=20)) == []
    notification_deliver(delivery_id=delivery_id)
    assert mail.outbox[0].subject.startswith("[ESCALATION CRITICAL]")

    alarms_acknowledge(alarm_ids=[hot_critical.pk], user=operator, now=T0 + timedelta(minutes=21))
    assert notification_escalations_due(now=T0 + timedelta(hours=2)) == []


def test_an_escalation_route_is_not_used_on_activation(hot_critical, signals):
    NotificationRoute.objects.create(name="e", channel="email", target="x@plant.example", escalate_after_minutes=5)
    assert notifications_dispatch(events=_raise(hot_critical, signals)) == []


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"channel": "webhook", "target": "ftp://x", "secret": "k"}, r"http\(s\) URL"),
        ({"channel": "webhook", "target": "http://x.example/", "secret": ""}, "signing secret"),
        ({"channel": "email", "target": "not an address"}, "not an email address"),
    ],
)
def test_a_route_with_a_bad_target_is_refused(db, fields, error):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match=error):
        NotificationRoute(name="r", **fields).full_clean()
