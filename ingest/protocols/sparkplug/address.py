"""MQTT Sparkplug B tag addresses: the metric name, as the edge node's birth announces it.

Names are case-sensitive and may hold folders (``Line 1/CNC101/Speed``) and spaces; what is refused is an empty
name, leading or trailing spaces (a typo that would never match), control characters and the names the
Sparkplug specification reserves for the edge node's own control (``bdSeq``, ``Node Control/...``).
"""

from __future__ import annotations

import unicodedata

from historian.addresses import DATA_TYPES, InvalidTagAddress

MAX_METRIC_NAME = 200  # Tag.address
RESERVED_PREFIXES = ("Node Control/", "Device Control/")
RESERVED_NAMES = frozenset({"bdSeq"})


def parse_sparkplug_address(address: str, data_type: str) -> str:
    """The metric name `address` stands for; raise InvalidTagAddress with a readable message."""
    dtype = (data_type or "").strip().lower()
    if dtype not in DATA_TYPES:
        raise InvalidTagAddress(f"unknown data type {data_type!r}: use one of {', '.join(DATA_TYPES)}")
    name = address or ""
    if not name.strip():
        raise InvalidTagAddress("a Sparkplug address is the metric name, e.g. Line 1/CNC101/Speed")
    if name != name.strip():
        raise InvalidTagAddress(f"{name!r}: a metric name does not start or end with spaces")
    if len(name) > MAX_METRIC_NAME:
        raise InvalidTagAddress(f"a metric name is at most {MAX_METRIC_NAME} characters here ({len(name)} given)")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidTagAddress(f"{name!r}: a metric name cannot hold control characters")
    if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
        raise InvalidTagAddress(f"{name!r} is a Sparkplug control metric, not a value to store")
    return name
