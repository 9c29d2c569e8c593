"""Derived tags: values Millwright computes (a machine's health score, its top contribution, its RUL).

A derived tag is an ordinary historian Tag on a device of protocol "derived" (historian.models.Protocol.DERIVED):
nobody polls that device, the app that computes the values writes them through the normal store
(ingest.pipeline.store.readings_store), so they are historized, pushed live, evaluated by alarms, trended and
exported like any tag. Its address names what computes it, e.g. `health:score`.
"""

import re

from historian.addresses import InvalidTagAddress

DERIVED_PROTOCOL = "derived"
DERIVED_DATA_TYPES = frozenset({"float64", "string"})
_ADDRESS = re.compile(r"^[a-z][a-z0-9_]*(:[a-z0-9_]+)+$")


def parse_derived_address(address: str, data_type: str) -> str:
    """`<source>:<what>` (e.g. `health:score`), numbers as float64 or text as string."""
    if not _ADDRESS.match(address or ""):
        raise InvalidTagAddress(f"derived address {address!r}: expected <source>:<name>, e.g. health:score")
    if data_type not in DERIVED_DATA_TYPES:
        raise InvalidTagAddress(f"derived tags are float64 or string, not {data_type}")
    return address
