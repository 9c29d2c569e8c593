"""One poll: read a device's tags of one scan class, store what changed, tell the browsers.

The poller (ingest.acquisition.poller) decides when and in which process a device is polled; this module is what
one poll does: a device in backoff after a failure is not touched until its retry time; a link failure stores one
bad-quality sample per tag of the device and schedules the retry; the worker itself never fails on a device
problem.

While PostgreSQL is unreachable, polling goes on from the configuration read last (device, scan class, tags)
and the values go to the store-and-forward buffer (see ingest.pipeline.store).

What polls remember between them (the store's IngestContext, open drivers, source times, when each device was
last asked what it is, the configuration read last) is a Polling object: the poller owns one, a test makes its
own.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.utils import timezone

from historian.device_fields import STATUS_FIELDS
from historian.models import Device, Protocol, ScanClass, Tag, TimestampSource
from historian.quality import quality_is_good
from historian.sample_types import datetime_to_us, us_to_datetime
from ingest.acquisition.communication import CommunicationBaselines
from ingest.acquisition.identify import IdentifySchedule, device_identify_when_due
from ingest.acquisition.opcua_trust import (
    CertificateRefusals,
    opcua_certificate_pin_on_first_use,
    opcua_certificate_refused,
)
from ingest.acquisition.subscriptions import TIME_RESOLUTION_MS
from ingest.pipeline.context import IngestContext
from ingest.pipeline.device_status import device_record_success
from ingest.pipeline.store import (
    DATABASE_DOWN_ERRORS,
    StoreOutcome,
    database_connection_reset,
    device_link_lost,
    readings_store,
)
from ingest.protocols.base import DeviceUnreachable, PointRequest, ReadingBatch
from ingest.protocols.registry import DriverRegistry

logger = logging.getLogger(__name__)

_TAG_FIELDS = (
    "pk",
    "device_id",
    "scan_class_id",
    "machine_id",
    "address",
    "data_type",
    "word_order",
    "byte_order",
    "scale",
    "offset",
    "historize",
    "deadband",
    "deviation_unit",
    "compression_deviation",
    "max_store_interval_seconds",
    "stale_after_seconds",
    "interpolation",
    "value_labels",
    "span_low",
    "span_high",
)


@dataclass(frozen=True)
class PollOutcome:
    status: str  # stored | backoff | disabled | unreachable | no_tags | no_database
    stored: int = 0
    published: int = 0
    buffered: int = 0
    replayed: int = 0


@dataclass
class PollConfig:
    """What one poll needs from the database; kept in memory for when the database is away."""

    scan_class: ScanClass
    device: Device
    tags: dict[int, Tag]
    points: list[PointRequest]
    tags_read_at: float = 0.0  # time.monotonic()


PollKey = tuple[int, int]  # (device id, scan class id)


def polled_assignments() -> dict[int, dict[int, int]]:
    """What is polled: per enabled device, its scan classes and their periods in ms, {device: {scan class: ms}}.

    Not the devices whose values are pushed (OPC UA subscriptions, Sparkplug B edge nodes) or computed (derived),
    nor scan classes in which the device has no tags.
    """
    rows = (
        Tag.objects.filter(device__enabled=True)
        .exclude(device__protocol=Protocol.OPCUA, device__use_subscriptions=True)
        .exclude(device__protocol=Protocol.SPARKPLUG)
        .exclude(device__protocol=Protocol.DERIVED)
        .values_list("device_id", "scan_class_id", "scan_class__period_ms")
        .distinct()
    )
    out: dict[int, dict[int, int]] = defaultdict(dict)
    for device_id, scan_class_id, period_ms in rows:
        out[device_id][scan_class_id] = period_ms
    return dict(out)


def poll_configs_load(keys: Collection[PollKey], *, known: Mapping[PollKey, PollConfig]) -> dict[PollKey, PollConfig]:
    """Fresh configuration of these (device, scan class) pairs in three queries; raises when the database is down.

    A pair whose points did not change keeps the same points list, so the driver's read plan stays cached.
    """
    device_ids = {d for d, _ in keys}
    devices = Device.objects.in_bulk(device_ids)
    scan_classes = ScanClass.objects.in_bulk({s for _, s in keys})
    tags: dict[PollKey, dict[int, Tag]] = defaultdict(dict)
    for tag in Tag.objects.filter(device_id__in=device_ids).only(*_TAG_FIELDS).order_by("pk"):
        if (tag.device_id, tag.scan_class_id) in keys:
            tags[(tag.device_id, tag.scan_class_id)][tag.pk] = tag
    now = time.monotonic()
    configs = {}
    for key in keys:
        device, scan_class = devices.get(key[0]), scan_classes.get(key[1])
        if device is None or scan_class is None:
            continue
        key_tags = tags.get(key, {})
        points = [
            PointRequest(t.pk, t.address, t.data_type, t.scale, t.offset, t.word_order or None, t.byte_order or None)
            for t in key_tags.values()
        ]
        previous = known.get(key)
        if previous is not None and previous.points == points:
            points = previous.points
        configs[key] = PollConfig(scan_class=scan_class, device=device, tags=key_tags, points=points, tags_read_at=now)
    return configs


def poll_configs_fingerprint(device_ids: Collection[int]) -> int:
    """A digest of the configuration poll_configs_load would read for these devices, read without building model
    instances (a tenth of the CPU for 10,000 tags): the poller reloads only when it moves."""
    device_fields = [f.attname for f in Device._meta.concrete_fields if f.name not in STATUS_FIELDS]
    tag_fields = [name for name in _TAG_FIELDS if name != "pk"]  # column names already (`device_id`, not `device`)
    devices = Device.objects.filter(pk__in=device_ids).order_by("pk").values_list(*device_fields)
    tags = Tag.objects.filter(device_id__in=device_ids).order_by("pk").values_list("pk", *tag_fields)
    return hash(repr((list(devices), list(tags))))  # repr: JSON fields (value labels) hold dicts


class SourceTimes:
    """Stamps polled readings with the device's own timestamps (a device with timestamp_source "source" whose
    driver returns them: OPC UA), per poller (Polling.source_times).

    A poll asks the server for every tag's value each scan: a value that has not changed comes back with the
    SourceTimestamp already stored, and is not stored again (it is the same sample). Times are kept to
    TIME_RESOLUTION_MS, as for subscriptions, so that one poll makes a few writes, not one per tag. A tag's times
    only move forward: a sample stamped at or before what the tag has stored (a bad-quality sample written when
    the link dropped, a second sample within one 100 ms slot) is stored at the scan time instead, and a reading
    with no usable timestamp (none sent, or the PLC clock an hour off) takes the scan time too.
    """

    def __init__(self) -> None:
        self._source: dict[int, int] = {}  # tag id -> the last SourceTimestamp stored (µs)
        self._stored: dict[int, int] = {}  # tag id -> the last time stored (µs)

    def split(self, batch: ReadingBatch, read_at: datetime) -> list[tuple[datetime, ReadingBatch]]:
        """The readings to store, grouped by time (oldest first); repeats of a stored sample left out."""
        assert batch.times is not None
        scan = datetime_to_us(read_at)
        slot = TIME_RESOLUTION_MS * 1000
        groups: dict[int, list[int]] = defaultdict(list)
        for i, (tag_id, source) in enumerate(zip(batch.tag_ids.tolist(), batch.times.tolist(), strict=True)):
            if source and self._source.get(tag_id) == source:
                continue
            last = self._stored.get(tag_id, -1)
            at = source - source % slot if source else scan
            if at <= last:
                at = scan
            if at <= last:
                continue
            groups[at].append(i)
            self._stored[tag_id] = at
            if source:
                self._source[tag_id] = source
        return [(us_to_datetime(at), batch.take(np.array(groups[at], dtype=np.intp))) for at in sorted(groups)]

    def link_lost(self, tag_ids: Collection[int], at: datetime) -> None:
        """After the bad samples of a lost link: the first value after it is stored again, after them."""
        at_us = datetime_to_us(at)
        for tag_id in tag_ids:
            self._source.pop(tag_id, None)
            self._stored[tag_id] = max(self._stored.get(tag_id, -1), at_us)


@dataclass
class Polling:
    """What one poller remembers between polls: the store's context, its open drivers, the devices' source times,
    when each device was last identified, the devices' learned response times, the refused OPC UA server
    certificates already reported, and (for device_poll) the configuration read last."""

    ingest: IngestContext = field(default_factory=IngestContext)
    drivers: DriverRegistry = field(default_factory=DriverRegistry)
    source_times: SourceTimes = field(default_factory=SourceTimes)
    identify_schedule: IdentifySchedule = field(default_factory=IdentifySchedule)
    configs: dict[PollKey, PollConfig] = field(default_factory=dict)
    communication: CommunicationBaselines = field(default_factory=CommunicationBaselines)
    certificate_refusals: CertificateRefusals = field(default_factory=CertificateRefusals)

    def close(self) -> None:
        """Close the open drivers (shutdown, the end of a test)."""
        self.drivers.close_all()


def _config_load(polling: Polling, device_id: int, scan_class_id: int) -> PollConfig | None:
    """Fresh from the database, else what this poller read last (None if it never read it)."""
    key = (device_id, scan_class_id)
    try:
        fresh = poll_configs_load([key], known=polling.configs)
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
        config = polling.configs.get(key)
        if config is not None:
            logger.warning("database unavailable: polling %s from the last configuration read", config.device)
        return config
    if key in fresh:
        polling.configs[key] = fresh[key]
    return fresh.get(key)


def device_poll(*, polling: Polling, device_id: int, scan_class_id: int) -> PollOutcome:
    """Poll one device's tags of one scan class now (the poller's per-tick work, also usable on demand).

    Callers make sure no two polls of one device run at once: the poller holds a lease on each device it polls
    (ingest.acquisition.poller), and a driver connection is not thread-safe.
    """
    config = _config_load(polling, device_id, scan_class_id)
    if config is None:
        return PollOutcome("no_database")
    return config_poll(config, polling=polling)


def config_poll(
    config: PollConfig,
    *,
    polling: Polling,
    now: datetime | None = None,
    after_read: Callable[[Device], None] | None = None,
) -> PollOutcome:
    """One poll with configuration already loaded: skipped while the device is disabled or backing off.

    `after_read(device)` runs between the read and the store (the poller holds stores back while other reads run,
    and drops the read of a device taken out of service meanwhile by raising).
    """
    now = now or timezone.now()
    device = config.device
    if not device.enabled:
        return PollOutcome("disabled")
    if device.next_retry_at is not None and device.next_retry_at > now:
        return PollOutcome("backoff")
    return _read_and_store(config, polling, after_read)


def _read_and_store(
    config: PollConfig, polling: Polling, after_read: Callable[[Device], None] | None = None
) -> PollOutcome:
    device, tags, context = config.device, config.tags, polling.ingest
    if not tags:
        return PollOutcome("no_tags")
    driver = polling.drivers.driver_for(device)
    # The sample time is when the read starts, as in scan-based historians: the values of one scan share one
    # time whatever the device's response time (the poller reports read durations on their own).
    read_at = timezone.now()
    started = time.monotonic()
    try:
        readings = driver.read_batch(config.points)
    except DeviceUnreachable as exc:
        failed_at = timezone.now()
        lost = device_link_lost(
            context=context, device=device, tags=tags, error=str(exc) or type(exc).__name__, failed_at=failed_at
        )
        polling.source_times.link_lost(tags, failed_at)
        opcua_certificate_refused(device=device, error=exc, refusals=polling.certificate_refusals)
        return PollOutcome("unreachable", stored=lost.stored, published=lost.published, buffered=lost.buffered)
    response_seconds = time.monotonic() - started
    if after_read is not None:
        after_read(device)
    if readings.times is not None and device.timestamp_source == TimestampSource.SOURCE:
        outcome = StoreOutcome()
        for at, group in polling.source_times.split(readings, read_at):
            outcome += readings_store(context=context, device=device, tags=tags, readings=group, read_at=at)
    else:
        outcome = readings_store(context=context, device=device, tags=tags, readings=readings, read_at=read_at)
    reasons: list[str] = []
    if readings.reasons:
        not_good = set(readings.tag_ids[~quality_is_good(readings.qualities)].tolist())
        reasons = sorted({reason for tag_id, reason in readings.reasons.items() if tag_id in not_good})
    try:
        device_record_success(context=context, device=device, read_at=read_at, point_errors="; ".join(reasons))
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
    opcua_certificate_pin_on_first_use(device=device, driver=driver)
    device_identify_when_due(device=device, driver=driver, schedule=polling.identify_schedule, observed_at=read_at)
    polling.communication.observe(device=device, seconds=response_seconds, at=read_at)
    return PollOutcome(
        "stored",
        stored=outcome.stored,
        published=outcome.published,
        buffered=outcome.buffered,
        replayed=outcome.replayed,
    )
