from .devices import (
    ByteOrder,
    Device,
    DeviceStatus,
    OpcUaSecurityMode,
    OpcUaSecurityPolicy,
    Protocol,
    ScanClass,
    TimestampSource,
)
from .hierarchy import Area, Line, Machine, Site
from .settings import HistorianSettings
from .sparkplug import DiscoveredMetric
from .tags import DataType, DeviationUnit, Tag
from .value_labels import ValueLabel, ValueLabelSet

__all__ = [
    "Area",
    "ByteOrder",
    "DataType",
    "DeviationUnit",
    "Device",
    "DeviceStatus",
    "DiscoveredMetric",
    "HistorianSettings",
    "Line",
    "Machine",
    "OpcUaSecurityMode",
    "OpcUaSecurityPolicy",
    "Protocol",
    "ScanClass",
    "Site",
    "Tag",
    "TimestampSource",
    "ValueLabel",
    "ValueLabelSet",
]
