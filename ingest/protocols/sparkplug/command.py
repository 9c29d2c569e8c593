"""Sparkplug B commands that write a metric (NCMD to an edge node's own metric, DCMD to a device's): the value typed
as the metric's birth datatype, the metric named by its birth alias where it has one (by name otherwise).

A Sparkplug write is confirmed by the edge node publishing the metric's new value (NDATA / DDATA) within a timeout:
the host runner (ingest.acquisition.sparkplug_host.SparkplugRunner.command) publishes and waits; `echo_value`
finds the metric in a data message and `same_value` compares it with what was sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ingest.protocols.base import WriteRefused, WriteValue

from .codec import DataType, MetricOut, Payload, data_type_name, payload_encode

_INTEGER_RANGES: dict[int, tuple[int, int]] = {
    DataType.INT8: (-(2**7), 2**7 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT8: (0, 2**8 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.UINT64: (0, 2**64 - 1),
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def command_value(datatype: int, raw: WriteValue, *, metric: str) -> float | int | bool | str:
    """`raw` converted to the metric's Sparkplug datatype; WriteRefused for what does not convert exactly."""
    name = data_type_name(datatype)
    if datatype == DataType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float) and raw in (0, 1):
            return bool(raw)
        raise WriteRefused(f"{metric}: a Boolean metric takes true/false or 1/0, not {raw!r}")
    if datatype in (DataType.STRING, DataType.TEXT):
        if isinstance(raw, str):
            return raw
        raise WriteRefused(f"{metric}: a {name} metric takes text, not {type(raw).__name__} {raw!r}")
    if isinstance(raw, str) or datatype not in (*_INTEGER_RANGES, DataType.FLOAT, DataType.DOUBLE):
        raise WriteRefused(f"{metric}: {raw!r} cannot be written to a metric of datatype {name}")
    number = float(raw)
    if not math.isfinite(number):
        raise WriteRefused(f"{metric}: {raw} is not a finite number")
    if datatype == DataType.DOUBLE:
        return number
    if datatype == DataType.FLOAT:
        if abs(number) > _FLOAT32_MAX:
            raise WriteRefused(f"{metric}: {raw} is beyond the range of a Float")
        return number
    low, high = _INTEGER_RANGES[datatype]
    if number != round(number):
        raise WriteRefused(f"{metric}: the metric is an {name}; {raw} would be rounded")
    if not low <= round(number) <= high:
        raise WriteRefused(f"{metric}: {raw} is out of range for an {name} ({low}..{high})")
    return round(number)


def command_payload(*, name: str, alias: int | None, datatype: int, value: float | int | bool | str) -> bytes:
    """The NCMD / DCMD payload writing one metric: by alias when the birth gave one, else by name."""
    metric = MetricOut(name="" if alias is not None else name, alias=alias, datatype=datatype, value=value)
    return payload_encode(metrics=[metric], seq=None)


def echo_value(payload: Payload, *, name: str, alias: int | None, aliases: Mapping[int, str]) -> tuple[bool, object]:
    """(found, value) of metric `name` in a data message, by name or by alias (current values only)."""
    found, value = False, None
    for metric in payload.metrics:
        if metric.is_historical:
            continue
        metric_name = metric.name or (aliases.get(metric.alias) if metric.alias is not None else None)
        if metric_name == name or (not metric.name and alias is not None and metric.alias == alias):
            found, value = True, metric.value
    return found, value


def same_value(datatype: int, sent: float | int | bool | str, got: object) -> bool:
    """Whether an echoed value is what was sent (a Float compared at single precision)."""
    if isinstance(got, bool) != isinstance(sent, bool):
        return False
    if datatype == DataType.FLOAT and isinstance(got, int | float) and not isinstance(sent, str):
        return float(np.float32(got)) == float(np.float32(sent))
    return got == sent
