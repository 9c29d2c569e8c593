"""OPC UA tag addresses: node ids in the standard string form (OPC UA Part 6, 5.3.1.10).

Accepted forms (surrounding spaces ignored; the keys ``ns``, ``nsu``, ``i``, ``s``, ``g``, ``b`` are lower case):

* ``ns=<index>;i=<number>``: numeric identifier, e.g. ``ns=2;i=1234``;
* ``ns=<index>;s=<text>``: string identifier, e.g. ``ns=2;s=Line1.CNC101.Speed`` (the text may hold ``;`` and ``=``);
* ``ns=<index>;g=<guid>``: GUID identifier;
* ``ns=<index>;b=<base64>``: opaque (byte string) identifier;
* ``nsu=<namespace uri>;<identifier>``: the namespace by URI instead of index, resolved when connecting
  (indexes can change when a server restarts; URIs do not);
* without ``ns=``/``nsu=`` the node is in namespace 0 (the OPC UA standard nodes), e.g. ``i=2258``.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Literal

from historian.addresses import DATA_TYPES, InvalidTagAddress

IdentifierKind = Literal["i", "s", "g", "b"]
_KINDS: tuple[IdentifierKind, ...] = ("i", "s", "g", "b")

_HINT = "use ns=2;s=Line1.CNC101.Speed, ns=2;i=1234 or nsu=urn:example:plant;s=Speed"
_MAX_NAMESPACE_INDEX = 65535
_MAX_NUMERIC_ID = 2**32 - 1
_PREFIX = re.compile(r"(?:(?P<key>nsu|ns)=(?P<ns>[^;]*);)?(?P<kind>[a-zA-Z]+)=(?P<id>.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class OpcUaNodeId:
    """A parsed node id: exactly one of `namespace_index` / `namespace_uri` is set."""

    kind: IdentifierKind
    identifier: int | str | uuid.UUID | bytes
    namespace_index: int | None = 0
    namespace_uri: str | None = None

    def __str__(self) -> str:
        ns = f"nsu={self.namespace_uri};" if self.namespace_uri is not None else f"ns={self.namespace_index};"
        if self.namespace_uri is None and self.namespace_index == 0:
            ns = ""
        ident = self.identifier
        if isinstance(ident, bytes):
            ident = base64.b64encode(ident).decode("ascii")
        return f"{ns}{self.kind}={ident}"


def parse_opcua_address(address: str, data_type: str) -> OpcUaNodeId:
    """Parse a node id for a value of `data_type`; raise InvalidTagAddress with a readable message."""
    dtype = (data_type or "").strip().lower()
    if dtype not in DATA_TYPES:
        raise InvalidTagAddress(f"unknown data type {data_type!r}: use one of {', '.join(DATA_TYPES)}")
    return parse_node_id(address)


def parse_node_id(address: str) -> OpcUaNodeId:
    text = (address or "").strip()
    if not text:
        raise InvalidTagAddress(f"an OPC UA address is a node id: {_HINT}")
    m = _PREFIX.fullmatch(text)
    if m is None:
        raise InvalidTagAddress(f"{text!r} is not an OPC UA node id: {_HINT}")
    kind: str = m["kind"]
    if kind not in _KINDS:
        raise InvalidTagAddress(
            f"{text!r}: unknown identifier type {kind!r} (i= numeric, s= string, g= GUID, b= opaque): {_HINT}"
        )
    namespace_index: int | None = 0
    namespace_uri: str | None = None
    if m["key"] == "ns":
        if not m["ns"].isdigit():
            raise InvalidTagAddress(
                f"{text!r}: the namespace index after ns= must be a number 0..{_MAX_NAMESPACE_INDEX}"
            )
        namespace_index = int(m["ns"])
        if namespace_index > _MAX_NAMESPACE_INDEX:
            raise InvalidTagAddress(f"{text!r}: namespace index {namespace_index} is out of range 0..65535")
    elif m["key"] == "nsu":
        if not m["ns"].strip():
            raise InvalidTagAddress(f"{text!r}: nsu= needs a namespace URI, e.g. nsu=urn:example:plant;s=Speed")
        namespace_uri, namespace_index = m["ns"].strip(), None
    raw = m["id"]
    identifier: int | str | uuid.UUID | bytes
    if kind == "i":
        if not raw.isdigit() or int(raw) > _MAX_NUMERIC_ID:
            raise InvalidTagAddress(f"{text!r}: a numeric identifier (i=) must be a whole number 0..{_MAX_NUMERIC_ID}")
        identifier = int(raw)
    elif kind == "s":
        if not raw:
            raise InvalidTagAddress(f"{text!r}: the string identifier after s= is empty")
        if len(raw.encode()) > 4096:
            raise InvalidTagAddress(f"{text!r}: a string identifier is at most 4096 bytes")
        identifier = raw
    elif kind == "g":
        try:
            identifier = uuid.UUID(raw)
        except ValueError:
            raise InvalidTagAddress(f"{text!r}: g= needs a GUID like 09087e75-8e5e-499b-954f-f2a9603db28a") from None
    else:
        try:
            identifier = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidTagAddress(f"{text!r}: b= needs base64 text, e.g. b=M/RbKBsRVkePCePcx24oRA==") from None
        if not identifier:
            raise InvalidTagAddress(f"{text!r}: the opaque identifier after b= is empty")
    return OpcUaNodeId(kind=kind, identifier=identifier, namespace_index=namespace_index, namespace_uri=namespace_uri)
