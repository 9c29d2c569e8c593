"""Sample quality codes, OPC DA style: the top two bits are good/uncertain/bad, the rest the sub-status.

Stored as a smallint next to every sample, so one byte tells a chart or a query whether a value can be trusted
and, when it cannot, why.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    import numpy as np


class Quality(IntEnum):
    BAD = 0x00
    BAD_CONFIG_ERROR = 0x04
    BAD_NOT_CONNECTED = 0x08
    BAD_DEVICE_FAILURE = 0x0C
    BAD_SENSOR_FAILURE = 0x10
    BAD_LAST_KNOWN_VALUE = 0x14
    BAD_COMM_FAILURE = 0x18
    BAD_OUT_OF_SERVICE = 0x1C
    # Not an OPC DA code (0x20 there is "waiting for initial data"): stored by the poller that takes over the devices
    # of a worker that died, at the start of the gap, so that trends and aggregates show it (PI's shutdown events).
    BAD_ACQUISITION_DOWN = 0x24
    UNCERTAIN = 0x40
    UNCERTAIN_LAST_USABLE = 0x44
    # Millwright's own sub-status (OPC DA leaves 0x48 unassigned): read from a device an administrator quarantined.
    UNCERTAIN_QUARANTINED = 0x48
    UNCERTAIN_SENSOR_NOT_ACCURATE = 0x50
    GOOD = 0xC0

    @property
    def is_good(self) -> bool:
        return quality_is_good(self)


_MAJOR_MASK = 0xC0


# Each takes one code or an array of codes (a batch's qualities: then an array of booleans, a mask).
@overload
def quality_is_good(code: int) -> bool: ...
@overload
def quality_is_good(code: np.ndarray) -> np.ndarray: ...
def quality_is_good(code: int | np.ndarray) -> bool | np.ndarray:
    return code & _MAJOR_MASK == 0xC0


@overload
def quality_is_bad(code: int) -> bool: ...
@overload
def quality_is_bad(code: np.ndarray) -> np.ndarray: ...
def quality_is_bad(code: int | np.ndarray) -> bool | np.ndarray:
    return code & _MAJOR_MASK == 0x00


#: Labels that the name does not spell (static/js/lib/quality.js decodes the same).
_LABELS: dict[int, str] = {Quality.BAD_ACQUISITION_DOWN: "bad: no data: acquisition down"}


def quality_label(code: int) -> str:
    """A short human label: 'good', 'uncertain', 'bad: comm failure' ..."""
    if code in _LABELS:
        return _LABELS[code]
    try:
        name = Quality(code).name
    except ValueError:
        major = {0x00: "bad", 0x40: "uncertain", 0xC0: "good"}.get(code & _MAJOR_MASK, "bad")
        return f"{major} (0x{code:02x})"
    major, _, detail = name.lower().partition("_")
    return f"{major}: {detail.replace('_', ' ')}" if detail else major
