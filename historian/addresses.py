"""Tag address validation, per protocol.

Pure Python (no Django): used by model validation, forms and the ingest drivers alike. The parsers live with
their protocol (ingest/protocols/<name>/address.py) and register here.
"""

from __future__ import annotations

from collections.abc import Callable

DATA_TYPES: tuple[str, ...] = ("int16", "uint16", "int32", "uint32", "float32", "float64", "bool", "string")
#: Data types whose values are text: stored in their own table, on change, never through the numeric filters.
TEXT_DATA_TYPES: frozenset[str] = frozenset({"string"})


class InvalidTagAddress(ValueError):
    """An address (or address + data type combination) a driver cannot read; the message is for humans."""


AddressParser = Callable[[str, str], object]
_parsers: dict[str, AddressParser] = {}


def address_parser_register(protocol: str, parser: AddressParser) -> None:
    """Make `protocol`'s tags validatable: `parser(address, data_type)` raises InvalidTagAddress or returns.

    Each protocol registers its parser at start-up (ingest/protocols/__init__.py), so that historian validates
    addresses without importing the protocols (ARCHITECTURE.md: historian imports no other app).
    """
    _parsers[protocol] = parser


def validate_tag_address(*, protocol: str, address: str, data_type: str) -> None:
    """Raise InvalidTagAddress unless `address` with `data_type` is readable over `protocol`."""
    parser = _parsers.get((protocol or "").strip().lower())
    if parser is None:
        supported = ", ".join(sorted(_parsers))
        raise InvalidTagAddress(f"unknown protocol {protocol!r}: supported protocols are: {supported}")
    parser(address, data_type)
