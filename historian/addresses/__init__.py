"""Tag address validation, per protocol.

Pure Python (no Django): used by model validation, forms and the ingest drivers alike.
"""

from __future__ import annotations

DATA_TYPES: tuple[str, ...] = ("int16", "uint16", "int32", "uint32", "float32", "float64", "bool", "string")
#: Data types whose values are text: stored in their own table, on change, never through the numeric filters.
TEXT_DATA_TYPES: frozenset[str] = frozenset({"string"})


class InvalidTagAddress(ValueError):
    """An address (or address + data type combination) a driver cannot read; the message is for humans."""


def validate_tag_address(*, protocol: str, address: str, data_type: str) -> None:
    """Raise InvalidTagAddress unless `address` with `data_type` is readable over `protocol`."""
    proto = (protocol or "").strip().lower()
    if proto == "modbus":
        # Imported here: the protocol modules import InvalidTagAddress from this package.
        from historian.addresses.modbus import parse_modbus_address

        parse_modbus_address(address, data_type)
        return
    if proto == "opcua":
        from historian.addresses.opcua import parse_opcua_address

        parse_opcua_address(address, data_type)
        return
    if proto == "sparkplug":
        from historian.addresses.sparkplug import parse_sparkplug_address

        parse_sparkplug_address(address, data_type)
        return
    raise InvalidTagAddress(f"unknown protocol {protocol!r}: supported protocols are: modbus, opcua, sparkplug")
