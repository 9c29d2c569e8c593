"""The communication baseline of polled devices: how fast each answers, and how often it is asked.

On the poll path and in memory only (no database work per poll): every successful read adds its response time to
the device's running averages (exponentially weighted mean and mean absolute deviation, after a plain average of
the first polls). The learned figures are written on the device's asset every COMMUNICATION_SAVE_SECONDS (one
UPDATE) and read back at the first poll after a restart, so a restart does not start learning again.

Conservative on purpose (a security alarm that cries wolf is switched off): nothing is judged before
COMMUNICATION_LEARN_POLLS polls; a response time is "far outside" only when it is several times the learned one
*and* many deviations away *and* COMMUNICATION_MIN_CHANGE_MS slower (or, for devices that take at least that long,
four times faster: something else answering); and only when every poll stays so for COMMUNICATION_SUSTAIN_SECONDS
(and at least SUSTAIN_MIN_POLLS polls) is COMMUNICATION_CHANGED reported, once, until the device is back within
its baseline. Samples outside are not learned, so a slow change is not learned away while it is being judged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from historian.models import Device
from ingest.acquisition.identify import device_address, device_asset_key
from ingest.acquisition.security import security_report
from ingest.pipeline.store import DATABASE_DOWN_ERRORS, database_connection_reset
from inventory.queries import asset_communication_get, asset_id_find
from inventory.security_events import SecurityEvent, SecurityEventKind
from inventory.services.baseline import asset_communication_save

logger = logging.getLogger(__name__)

#: weight of a new sample in the running averages (about the last 100 polls count)
ALPHA = 0.01
#: "far outside": this many times the learned response time, and this many mean deviations away
FACTOR = 4.0
DEVIATIONS = 8.0
SUSTAIN_MIN_POLLS = 5
RECENT_SAMPLES = 20


@dataclass
class DeviceCommunication:
    """One device's learned communication and the state of the judgement, in one process."""

    polls: int = 0  # successful reads learned from (restored from the asset after a restart)
    response_ms: float = 0.0
    deviation_ms: float = 0.0
    polls_in_window: int = 0
    window_started: float | None = None  # monotonic
    polls_per_minute: float | None = None
    outside_since: float | None = None  # monotonic
    outside_at: datetime | None = None
    outside_polls: int = 0
    reported: bool = False
    saved_at: float | None = None  # monotonic; None: not restored from the asset yet
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_SAMPLES))

    def as_json(self) -> dict[str, object]:
        return {
            "polls": self.polls,
            "response_ms": round(self.response_ms, 3),
            "deviation_ms": round(self.deviation_ms, 3),
            "polls_per_minute": None if self.polls_per_minute is None else round(self.polls_per_minute, 2),
            "learned": self.polls >= settings.COMMUNICATION_LEARN_POLLS,
        }

    def restore(self, saved: dict) -> None:
        try:
            self.polls = int(saved.get("polls", 0))
            self.response_ms = float(saved.get("response_ms", 0.0))
            self.deviation_ms = float(saved.get("deviation_ms", 0.0))
        except (TypeError, ValueError):
            self.polls, self.response_ms, self.deviation_ms = 0, 0.0, 0.0

    def outside(self, ms: float) -> bool:
        if self.polls < settings.COMMUNICATION_LEARN_POLLS:
            return False
        floor = settings.COMMUNICATION_MIN_CHANGE_MS
        slower = ms > max(self.response_ms * FACTOR, self.response_ms + DEVIATIONS * self.deviation_ms)
        slower = slower and ms - self.response_ms >= floor
        faster = self.response_ms >= floor and ms < self.response_ms / FACTOR
        return slower or faster

    def learn(self, ms: float) -> None:
        self.polls += 1
        weight = max(ALPHA, 1.0 / self.polls)  # a plain average of the first polls, then exponential
        self.deviation_ms += weight * (abs(ms - self.response_ms) - self.deviation_ms) if self.polls > 1 else 0.0
        self.response_ms += weight * (ms - self.response_ms)


class CommunicationBaselines:
    """Every polled device's DeviceCommunication in this process (the poller's threads share it; one device is
    polled by one thread at a time, see ingest.acquisition.leases)."""

    def __init__(self) -> None:
        self._devices: dict[int, DeviceCommunication] = {}
        self._lock = threading.Lock()

    def get(self, device_id: int) -> DeviceCommunication | None:
        return self._devices.get(device_id)

    def observe(self, *, device: Device, seconds: float, at: datetime, now: float | None = None) -> bool:
        """Take one successful read of `seconds`; True when it reported COMMUNICATION_CHANGED."""
        now = time.monotonic() if now is None else now
        with self._lock:
            stats = self._devices.setdefault(device.pk, DeviceCommunication())
        if stats.saved_at is None:
            self._restore(device, stats, now)
        ms = seconds * 1000.0
        stats.recent.append(round(ms, 3))
        self._count(stats, now)
        reported = False
        if stats.outside(ms):
            if stats.outside_since is None:
                stats.outside_since, stats.outside_at, stats.outside_polls = now, at, 0
            stats.outside_polls += 1
            sustained = now - stats.outside_since >= settings.COMMUNICATION_SUSTAIN_SECONDS
            if sustained and stats.outside_polls >= SUSTAIN_MIN_POLLS and not stats.reported:
                stats.reported = reported = True
                self._report(device, stats, at)
        else:
            if stats.reported:
                logger.info("%s: response times back within the learned baseline", device)
            stats.outside_since, stats.outside_at, stats.outside_polls, stats.reported = None, None, 0, False
            stats.learn(ms)
        if now - stats.saved_at >= settings.COMMUNICATION_SAVE_SECONDS:  # type: ignore[operator]
            self._save(device, stats, now)
        return reported

    @staticmethod
    def _count(stats: DeviceCommunication, now: float) -> None:
        if stats.window_started is None:
            stats.window_started = now
        stats.polls_in_window += 1
        elapsed = now - stats.window_started
        if elapsed >= 60.0:
            stats.polls_per_minute = stats.polls_in_window * 60.0 / elapsed
            stats.window_started, stats.polls_in_window = now, 0

    @staticmethod
    def _restore(device: Device, stats: DeviceCommunication, now: float) -> None:
        stats.saved_at = now
        try:
            saved = asset_communication_get(protocol=device.protocol, key=device_asset_key(device))
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            return
        if saved:
            stats.restore(saved)

    @staticmethod
    def _save(device: Device, stats: DeviceCommunication, now: float) -> None:
        stats.saved_at = now
        try:
            asset_communication_save(
                protocol=device.protocol, key=device_asset_key(device), communication=stats.as_json()
            )
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()

    @staticmethod
    def _report(device: Device, stats: DeviceCommunication, at: datetime) -> None:
        try:
            asset_id = asset_id_find(protocol=device.protocol, key=device_asset_key(device))
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            asset_id = None
        recent = list(stats.recent)
        security_report(
            SecurityEvent(
                kind=SecurityEventKind.COMMUNICATION_CHANGED,
                subject=f"device:{device.pk}:response-time",
                message=f"{device} ({device_address(device)}) answers in {recent[-1]:g} ms for "
                f"{stats.outside_polls} polls in a row, where it learned {stats.response_ms:.1f} ms",
                at=at,
                evidence={
                    "address": device_address(device),
                    "baseline": stats.as_json(),
                    "recent_response_ms": recent,
                    "outside_since": stats.outside_at.isoformat() if stats.outside_at else None,
                    "outside_polls": stats.outside_polls,
                },
                asset_id=asset_id,
                device_id=device.pk,
            )
        )
