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
from .edge import EdgePublication
from .hierarchy import Area, Line, Machine, Site
from .settings import HistorianSettings
from .sparkplug import DiscoveredMetric
from .tags import DataType, DeviationUnit, Tag
from .value_labels import ValueLabel, ValueLabelSet
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
    "EdgePublication",
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
    "ValueLabel",
    "ValueLabelSet",
    "WritePolicy",
    "WriteRequest",
    "WriteRequestState",
]
