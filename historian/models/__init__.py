from .devices import Device, DeviceStatus, Protocol, ScanClass
from .hierarchy import Area, Line, Machine, Site
from .tags import DataType, Tag

__all__ = [
    "Area",
    "DataType",
    "Device",
    "DeviceStatus",
    "Line",
    "Machine",
    "Protocol",
    "ScanClass",
    "Site",
    "Tag",
]
