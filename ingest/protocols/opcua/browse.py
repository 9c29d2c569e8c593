"""Browsing an OPC UA server's address space: the tree below a node, each variable's data type, units and range,
and the address a tag stores for it (the namespace by URI)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncua import Client, Node, ua

from ingest.protocols.opcua.address import OpcUaNodeId

#: OPC UA built-in data types (by their numeric node id in namespace 0) -> our tag data types.
UA_DATA_TYPES: dict[int, str] = {
    ua.ObjectIds.Boolean: "bool",
    ua.ObjectIds.SByte: "int16",
    ua.ObjectIds.Byte: "uint16",
    ua.ObjectIds.Int16: "int16",
    ua.ObjectIds.UInt16: "uint16",
    ua.ObjectIds.Int32: "int32",
    ua.ObjectIds.UInt32: "uint32",
    ua.ObjectIds.Int64: "float64",
    ua.ObjectIds.UInt64: "float64",
    ua.ObjectIds.Float: "float32",
    ua.ObjectIds.Double: "float64",
    ua.ObjectIds.String: "string",
}


@dataclass
class BrowseNode:
    """One node of a browsed address space; variables carry their data type, units and range when known."""

    node_id: str
    browse_name: str
    display_name: str
    node_class: str  # Object | Variable | Method | ...
    ua_data_type: str = ""  # the server's name for it, e.g. Double
    data_type: str | None = None  # ours, None where we cannot store it (strings, structures, arrays)
    units: str = ""
    eu_range: tuple[float, float] | None = None
    description: str = ""
    children: list[BrowseNode] = field(default_factory=list)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


async def opcua_browse_tree(client: Client | None, node_id: ua.NodeId | None, *, depth: int) -> list[BrowseNode]:
    assert client is not None
    start = client.get_node(node_id) if node_id is not None else client.nodes.objects
    namespaces = await client.get_namespace_array()
    return await _browse_children(client, start, depth, namespaces)


def browse_address(node_id: ua.NodeId, namespaces: Sequence[str]) -> str:
    """The address a tag stores for a browsed node: its namespace by URI (``nsu=<uri>;s=...``), which survives a
    server whose namespace table changes order; the standard nodes (namespace 0, fixed by the specification) as
    ``i=...``. A namespace index the server's table lacks, or a URI holding ``;``, keeps the ``ns=`` form."""
    index = node_id.NamespaceIndex
    uri = namespaces[index] if index < len(namespaces) else None
    kind = {
        ua.NodeIdType.TwoByte: "i",
        ua.NodeIdType.FourByte: "i",
        ua.NodeIdType.Numeric: "i",
        ua.NodeIdType.String: "s",
        ua.NodeIdType.Guid: "g",
        ua.NodeIdType.ByteString: "b",
    }.get(node_id.NodeIdType)
    if index == 0 or not uri or ";" in uri or kind is None:
        return node_id.to_string()
    return str(OpcUaNodeId(kind, node_id.Identifier, namespace_index=None, namespace_uri=uri))  # type: ignore[arg-type]


async def _browse_children(client: Client, node: Node, depth: int, namespaces: Sequence[str]) -> list[BrowseNode]:
    if depth <= 0:
        return []
    result: list[BrowseNode] = []
    for ref in await node.get_references(
        refs=ua.ObjectIds.HierarchicalReferences, direction=ua.BrowseDirection.Forward, includesubtypes=True
    ):
        if ref.NodeClass not in (ua.NodeClass.Object, ua.NodeClass.Variable):
            continue
        child = client.get_node(ref.NodeId)
        item = BrowseNode(
            node_id=browse_address(ref.NodeId, namespaces),
            browse_name=ref.BrowseName.Name or "",
            display_name=ref.DisplayName.Text or ref.BrowseName.Name or "",
            node_class=ref.NodeClass.name,
        )
        if ref.NodeClass == ua.NodeClass.Variable:
            if ref.BrowseName.Name in ("EngineeringUnits", "EURange") and ref.BrowseName.NamespaceIndex == 0:
                continue  # properties of the parent variable, shown as its units and range
            await _describe_variable(child, item)
        if ref.NodeId.NamespaceIndex != 0:  # do not walk into the server's standard nodes
            item.children = await _browse_children(client, child, depth - 1, namespaces)
        result.append(item)
    return result


def _good_value(data_value: ua.DataValue, default: Any) -> Any:
    """The attribute's value, `default` when its status is not good (no status is good, as in OPC UA)."""
    good = data_value.StatusCode is None or data_value.StatusCode.is_good()
    return data_value.Value.Value if good and data_value.Value is not None else default


async def _describe_variable(node: Node, item: BrowseNode) -> None:
    attrs = await node.read_attributes(
        [ua.AttributeIds.DataType, ua.AttributeIds.ValueRank, ua.AttributeIds.Description]
    )
    data_type_id = _good_value(attrs[0], None)
    value_rank = _good_value(attrs[1], -1)
    description = _good_value(attrs[2], None)
    if description is not None:
        item.description = description.Text or ""
    if isinstance(data_type_id, ua.NodeId):
        if data_type_id.NamespaceIndex == 0 and isinstance(data_type_id.Identifier, int):
            item.ua_data_type = ua.ObjectIdNames.get(data_type_id.Identifier, str(data_type_id))
            if value_rank in (-1, -3, None):  # scalar
                item.data_type = UA_DATA_TYPES.get(data_type_id.Identifier)
        else:
            item.ua_data_type = data_type_id.to_string()
    for prop in await node.get_properties():
        name = (await prop.read_browse_name()).Name
        if name not in ("EngineeringUnits", "EURange"):
            continue
        with contextlib.suppress(Exception):
            value = await prop.read_value()
            if name == "EngineeringUnits" and value is not None:
                item.units = (value.DisplayName.Text or "")[:20]
            elif name == "EURange" and value is not None and value.High > value.Low:
                item.eu_range = (float(value.Low), float(value.High))
