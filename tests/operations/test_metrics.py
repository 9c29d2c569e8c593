"""The Prometheus figures read at scrape time: values stored through the real ingest store, WebSocket clients,
device links, buffers, pollers and alarm counts; a source that is away is reported, the others still served."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from common.metrics import COUNTERS_KEY, GAUGES_KEY, gauge_add, metrics_flush, metrics_forget
from common.net import free_port
from common.redis import redis_client
from historian.models import Device, DeviceStatus
from historian.queries.acquisition import BUFFER_STATUS_KEY
from ingest.acquisition.poller import STATS_KEY_PREFIX
from operations.metrics import EXPOSED, metrics_exposition
from tests.samples import reading_store


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics_exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def exposed_names() -> set[str]:
    """The names PromQL can use from one scrape (a counter's samples are named <family>_total)."""
    families = text_string_to_metric_families(metrics_exposition().decode())
    return {f.name + ("_total" if f.type == "counter" else "") for f in families}


@pytest.fixture(autouse=True)
def counted_afresh(settings):
    metrics_forget()
    redis_client().delete(COUNTERS_KEY, GAUGES_KEY)
    yield
    metrics_forget()


def test_values_stored_by_the_ingest_store_are_counted(ingest_context, device, machine_tags):
    now = timezone.now()
    for i in range(3):
        reading_store(ingest_context, device, machine_tags[0], now + timedelta(seconds=i), 10.0 + i)
    metrics_flush()

    stored = _samples()[("millwright_ingest_values_total", (("outcome", "stored"),))]

    assert stored == 3


def test_websocket_clients_device_links_buffers_and_pollers(db):
    gauge_add("millwright_websocket_clients", 2)
    metrics_flush()
    Device.objects.create(name="Press PLC", protocol="modbus", host="127.0.0.1", status=DeviceStatus.CONNECTED)
    Device.objects.create(name="Oven PLC", protocol="modbus", host="127.0.0.1", status=DeviceStatus.ERROR)
    oldest = (timezone.now() - timedelta(seconds=90)).isoformat()
    status = {"depth": 1234, "oldest": oldest, "dropped": 0, "published": time.time()}
    redis_client().hset(BUFFER_STATUS_KEY, "worker-a", json.dumps(status))
    stats = {"polls": {"ok": 50, "failed": 2}, "jitter_ms": {"p50": 1.5, "p99": 9.0, "max": 12.0}}
    redis_client().set(f"{STATS_KEY_PREFIX}poller-a", json.dumps(stats), ex=60)
    try:
        samples = _samples()
    finally:
        redis_client().hdel(BUFFER_STATUS_KEY, "worker-a")
        redis_client().delete(f"{STATS_KEY_PREFIX}poller-a")

    assert samples[("millwright_websocket_clients", ())] == 2
    assert samples[("millwright_device_connected", (("device", "Press PLC"), ("protocol", "modbus")))] == 1
    assert samples[("millwright_device_connected", (("device", "Oven PLC"), ("protocol", "modbus")))] == 0
    assert samples[("millwright_devices", (("protocol", "modbus"), ("status", "error")))] == 1
    assert samples[("millwright_buffer_rows", (("host", "worker-a"),))] == 1234
    assert 89 <= samples[("millwright_buffer_oldest_age_seconds", (("host", "worker-a"),))] < 3600
    assert samples[("millwright_poll_jitter_milliseconds", (("poller", "poller-a"), ("stat", "p99")))] == 9.0
    assert samples[("millwright_polls_total", (("poller", "poller-a"), ("status", "failed")))] == 2
    assert [v for (name, _), v in samples.items() if name == "millwright_alarms_active"] == [0, 0, 0, 0]


def test_every_family_listed_as_exposed_is_in_the_scrape(db):
    assert set(EXPOSED) == exposed_names()


def test_a_source_that_is_away_is_reported_and_the_others_still_served(db, settings):
    Device.objects.create(name="Press PLC", protocol="modbus", host="127.0.0.1", status=DeviceStatus.CONNECTED)
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    samples = _samples()

    assert samples[("millwright_metrics_source_up", (("source", "counted"),))] == 0
    assert samples[("millwright_metrics_source_up", (("source", "pollers"),))] == 0
    assert samples[("millwright_metrics_source_up", (("source", "devices"),))] == 1
    assert samples[("millwright_device_connected", (("device", "Press PLC"), ("protocol", "modbus")))] == 1
