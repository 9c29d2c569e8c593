"""OPC UA subscriptions: the server pushes changes, we store them through the same path as polled values.

One SubscriptionRunner per process (``manage.py run_subscriptions``). asyncua lives on an event loop in a thread
of its own, one OpcUaSubscription per enabled OPC UA device with ``use_subscriptions``; each monitored item
samples at its tag's scan-class period with the tag's deadband as an absolute DataChangeFilter, and the server
publishes what changed every `publishing_interval_ms(device, tags)`: a tenth of the fastest tag's scan period, so
that a value reaches the browser within the budget of a polled one (issue 17), never slower than the device's
setting. Each publish response (a batch) and each link event goes through a queue to the runner's own thread and
wakes it: it stores them at once with readings_store (compression, current values, live push, alarms) and keeps
the device status. What arrives while it stores waits in the queue and is stored together at the next step, so a
busy runner writes bigger batches, not more of them. All database work stays in one synchronous thread, and a slow
database never stalls the OPC UA sessions.

A link drop stores one bad-quality sample per tag of the device (device_link_lost); the subscription reconnects
with exponential backoff and jitter and re-creates its monitored items, and the first values after that are good
again. A secure server's certificate is pinned on the first link that comes up, and a changed one is refused and
reported as a security event with both thumbprints (ingest.acquisition.opcua_trust), as for polled devices.
The configuration is re-read every `reload_seconds`, and at once when a device is taken out of service or
put back (ingest.services.devices): a changed device or tag list restarts that device's subscription only. A device
taken out of service is unsubscribed (disconnected); what it sent after that is dropped, and its status and the
out-of-service sample of each tag, written when it was disabled, stay as they are.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from django.utils import timezone

from common.loop_thread import LoopThread
from historian.models import Device, Protocol, Tag, TimestampSource
from historian.quality import quality_is_good
from ingest.acquisition.config_reload import ConfigReloads
from ingest.acquisition.identify import IdentifySchedule, device_identify_when_due
from ingest.acquisition.opcua_trust import (
    CertificateRefusals,
    opcua_certificate_pin_offered,
    opcua_certificate_refused,
)
from ingest.pipeline.context import IngestContext
from ingest.pipeline.device_status import device_record_success, reconnect_delay
from ingest.pipeline.store import (
    DATABASE_DOWN_ERRORS,
    compression_flush,
    database_connection_reset,
    device_link_lost,
    readings_store,
)
from ingest.protocols.base import PointReading, PointRequest
from ingest.protocols.opcua.driver import (
    LinkStatus,
    MonitoredPoint,
    OpcUaDriver,
    OpcUaSettings,
    OpcUaSubscription,
)

logger = logging.getLogger(__name__)

#: Values pushed within one such slot are stored as one batch, stamped with the slot's start: a server that
#: stamps every value with its own millisecond would otherwise cost one database write per value.
TIME_RESOLUTION_MS = 100

#: The publishing interval is this fraction of the fastest scan period of a device's tags ...
PUBLISHING_FRACTION_OF_SCAN = 10
#: ... and no shorter than this (the device setting's minimum).
MIN_PUBLISHING_INTERVAL_MS = 50

#: What a subscription's callbacks queue for the flush, by device id: its readings, or a link change
#: (its status: connected or the reason of a drop, the certificate presented; and when).
_Event = (
    tuple[int, Literal["readings"], list[tuple[datetime, PointReading]]]
    | tuple[int, Literal["status"], tuple[LinkStatus, datetime]]
)


@dataclass
class _Session:
    device: Device
    tags: dict[int, Tag]
    signature: tuple
    subscription: OpcUaSubscription
    future: Future = field(repr=False)
    #: why each tag whose latest value is not good is so; a tag is notified only when it changes
    problems: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FlushOutcome:
    stored: int = 0
    readings: int = 0
    connects: int = 0
    drops: int = 0


def subscription_points(tags: list[Tag]) -> list[MonitoredPoint]:
    return [
        MonitoredPoint(
            PointRequest(t.pk, t.address, t.data_type, t.scale, t.offset),
            sampling_ms=float(t.scan_class.period_ms),
            deadband=t.deadband,
        )
        for t in tags
    ]


def publishing_interval_ms(device: Device, tags: list[Tag]) -> int:
    """How often the server is asked to send what changed: a tenth of the fastest tag's scan period (100 ms for
    a 1 s tag: published values then wait at most that long on the server), at least 50 ms, and never longer than
    the device's `publishing_interval_ms`."""
    if not tags:
        return device.publishing_interval_ms
    fastest = min(t.scan_class.period_ms for t in tags)
    following = max(MIN_PUBLISHING_INTERVAL_MS, fastest // PUBLISHING_FRACTION_OF_SCAN)
    return min(device.publishing_interval_ms, following)


def _slot(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % (TIME_RESOLUTION_MS * 1000))


class SubscriptionRunner:
    """Keeps the subscriptions of every OPC UA device that has ``use_subscriptions`` and stores their values.

    The runner owns its store context (`self.context`: compression segments, caches, after-store hooks), its
    identify schedule and the refused server certificates it reported (`self.certificate_refusals`); `context` is
    for a test that looks into it."""

    def __init__(
        self, *, flush_seconds: float = 0.25, reload_seconds: float = 30.0, context: IngestContext | None = None
    ) -> None:
        self.context = context or IngestContext()
        self.flush_seconds = flush_seconds  # the longest wait between steps when nothing arrives
        self._wake = threading.Event()  # set by the subscriptions' callbacks: something arrived
        self.reload_seconds = reload_seconds
        self._events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self._sessions: dict[int, _Session] = {}
        self._retired: list[_Session] = []  # stopping: their last events are still stored
        self._loop_thread = LoopThread("opcua-subscriptions")
        self._identify_schedule = IdentifySchedule()
        self.certificate_refusals = CertificateRefusals()
        self._reloads = ConfigReloads(what="subscriptions")

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._loop_thread.loop()

    def run(self, *, stop: threading.Event) -> None:
        """Run until `stop` is set (SIGTERM), then unsubscribe, store what arrived and return."""
        self.start()
        try:
            while not stop.is_set():
                self._wake.clear()  # before the step: what arrives during it wakes the next one at once
                self.step()
                self._wake.wait(self.flush_seconds)
        finally:
            self.shutdown()

    def wake(self) -> None:
        """Make `run` step now rather than at its next idle tick (after setting its `stop`, to stop at once)."""
        self._wake.set()

    def step(self) -> FlushOutcome:
        """Re-read the configuration when due, then store what arrived since the last step."""
        self._reloads.run_if_due(self.sync, seconds=self.reload_seconds)
        return self.flush()

    def shutdown(self, timeout: float = 10.0) -> None:
        for device_id in list(self._sessions):
            self._stop_session(device_id, wait=False)
        deadline = time.monotonic() + timeout
        for session in list(self._retired):
            try:
                session.future.result(max(0.1, deadline - time.monotonic()))
            except Exception:
                logger.exception("subscription of %s did not stop cleanly", session.device)
        self._retired.clear()
        try:
            self.flush()
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
        self._loop_thread.stop(timeout)

    def _session(self, device_id: int) -> _Session | None:
        return self._sessions.get(device_id) or next((s for s in self._retired if s.device.pk == device_id), None)

    def subscription(self, device_id: int) -> OpcUaSubscription | None:
        session = self._sessions.get(device_id)
        return session.subscription if session else None

    # -- configuration -------------------------------------------------------------------------------------

    def sync(self) -> None:
        """Start, restart or stop subscriptions to match the database."""
        devices = {
            d.pk: d
            for d in Device.objects.filter(protocol=Protocol.OPCUA, use_subscriptions=True, enabled=True).order_by("pk")
        }
        tags_by_device: dict[int, list[Tag]] = defaultdict(list)
        for tag in Tag.objects.filter(device_id__in=devices).select_related("scan_class").order_by("pk"):
            tags_by_device[tag.device_id].append(tag)
        for device_id in set(self._sessions) - set(devices):
            self._stop_session(device_id)
        for device_id, device in devices.items():
            tags = tags_by_device.get(device_id, [])
            points = subscription_points(tags)
            signature = (
                OpcUaSettings.from_device(device),
                publishing_interval_ms(device, tags),
                device.timestamp_source,
                tuple(points),
            )
            session = self._sessions.get(device_id)
            if session is not None and session.signature == signature:
                session.tags = {t.pk: t for t in tags}  # storage settings (historize, compression) may have changed
                continue
            if session is not None:
                self._stop_session(device_id)
            if points:
                self._start_session(device, tags, points, signature)

    def _start_session(self, device: Device, tags: list[Tag], points: list[MonitoredPoint], signature: tuple) -> None:
        assert self._loop_thread.running, "start() the runner first"
        device_id = device.pk

        def on_readings(batch: list[tuple[datetime, PointReading]]) -> None:
            self._events.put((device_id, "readings", batch))
            self._wake.set()

        def on_status(status: LinkStatus) -> None:
            self._events.put((device_id, "status", (status, datetime.now(UTC))))
            self._wake.set()

        subscription = OpcUaSubscription(
            OpcUaSettings.from_device(device),
            points,
            publishing_interval_ms=publishing_interval_ms(device, tags),
            on_readings=on_readings,
            on_status=on_status,
            backoff=reconnect_delay,
            source_timestamps=device.timestamp_source == TimestampSource.SOURCE,
        )
        future = self._loop_thread.submit(subscription.run())
        self._sessions[device_id] = _Session(device, {t.pk: t for t in tags}, signature, subscription, future)
        logger.info("subscribing to %d tags of %s at %s", len(points), device, device.opcua_endpoint)

    def _stop_session(self, device_id: int, *, wait: bool = True) -> None:
        session = self._sessions.pop(device_id)
        if self._loop_thread.running:
            self._loop_thread.loop().call_soon_threadsafe(session.subscription.stop)
        if wait:
            try:
                session.future.result(10)
            except Exception:
                logger.exception("subscription of %s did not stop cleanly", session.device)
            # Its values stop here: close the open segments with what this runner holds of them (the value
            # a device taken out of service had before its out-of-service sample, for one).
            try:
                compression_flush(context=self.context, tags=session.tags)
            except DATABASE_DOWN_ERRORS:
                database_connection_reset()
        else:
            self._retired.append(session)

    # -- storing -------------------------------------------------------------------------------------------

    def flush(self) -> FlushOutcome:
        """Store the readings and apply the link events that arrived, in arrival order per device."""
        pending: dict[int, list[tuple[datetime, PointReading]]] = defaultdict(list)
        stored = count = connects = drops = 0
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            device_id = event[0]
            session = self._session(device_id)
            if session is None:
                continue
            if event[1] == "readings":
                pending[device_id].extend(event[2])
                continue
            stored += self._store(session, pending.pop(device_id, []))
            status, at = event[2]
            if status.ok:
                connects += 1
                device_record_success(context=self.context, device=session.device, read_at=at)
                self._pin(session, status.peer_certificate)
                self._identify(session.device, at)
            else:
                drops += 1
                stored += device_link_lost(
                    context=self.context, device=session.device, tags=session.tags, error=status.reason, failed_at=at
                ).stored
                opcua_certificate_refused(device=session.device, error=status.error, refusals=self.certificate_refusals)
        for device_id, readings in pending.items():
            session = self._session(device_id)
            if session is not None:
                count += len(readings)
                stored += self._store(session, readings)
        return FlushOutcome(stored=stored, readings=count, connects=connects, drops=drops)

    def _pin(self, session: _Session, certificate: bytes | None) -> None:
        """Pin the certificate a secure server presented on the first link (trust on first use); the running
        subscription checks it from its next connect on, and the session's signature stays that of the device, so
        the next configuration reload does not restart it for that."""
        if not opcua_certificate_pin_offered(device=session.device, certificate=certificate):
            return
        settings = OpcUaSettings.from_device(session.device)
        session.subscription.settings = settings  # read by the subscription at each (re)connect
        session.signature = (settings, *session.signature[1:])

    def _identify(self, device: Device, at: datetime) -> None:
        """Ask the server what it is (for the asset inventory) over a short connection of its own, when due: the
        subscription's client lives on the runner's loop and is busy streaming."""
        if not self._identify_schedule.due(device.pk, now=time.monotonic()):
            return
        with OpcUaDriver(OpcUaSettings.from_device(device)) as driver:
            device_identify_when_due(device=device, driver=driver, schedule=self._identify_schedule, observed_at=at)

    def _store(self, session: _Session, readings: list[tuple[datetime, PointReading]]) -> int:
        if not readings:
            return 0
        slots: dict[datetime, dict[int, PointReading]] = defaultdict(dict)
        for moment, reading in sorted(readings, key=lambda r: r[0]):
            if reading.tag_id in session.tags:
                slots[_slot(moment)][reading.tag_id] = reading  # the newest value of a tag in a slot wins
        stored = 0
        for read_at in sorted(slots):
            batch = list(slots[read_at].values())
            stored += readings_store(
                context=self.context, device=session.device, tags=session.tags, readings=batch, read_at=read_at
            ).stored
        newest = max(slots) if slots else timezone.now()
        for tag_id, reading in _latest(slots).items():
            if quality_is_good(reading.quality) or not reading.reason:
                session.problems.pop(tag_id, None)
            else:
                session.problems[tag_id] = reading.reason
        try:
            errors = "; ".join(sorted(set(session.problems.values())))
            device_record_success(context=self.context, device=session.device, read_at=newest, point_errors=errors)
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
        return stored


def _latest(slots: Mapping[datetime, Mapping[int, PointReading]]) -> dict[int, PointReading]:
    latest: dict[int, PointReading] = {}
    for read_at in sorted(slots):
        latest.update(slots[read_at])
    return latest
