"""The Prometheus endpoint's figures, read at scrape time from where they already live (issue 16).

Why read at scrape time rather than prometheus_client's multiprocess mode: the figures come from processes on
several hosts (acquisition workers, push runners, web processes), and a multiprocess directory is per host, so
the web process answering a scrape would report its own host only. Everything here is read from the database or
Redis, so any web process answers for the whole installation and a scrape of two web processes gives the same
figures: the pollers' own statistics (jitter, poll counts: ingest.acquisition.poller), the buffers' status
(ingest.pipeline.buffer), device links (the devices' rows), alarm counts (alarms.queries), and what processes
count through common.metrics (values stored, WebSocket clients, rule firings). A source that does not answer is
left out of that scrape and reported as `millwright_metrics_source_up{source=...} 0`, so Prometheus still gets the
others. The cost of a scrape: a handful of Redis reads and three small queries.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alarms.queries.alarm_list import alarm_counts
from common.metrics import counters_read, gauges_read
from common.redis import redis_client
from common.replicas import replica_statuses
from historian.models import Device, DeviceStatus
from historian.queries.acquisition import ingest_buffer_statuses
from ingest.acquisition.leases import pollers_alive
from ingest.acquisition.poller import poller_stats_read

logger = logging.getLogger(__name__)

#: Counters and gauges processes report through common.metrics, with their help text; a name not listed here is
#: not exposed (so a typo in a caller cannot grow the endpoint).
COUNTED = {
    "millwright_ingest_values_total": (
        "counter",
        "Values written by acquisition, by outcome (stored, buffered, replayed from the on-disk buffer)",
        ("outcome",),
    ),
    "millwright_rule_firings_total": ("counter", "Rule firings, by rule and mode (live, dry_run)", ("rule", "mode")),
    "millwright_websocket_clients": ("gauge", "Admitted WebSocket clients over every web process", ()),
}
#: Every metric family this endpoint exposes (the Grafana dashboard's test checks against it).
EXPOSED = (
    *COUNTED,
    "millwright_poll_jitter_milliseconds",
    "millwright_polls_total",
    "millwright_pollers_alive",
    "millwright_buffer_rows",
    "millwright_buffer_oldest_age_seconds",
    "millwright_buffer_dropped_rows",
    "millwright_devices",
    "millwright_device_connected",
    "millwright_alarms_active",
    "millwright_alarms_unacknowledged",
    "millwright_database_replica_up",
    "millwright_database_replica_lag_seconds",
    "millwright_metrics_source_up",
)


class MillwrightCollector(Collector):
    """Reads every figure when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "millwright_metrics_source_up", "Whether a source of figures answered", labels=["source"]
        )
        for source, read in (
            ("counted", self._counted),
            ("pollers", self._pollers),
            ("buffers", self._buffers),
            ("devices", self._devices),
            ("alarms", self._alarms),
            ("replicas", self._replicas),
        ):
            try:
                families = list(read())
            except Exception as exc:  # one source away never fails the whole scrape
                logger.warning("metrics: %s unavailable: %s", source, exc)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    @staticmethod
    def _counted() -> Iterator[Metric]:
        values = {**counters_read(), **gauges_read()}
        for name, (kind, text, label_names) in COUNTED.items():
            family: Metric
            if kind == "counter":
                family = CounterMetricFamily(name.removesuffix("_total"), text, labels=list(label_names))
            else:
                family = GaugeMetricFamily(name, text, labels=list(label_names))
            found = False
            for (counted, labels), value in sorted(values.items()):
                if counted != name:
                    continue
                held = dict(labels)
                family.add_metric([held.get(k, "") for k in label_names], value)
                found = True
            if not found and not label_names:
                family.add_metric([], 0)
            yield family

    @staticmethod
    def _pollers() -> Iterator[Metric]:
        stats = poller_stats_read()
        jitter = GaugeMetricFamily(
            "millwright_poll_jitter_milliseconds",
            "Poll start after its scheduled tick over the poller's latest 1,000 polls (p50, p99, max)",
            labels=["poller", "stat"],
        )
        polls = CounterMetricFamily(
            "millwright_polls", "Polls since the poller started, by outcome", labels=["poller", "status"]
        )
        for poller, summary in sorted(stats.items()):
            for stat, value in (summary.get("jitter_ms") or {}).items():
                jitter.add_metric([poller, stat], value)
            for status, count in sorted((summary.get("polls") or {}).items()):
                polls.add_metric([poller, status], count)
        alive = GaugeMetricFamily("millwright_pollers_alive", "Acquisition pollers whose heartbeat is alive")
        alive.add_metric([], len(pollers_alive(redis_client())))
        yield from (jitter, polls, alive)

    @staticmethod
    def _buffers() -> Iterator[Metric]:
        rows = GaugeMetricFamily("millwright_buffer_rows", "Values waiting in a host's on-disk buffer", labels=["host"])
        age = GaugeMetricFamily(
            "millwright_buffer_oldest_age_seconds", "Age of the oldest buffered value (0: empty)", labels=["host"]
        )
        dropped = GaugeMetricFamily(
            "millwright_buffer_dropped_rows", "Values dropped by a full buffer since it was created", labels=["host"]
        )
        for status in ingest_buffer_statuses():
            host = status["host"]
            rows.add_metric([host], status.get("depth", 0))
            age.add_metric([host], status.get("oldest_age_seconds") or 0.0)
            dropped.add_metric([host], status.get("dropped", 0))
        yield from (rows, age, dropped)

    @staticmethod
    def _devices() -> Iterator[Metric]:
        counts = GaugeMetricFamily(
            "millwright_devices", "Devices by link status and protocol", labels=["status", "protocol"]
        )
        by: dict[tuple[str, str], int] = defaultdict(int)
        for row in Device.objects.values("status", "protocol").annotate(n=Count("pk")):
            by[(row["status"], row["protocol"])] = row["n"]
        for (status, protocol), n in sorted(by.items()):
            counts.add_metric([status, protocol], n)
        connected = GaugeMetricFamily(
            "millwright_device_connected",
            "1 while an enabled device's link is up, 0 when it is not",
            labels=["device", "protocol"],
        )
        for name, protocol, status in Device.objects.filter(enabled=True).values_list("name", "protocol", "status"):
            connected.add_metric([name, protocol], 1 if status == DeviceStatus.CONNECTED else 0)
        yield from (counts, connected)

    @staticmethod
    def _alarms() -> Iterator[Metric]:
        counts = alarm_counts(security=True)
        active = GaugeMetricFamily("millwright_alarms_active", "Annunciated alarms by priority", labels=["priority"])
        unacked = GaugeMetricFamily(
            "millwright_alarms_unacknowledged", "Unacknowledged alarms by priority", labels=["priority"]
        )
        for priority, n in sorted(counts["active"].items()):
            active.add_metric([str(priority)], n)
        for priority, n in sorted(counts["unacknowledged"].items()):
            unacked.add_metric([str(priority)], n)
        yield from (active, unacked)

    @staticmethod
    def _replicas() -> Iterator[Metric]:
        # The statuses the read routing uses (checked at most every DATABASE_REPLICA_CHECK_SECONDS per process).
        up = GaugeMetricFamily(
            "millwright_database_replica_up", "1 while a read replica answers, 0 when it does not", labels=["replica"]
        )
        lag = GaugeMetricFamily(
            "millwright_database_replica_lag_seconds",
            "A read replica's replay lag (reads go to the primary above DATABASE_REPLICA_MAX_LAG)",
            labels=["replica"],
        )
        for status in replica_statuses():
            up.add_metric([status.alias], 1 if status.up else 0)
            if status.lag_seconds is not None:
                lag.add_metric([status.alias], status.lag_seconds)
        yield from (up, lag)


def metrics_exposition() -> bytes:
    """The text exposition format of every figure, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MillwrightCollector())
    return generate_latest(registry)
