"""Marking what is read from a quarantined device: the values are kept, but no one may take them at face value.

A good reading becomes "uncertain: quarantined" (Quality.UNCERTAIN_QUARANTINED); a bad or uncertain one keeps its
own, more specific, quality. Charts and the API show the mark; limit alarms still see the values (a quarantined
PLC's temperature may still be real and high), rate-of-change alarms, which need good values, do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from historian.models import Device
from historian.quality import Quality, quality_is_good
from ingest.protocols.base import PointReading, ReadingBatch


def readings_quarantine_marked(
    device: Device, readings: Sequence[PointReading] | ReadingBatch
) -> Sequence[PointReading] | ReadingBatch:
    """`readings` as stored for `device`: unchanged unless the device is quarantined."""
    if device.quarantined_at is None:
        return readings
    if isinstance(readings, ReadingBatch):
        qualities = readings.qualities.copy()
        qualities[quality_is_good(qualities)] = Quality.UNCERTAIN_QUARANTINED
        return replace(readings, qualities=qualities)
    return [replace(r, quality=Quality.UNCERTAIN_QUARANTINED) if quality_is_good(r.quality) else r for r in readings]
