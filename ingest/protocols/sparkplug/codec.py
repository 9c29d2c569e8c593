"""Sparkplug B 3.0 topics and payloads: parse what edge nodes publish, build what a host application sends.

Topics: ``spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]``. Payloads: the protobuf ``Payload`` of
sparkplug_b.proto, decoded here into plain dataclasses so that nothing past this module touches protobuf.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

from google.protobuf.message import DecodeError

from . import sparkplug_b_pb2 as pb

NAMESPACE = "spBv1.0"
NODE_MESSAGES = frozenset({"NBIRTH", "NDEATH", "NDATA", "NCMD"})
DEVICE_MESSAGES = frozenset({"DBIRTH", "DDEATH", "DDATA", "DCMD"})
BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
#: Characters an MQTT topic level of a Sparkplug id may not hold (wildcards and the level separator).
FORBIDDEN_ID_CHARACTERS = frozenset("+#/")


class SparkplugError(ValueError):
    """A topic or payload that is not Sparkplug B; the message says what is wrong, for the log."""


class DataType(IntEnum):
    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19


#: Sparkplug data type -> the tag data type that holds it; the others (bytes, data sets ...) are not stored.
#: 64-bit integers are kept as float64: exact up to 2**53, which counters and totals stay below in practice.
TAG_DATA_TYPES: dict[int, str] = {
    DataType.INT8: "int16",
    DataType.INT16: "int16",
    DataType.INT32: "int32",
    DataType.INT64: "float64",
    DataType.UINT8: "uint16",
    DataType.UINT16: "uint16",
    DataType.UINT32: "uint32",
    DataType.UINT64: "float64",
    DataType.FLOAT: "float32",
    DataType.DOUBLE: "float64",
    DataType.BOOLEAN: "bool",
    DataType.STRING: "string",
    DataType.TEXT: "string",
}
_SIGNED_BITS: dict[int, int] = {DataType.INT8: 32, DataType.INT16: 32, DataType.INT32: 32, DataType.INT64: 64}


def data_type_name(datatype: int) -> str:
    try:
        return DataType(datatype).name.title().replace("_", "")
    except ValueError:
        return f"type {datatype}"


@dataclass(frozen=True, slots=True)
class Topic:
    group_id: str
    message_type: str
    edge_node_id: str
    device_id: str = ""

    @property
    def node(self) -> tuple[str, str]:
        return (self.group_id, self.edge_node_id)

    def __str__(self) -> str:
        parts = [NAMESPACE, self.group_id, self.message_type, self.edge_node_id]
        return "/".join([*parts, self.device_id] if self.device_id else parts)


def topic_parse(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE:
        raise SparkplugError(f"{topic!r} is not a Sparkplug B edge node or device topic")
    _, group_id, message_type, edge_node_id, *rest = parts
    device_id = rest[0] if rest else ""
    expected = DEVICE_MESSAGES if device_id else NODE_MESSAGES
    if message_type not in expected or not group_id or not edge_node_id:
        raise SparkplugError(f"{topic!r}: unknown message type {message_type!r} for this topic")
    return Topic(group_id, message_type, edge_node_id, device_id)


def sparkplug_id_check(value: str, what: str) -> None:
    """Raise SparkplugError unless `value` can stand as one level of a Sparkplug topic."""
    if not value or FORBIDDEN_ID_CHARACTERS & set(value):
        raise SparkplugError(f"a Sparkplug {what} is not empty and holds none of + # /: {value!r}")


@dataclass(frozen=True, slots=True)
class Metric:
    name: str  # "" when only the alias was sent
    alias: int | None
    datatype: int  # 0 when not sent (data messages may leave it to the birth)
    timestamp: datetime | None
    value: float | bool | str | bytes | None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    quality: int | None = None  # the "Quality" property, where the edge node sends one (OPC quality code)
    #: every int or string property, by key ("engUnit", "Quality" ...)
    properties: dict[str, int | str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Payload:
    timestamp: datetime | None
    seq: int | None
    metrics: list[Metric] = field(default_factory=list)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _value(metric: pb.Payload.Metric) -> float | bool | str | bytes | None:
    kind = metric.WhichOneof("value")
    if kind is None or metric.is_null:
        return None
    if kind in ("dataset_value", "template_value", "extension_value"):
        return None  # structures: not a tag value
    raw = getattr(metric, kind)
    bits = _SIGNED_BITS.get(metric.datatype)
    if bits and kind in ("int_value", "long_value") and raw >= 2 ** (bits - 1):
        return raw - 2**bits  # two's complement
    return raw


def _quality(metric: pb.Payload.Metric) -> int | None:
    props = metric.properties
    for key, prop in zip(props.keys, props.values, strict=False):
        if key == "Quality" and prop.WhichOneof("value") in ("int_value", "long_value"):
            code = prop.int_value if prop.WhichOneof("value") == "int_value" else prop.long_value
            return code if 0 <= code <= 0xFF else None
    return None


def _properties(metric: pb.Payload.Metric) -> dict[str, int | str]:
    found: dict[str, int | str] = {}
    for key, prop in zip(metric.properties.keys, metric.properties.values, strict=False):
        kind = prop.WhichOneof("value")
        if kind in ("int_value", "long_value", "string_value"):
            found[key] = getattr(prop, kind)
    return found


def payload_decode(data: bytes | bytearray) -> Payload:
    message = pb.Payload()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise SparkplugError(f"not a Sparkplug B payload ({len(data)} bytes): {exc}") from exc
    metrics = [
        Metric(
            name=m.name,
            alias=m.alias if m.HasField("alias") else None,
            datatype=m.datatype,
            timestamp=_moment(m.timestamp) if m.HasField("timestamp") else None,
            value=_value(m),
            is_historical=m.is_historical,
            is_transient=m.is_transient,
            is_null=m.is_null or m.WhichOneof("value") is None,
            quality=_quality(m) if m.HasField("properties") else None,
            properties=_properties(m) if m.HasField("properties") else {},
        )
        for m in message.metrics
    ]
    return Payload(
        timestamp=_moment(message.timestamp) if message.HasField("timestamp") else None,
        seq=message.seq if message.HasField("seq") else None,
        metrics=metrics,
    )


@dataclass(frozen=True, slots=True)
class MetricOut:
    """A metric to publish: the birth sends name (and alias), data messages the alias alone where one is set."""

    name: str = ""
    value: float | bool | str | None = None
    datatype: int = DataType.DOUBLE
    alias: int | None = None
    timestamp_ms: int | None = None
    is_historical: bool = False
    is_transient: bool = False
    #: the metric's PropertySet: an int as Int32 (e.g. "Quality"), a str as String (e.g. "engUnit")
    properties: tuple[tuple[str, int | str], ...] = ()


def _set_properties(metric: pb.Payload.Metric, properties: Iterable[tuple[str, int | str]]) -> None:
    for key, value in properties:
        metric.properties.keys.append(key)
        prop = metric.properties.values.add()
        if isinstance(value, str):
            prop.type = DataType.STRING
            prop.string_value = value
        else:
            prop.type = DataType.INT32
            prop.int_value = int(value) % 2**32


def _set_value(metric: pb.Payload.Metric, datatype: int, value: float | bool | str | None) -> None:
    if value is None:
        metric.is_null = True
    elif datatype == DataType.BOOLEAN:
        metric.boolean_value = bool(value)
    elif datatype == DataType.FLOAT:
        metric.float_value = float(value)
    elif datatype == DataType.DOUBLE:
        metric.double_value = float(value)
    elif datatype in (DataType.STRING, DataType.TEXT, DataType.UUID):
        metric.string_value = str(value)
    elif datatype in (DataType.INT64, DataType.UINT64, DataType.DATETIME):
        metric.long_value = int(value) % 2**64
    else:
        metric.int_value = int(value) % 2**32


def payload_encode(*, metrics: Iterable[MetricOut], seq: int | None, timestamp_ms: int | None = None) -> bytes:
    message = pb.Payload(timestamp=timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    if seq is not None:
        message.seq = seq
    for out in metrics:
        metric = message.metrics.add()
        if out.name:
            metric.name = out.name
        if out.alias is not None:
            metric.alias = out.alias
        metric.datatype = out.datatype
        metric.timestamp = out.timestamp_ms if out.timestamp_ms is not None else message.timestamp
        if out.is_historical:
            metric.is_historical = True
        if out.is_transient:
            metric.is_transient = True
        if out.properties:
            _set_properties(metric, out.properties)
        _set_value(metric, out.datatype, out.value)
    return message.SerializeToString()


def rebirth_request() -> bytes:
    """The NCMD payload that asks an edge node to publish its births again (Sparkplug 3.0, 6.4.20)."""
    return payload_encode(metrics=[MetricOut(REBIRTH, True, DataType.BOOLEAN)], seq=None)
