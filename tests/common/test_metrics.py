"""What processes count for Prometheus, kept in a real Redis: counters add up across processes, gauges are summed
over live processes only, and nothing is lost while Redis is away."""

from __future__ import annotations

import json
import time

import pytest

from common import metrics
from common.metrics import (
    COUNTERS_KEY,
    GAUGES_KEY,
    counter_add,
    counters_read,
    gauge_add,
    gauges_read,
    metrics_flush,
    metrics_forget,
    rule_fired,
)
from common.net import free_port
from common.redis import redis_client


@pytest.fixture(autouse=True)
def clean(settings):
    metrics_forget()
    redis_client().delete(COUNTERS_KEY, GAUGES_KEY)
    yield
    metrics_forget()
    redis_client().delete(COUNTERS_KEY, GAUGES_KEY)


def test_counters_add_up_across_flushes_and_label_sets():
    counter_add("millwright_ingest_values_total", 5, outcome="stored")
    assert metrics_flush()
    counter_add("millwright_ingest_values_total", 7, outcome="stored")
    counter_add("millwright_ingest_values_total", 2, outcome="buffered")
    rule_fired(rule="stop CNC 101", dry_run=True)
    assert metrics_flush()

    counted = counters_read()

    assert counted[("millwright_ingest_values_total", (("outcome", "stored"),))] == 12
    assert counted[("millwright_ingest_values_total", (("outcome", "buffered"),))] == 2
    assert counted[("millwright_rule_firings_total", (("mode", "dry_run"), ("rule", "stop CNC 101")))] == 1


def test_gauges_sum_live_processes_and_forget_a_dead_one():
    gauge_add("millwright_websocket_clients", 3)
    gauge_add("millwright_websocket_clients", -1)
    assert metrics_flush()
    dead = json.dumps({"value": 40, "at": time.time() - 10 * metrics.GAUGE_FRESH_SECONDS})
    other = json.dumps({"value": 5, "at": time.time()})
    redis_client().hset(GAUGES_KEY, "millwright_websocket_clients||deadhost:1", dead)
    redis_client().hset(GAUGES_KEY, "millwright_websocket_clients||otherhost:2", other)

    assert gauges_read() == {("millwright_websocket_clients", ()): 7}
    assert not redis_client().hexists(GAUGES_KEY, "millwright_websocket_clients||deadhost:1")


def test_what_is_counted_while_redis_is_away_is_written_once_it_is_back(settings):
    real = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    counter_add("millwright_ingest_values_total", 4, outcome="buffered")

    assert not metrics_flush()
    settings.REDIS_URL = real
    assert metrics_flush()

    assert counters_read() == {("millwright_ingest_values_total", (("outcome", "buffered"),)): 4}
