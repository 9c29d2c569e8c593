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
from .writes import (
    ConfirmationMode,
    InterlockComparison,
    OperateArea,
    WritePolicy,
    WriteRequest,
    WriteRequestState,
)

__all__ = [
    "Area",
    "ByteOrder",
    "ConfirmationMode",
    "DataType",
    "DeviationUnit",
    "Device",
    "DeviceStatus",
    "DiscoveredMetric",
    "HistorianSettings",
    "InterlockComparison",
    "Line",
    "Machine",
    "OpcUaSecurityMode",
    "OpcUaSecurityPolicy",
    "OperateArea",
    "Protocol",
    "ScanClass",
    "Site",
    "Tag",
    "TimestampSource",
    "WritePolicy",
    "WriteRequest",
    "WriteRequestState",
]
