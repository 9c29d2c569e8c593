"""The communication baseline of polled devices against the real Modbus simulator: response times learned on the
poll path, a device that stays far slower reported once, and a device that stops answering identification."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ingest.acquisition.communication import CommunicationBaselines
from ingest.acquisition.poll import device_poll
from inventory.models import Asset
from inventory.security_events import SecurityEventKind
from tests.ingest.acquisition.test_identify import _identified_server
from tests.security_events import Collected, security_events_collected
from tests.tcp_proxy import TcpProxy

CHANGED = SecurityEventKind.COMMUNICATION_CHANGED
LEARN = 10


@pytest.fixture
def events(settings) -> Iterator[Collected]:
    settings.COMMUNICATION_LEARN_POLLS = LEARN
    settings.COMMUNICATION_SUSTAIN_SECONDS = 0.0  # the sustained window is the SUSTAIN_MIN_POLLS polls
    settings.COMMUNICATION_MIN_CHANGE_MS = 50.0
    settings.COMMUNICATION_SAVE_SECONDS = 0.0  # saved at every poll
    with security_events_collected() as received:
        yield received


@pytest.fixture
def proxy(plant_server, device, polling) -> Iterator[TcpProxy]:
    """The device polled through a proxy that can slow the link down."""
    with TcpProxy(plant_server.host, plant_server.port) as proxy:
        device.host, device.port = "127.0.0.1", proxy.port
        device.save(update_fields=["host", "port"])
        yield proxy
    polling.drivers.close_all()


def test_a_device_that_stays_far_slower_than_learned_is_reported_once(device, scan_class, proxy, events, polling):
    for _ in range(LEARN):
        assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"
    learned = Asset.objects.get(device=device).communication
    assert learned["polls"] == LEARN
    assert learned["learned"] is True
    assert learned["response_ms"] < 50  # a loopback Modbus server

    proxy.delay = 0.08  # each request and each answer 80 ms late: the device now answers in 160 ms or more
    for _ in range(7):
        assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"

    changed = events.of(CHANGED)
    assert len(changed) == 1, [e.message for e in events]
    event = changed[0]
    assert event.subject == f"device:{device.pk}:response-time"
    assert (event.device_id, event.asset_id) == (device.pk, Asset.objects.get(device=device).pk)
    assert event.evidence["outside_polls"] == 5
    assert event.evidence["baseline"]["response_ms"] == pytest.approx(learned["response_ms"], abs=0.01)
    assert all(ms >= 160 for ms in event.evidence["recent_response_ms"][-5:])
    assert Asset.objects.get(device=device).communication["polls"] == LEARN  # the slow polls were not learned

    proxy.delay = 0.0  # back to normal: learned again, and re-armed
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    assert polling.communication.get(device.pk).reported is False
    assert Asset.objects.get(device=device).communication["polls"] == LEARN + 1

    restarted = CommunicationBaselines()  # another process: starts from what the asset holds
    restarted.observe(device=device, seconds=0.001, at=datetime.now(UTC))
    assert restarted.get(device.pk).polls == LEARN + 2


def test_a_short_slow_spell_is_not_reported(device, scan_class, events, settings):
    settings.COMMUNICATION_SUSTAIN_SECONDS = 300.0
    baselines = CommunicationBaselines()
    at = datetime.now(UTC)
    for n in range(LEARN):
        baselines.observe(device=device, seconds=0.002, at=at, now=float(n))
    for n in range(LEARN, LEARN + 20):  # 20 slow polls over 290 s: not yet sustained
        assert not baselines.observe(device=device, seconds=0.5, at=at, now=LEARN + (n - LEARN) * 290 / 19)
    assert baselines.observe(device=device, seconds=0.5, at=at, now=LEARN + 301.0)
    assert len(events.of(CHANGED)) == 1


def test_a_device_that_stops_answering_identification_is_reported_once(
    device, scan_class, plant_server, events, settings, polling
):
    settings.INVENTORY_IDENTIFY_SECONDS = 0  # ask at every poll
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    assert Asset.objects.get(device=device).identity  # it answered
    port = plant_server.port
    plant_server.stop()
    polling.drivers.close_all()

    with _identified_server(port, None):  # the same address, its values still answered, identification refused
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    polling.drivers.close_all()

    changed = events.of(CHANGED)
    assert len(changed) == 1, [e.message for e in events]
    asset = Asset.objects.get(device=device)
    assert changed[0].subject == f"asset:{asset.pk}:identification"
    assert changed[0].evidence["address"] == f"{plant_server.host}:{port}"
    assert "no longer answers the device identification" in changed[0].message
