"""OPC UA values as readings: a DataValue's status code as our quality, its value converted for the tag (number
or text), its timestamp (SourceTimestamp, else ServerTimestamp, unless the PLC clock is far off)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from asyncua import ua

from historian.addresses import TEXT_DATA_TYPES
from historian.quality import Quality
from ingest.protocols.base import PointReading, PointRequest

#: A source timestamp further than this from our clock is a PLC with a wrong clock: use the arrival time.
MAX_CLOCK_SKEW = timedelta(hours=1)

_S = ua.StatusCodes
_COMM_FAILURE = {_S.BadNotConnected, _S.BadCommunicationError, _S.BadNoCommunication, _S.BadServerNotConnected}
_CONFIG_ERROR = {
    _S.BadNodeIdUnknown,
    _S.BadNodeIdInvalid,
    _S.BadAttributeIdInvalid,
    _S.BadNotReadable,
    _S.BadConfigurationError,
}


def status_quality(code: int) -> Quality:
    """Our quality for an OPC UA StatusCode (its top two bits are the severity: good, uncertain, bad)."""
    severity = (code >> 30) & 0b11
    if severity == 0:
        return Quality.GOOD
    if severity == 1:
        base = code & 0xFFFF0000
        if base == _S.UncertainLastUsableValue:
            return Quality.UNCERTAIN_LAST_USABLE
        if base == _S.UncertainSensorNotAccurate:
            return Quality.UNCERTAIN_SENSOR_NOT_ACCURATE
        return Quality.UNCERTAIN
    base = code & 0xFFFF0000
    if base in _COMM_FAILURE:
        return Quality.BAD_COMM_FAILURE
    if base in _CONFIG_ERROR:
        return Quality.BAD_CONFIG_ERROR
    if base == _S.BadOutOfService:
        return Quality.BAD_OUT_OF_SERVICE
    if base == _S.BadSensorFailure:
        return Quality.BAD_SENSOR_FAILURE
    if base == _S.BadDeviceFailure:
        return Quality.BAD_DEVICE_FAILURE
    return Quality.BAD


def value_reading(point: PointRequest, data_value: ua.DataValue) -> PointReading:
    """A PointReading from a DataValue: scaled number for good and uncertain values, None for bad ones."""
    status = data_value.StatusCode.value if data_value.StatusCode is not None else 0
    quality = status_quality(status)
    reason = "" if quality == Quality.GOOD else f"{point.address}: {ua.StatusCode(ua.UInt32(status)).name}"
    if quality_is_bad_code(quality):
        return PointReading(point.tag_id, None, quality, reason)
    raw = data_value.Value.Value if data_value.Value is not None else None
    if point.data_type in TEXT_DATA_TYPES:
        return _text_reading(point, data_value, quality, reason)
    if isinstance(raw, bool):
        number = 1.0 if raw else 0.0
    elif isinstance(raw, int | float):
        number = float(raw)
    else:  # a string, array or structure: the tag points at a node that is not a number
        kind = data_value.Value.VariantType.name if data_value.Value is not None else "no value"
        return PointReading(point.tag_id, None, Quality.BAD_CONFIG_ERROR, f"{point.address}: {kind} is not a number")
    value = number * point.scale + point.offset
    if not math.isfinite(value):
        return PointReading(point.tag_id, None, Quality.BAD_SENSOR_FAILURE, f"{point.address}: {value}")
    return PointReading(point.tag_id, value, quality, reason)


def point_reading(point: PointRequest, got: PointReading | ua.DataValue) -> PointReading:
    """value_reading, where a value the server sent that we cannot convert is a bad reading of its tag only."""
    if isinstance(got, PointReading):
        return got
    try:
        return value_reading(point, got)
    except Exception as exc:  # an odd value (structure, overflow) must not fail the poll of the other tags
        return PointReading(point.tag_id, None, Quality.BAD_CONFIG_ERROR, f"{point.address}: {type(exc).__name__}")


def _text_reading(point: PointRequest, data_value: ua.DataValue, quality: int, reason: str) -> PointReading:
    """A string tag takes String variables as they are (scale and offset do not apply to text)."""
    raw = data_value.Value.Value if data_value.Value is not None else None
    if not isinstance(raw, str):
        kind = data_value.Value.VariantType.name if data_value.Value is not None else "no value"
        return PointReading(point.tag_id, None, Quality.BAD_CONFIG_ERROR, f"{point.address}: {kind} is not a string")
    return PointReading(point.tag_id, raw, quality, reason)


def quality_is_bad_code(quality: int) -> bool:
    return quality & 0xC0 == 0


def value_time(data_value: ua.DataValue, received_at: datetime) -> datetime:
    """The value's source timestamp (else the server's), unless the PLC clock is off by more than MAX_CLOCK_SKEW."""
    return source_time(data_value, received_at) or received_at


def source_time(data_value: ua.DataValue, received_at: datetime) -> datetime | None:
    """The value's SourceTimestamp, else its ServerTimestamp; None when it has neither or the clock that stamped
    it is more than MAX_CLOCK_SKEW away from ours (a PLC with a wrong clock)."""
    stamp: datetime | None = data_value.SourceTimestamp or data_value.ServerTimestamp
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    if abs(stamp - received_at) > MAX_CLOCK_SKEW:
        return None
    return stamp
