"""Typed OPC UA writes: the value converted to the node's own DataType, or refused before anything is sent."""

from __future__ import annotations

import math

import numpy as np
from asyncua import ua

from ingest.protocols.base import INTEGER_RANGES, WriteRefused, WriteValue

#: Built-in DataType node ids (namespace 0) -> the variant type a Write must carry, and its integer range.
_INTEGER_TYPES: dict[int, tuple[ua.VariantType, tuple[int, int]]] = {
    ua.ObjectIds.SByte: (ua.VariantType.SByte, (-128, 127)),
    ua.ObjectIds.Byte: (ua.VariantType.Byte, (0, 255)),
    ua.ObjectIds.Int16: (ua.VariantType.Int16, INTEGER_RANGES["int16"]),
    ua.ObjectIds.UInt16: (ua.VariantType.UInt16, INTEGER_RANGES["uint16"]),
    ua.ObjectIds.Int32: (ua.VariantType.Int32, INTEGER_RANGES["int32"]),
    ua.ObjectIds.UInt32: (ua.VariantType.UInt32, INTEGER_RANGES["uint32"]),
    ua.ObjectIds.Int64: (ua.VariantType.Int64, INTEGER_RANGES["int64"]),
    ua.ObjectIds.UInt64: (ua.VariantType.UInt64, INTEGER_RANGES["uint64"]),
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def data_type_name(data_type: ua.NodeId) -> str:
    if data_type.NamespaceIndex == 0 and isinstance(data_type.Identifier, int):
        return ua.ObjectIdNames.get(data_type.Identifier, str(data_type))
    return data_type.to_string()


def write_variant(data_type: ua.NodeId, raw: WriteValue, *, address: str) -> ua.Variant:
    """`raw` (a tag's raw value: engineering value with the tag's scaling undone) as a Variant of the node's DataType.

    Raises WriteRefused for what does not convert exactly: text to a number, a fraction or an out-of-range number
    to an integer type, anything but a bool (or 0 / 1) to a Boolean, a number beyond a Float, a structure or any
    DataType other than the built-in scalars.
    """
    name = data_type_name(data_type)
    ident = data_type.Identifier if data_type.NamespaceIndex == 0 else None
    if ident == ua.ObjectIds.Boolean:
        if isinstance(raw, bool):
            return ua.Variant(raw, ua.VariantType.Boolean)
        if isinstance(raw, int | float) and raw in (0, 1):
            return ua.Variant(bool(raw), ua.VariantType.Boolean)
        raise WriteRefused(f"{address}: the node is a Boolean; {raw!r} is not true/false or 1/0")
    if ident == ua.ObjectIds.String:
        if isinstance(raw, str):
            return ua.Variant(raw, ua.VariantType.String)
        raise WriteRefused(f"{address}: the node is a String; {type(raw).__name__} {raw!r} is not text")
    if isinstance(raw, str) or ident not in (*_INTEGER_TYPES, ua.ObjectIds.Float, ua.ObjectIds.Double):
        raise WriteRefused(f"{address}: a value {raw!r} cannot be written to a node of DataType {name}")
    number = float(raw)
    if not math.isfinite(number):
        raise WriteRefused(f"{address}: {raw} is not a finite number")
    if ident == ua.ObjectIds.Double:
        return ua.Variant(number, ua.VariantType.Double)
    if ident == ua.ObjectIds.Float:
        if abs(number) > _FLOAT32_MAX:
            raise WriteRefused(f"{address}: {raw} is beyond the range of a Float")
        return ua.Variant(number, ua.VariantType.Float)
    variant_type, (low, high) = _INTEGER_TYPES[ident]  # type: ignore[index]
    if number != round(number):
        raise WriteRefused(f"{address}: the node is an {name}; {raw} would be rounded")
    if not low <= round(number) <= high:
        raise WriteRefused(f"{address}: {raw} is out of range for an {name} ({low}..{high})")
    return ua.Variant(round(number), variant_type)


def same_value(written: ua.Variant, read_back: object) -> bool:
    """Whether a read-back value is what was written (a Float compared at single precision)."""
    if written.VariantType == ua.VariantType.Float and isinstance(read_back, int | float):
        return float(np.float32(read_back)) == float(np.float32(written.Value))
    if isinstance(read_back, bool) != isinstance(written.Value, bool):
        return False
    return read_back == written.Value
