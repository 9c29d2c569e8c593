"""OPC UA driver over asyncua: polled reads behind the synchronous Driver interface, subscriptions, browsing.

asyncua is asyncio-only. A polling worker is synchronous, so each OpcUaDriver owns an event loop running in a
thread of its own and hands it coroutines (`_call`); the subscription runner runs OpcUaSubscription objects on
its own loop. Every connection goes through `opcua_connect`, which turns asyncua's errors into
DeviceUnreachable with a sentence a person can act on (wrong password, certificate rejected, no such endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from asyncua import Client, Node, ua
from asyncua.crypto import security_policies
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from historian.addresses import TEXT_DATA_TYPES, InvalidTagAddress
from historian.quality import Quality
from historian.sample_types import datetime_to_us
from ingest.protocols.base import DeviceUnreachable, Driver, PointReading, PointRequest, ReadingBatch
from ingest.protocols.opcua.address import OpcUaNodeId, parse_node_id, parse_opcua_address

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Nodes per Read request; servers cap this (MaxNodesPerRead), 1000 is below every common default.
MAX_NODES_PER_READ = 1000
#: Monitored items per CreateMonitoredItems request.
MAX_ITEMS_PER_CREATE = 1000
CLIENT_APPLICATION_URI = "urn:millwright:client"
#: A source timestamp further than this from our clock is a PLC with a wrong clock: use the arrival time.
MAX_CLOCK_SKEW = timedelta(hours=1)

_S = ua.StatusCodes
_COMM_FAILURE = {_S.BadNotConnected, _S.BadCommunicationError, _S.BadNoCommunication, _S.BadServerNotConnected}
_CONFIG_ERROR = {
    _S.BadNodeIdUnknown,
    _S.BadNodeIdInvalid,
    _S.BadAttributeIdInvalid,
    _S.BadNotReadable,
    _S.BadConfigurationError,
}
_LOGIN_REJECTED = {
    _S.BadUserAccessDenied,
    _S.BadIdentityTokenInvalid,
    _S.BadIdentityTokenRejected,
    _S.BadUserSignatureInvalid,
}
_CERTIFICATE_REJECTED = {
    _S.BadCertificateInvalid,
    _S.BadCertificateUntrusted,
    _S.BadCertificateTimeInvalid,
    _S.BadCertificateHostNameInvalid,
    _S.BadCertificateUriInvalid,
    _S.BadCertificateUseNotAllowed,
    _S.BadCertificateRevoked,
    _S.BadSecurityChecksFailed,
    _S.BadSecurityPolicyRejected,
}


def status_quality(code: int) -> Quality:
    """Our quality for an OPC UA StatusCode (its top two bits are the severity: good, uncertain, bad)."""
    severity = (code >> 30) & 0b11
    if severity == 0:
        return Quality.GOOD
    if severity == 1:
        base = code & 0xFFFF0000
        if base == _S.UncertainLastUsableValue:
            return Quality.UNCERTAIN_LAST_USABLE
        if base == _S.UncertainSensorNotAccurate:
            return Quality.UNCERTAIN_SENSOR_NOT_ACCURATE
        return Quality.UNCERTAIN
    base = code & 0xFFFF0000
    if base in _COMM_FAILURE:
        return Quality.BAD_COMM_FAILURE
    if base in _CONFIG_ERROR:
        return Quality.BAD_CONFIG_ERROR
    if base == _S.BadOutOfService:
        return Quality.BAD_OUT_OF_SERVICE
    if base == _S.BadSensorFailure:
        return Quality.BAD_SENSOR_FAILURE
    if base == _S.BadDeviceFailure:
        return Quality.BAD_DEVICE_FAILURE
    return Quality.BAD


def value_reading(point: PointRequest, data_value: ua.DataValue) -> PointReading:
    """A PointReading from a DataValue: scaled number for good and uncertain values, None for bad ones."""
    status = data_value.StatusCode.value if data_value.StatusCode is not None else 0
    quality = status_quality(status)
    reason = "" if quality == Quality.GOOD else f"{point.address}: {ua.StatusCode(status).name}"
    if quality_is_bad_code(quality):
        return PointReading(point.tag_id, None, quality, reason)
    raw = data_value.Value.Value if data_value.Value is not None else None
    if point.data_type in TEXT_DATA_TYPES:
        return _text_reading(point, data_value, quality, reason)
    if isinstance(raw, bool):
        number = 1.0 if raw else 0.0
    elif isinstance(raw, int | float):
        number = float(raw)
    else:  # a string, array or structure: the tag points at a node that is not a number
        kind = data_value.Value.VariantType.name if data_value.Value is not None else "no value"
        return PointReading(point.tag_id, None, Quality.BAD_CONFIG_ERROR, f"{point.address}: {kind} is not a number")
    value = number * point.scale + point.offset
    if not math.isfinite(value):
        return PointReading(point.tag_id, None, Quality.BAD_SENSOR_FAILURE, f"{point.address}: {value}")
    return PointReading(point.tag_id, value, quality, reason)


def _point_reading(point: PointRequest, got: PointReading | ua.DataValue) -> PointReading:
    """value_reading, where a value the server sent that we cannot convert is a bad reading of its tag only."""
    if isinstance(got, PointReading):
        return got
    try:
        return value_reading(point, got)
    except Exception as exc:  # an odd value (structure, overflow) must not fail the poll of the other tags
        return PointReading(point.tag_id, None, Quality.BAD_CONFIG_ERROR, f"{point.address}: {type(exc).__name__}")


def _text_reading(point: PointRequest, data_value: ua.DataValue, quality: int, reason: str) -> PointReading:
    """A string tag takes String variables as they are (scale and offset do not apply to text)."""
    raw = data_value.Value.Value if data_value.Value is not None else None
    if not isinstance(raw, str):
        kind = data_value.Value.VariantType.name if data_value.Value is not None else "no value"
        return PointReading(point.tag_id, None, Quality.BAD_CONFIG_ERROR, f"{point.address}: {kind} is not a string")
    return PointReading(point.tag_id, raw, quality, reason)


def quality_is_bad_code(quality: int) -> bool:
    return quality & 0xC0 == 0


def value_time(data_value: ua.DataValue, received_at: datetime) -> datetime:
    """The value's source timestamp (else the server's), unless the PLC clock is off by more than MAX_CLOCK_SKEW."""
    return source_time(data_value, received_at) or received_at


def source_time(data_value: ua.DataValue, received_at: datetime) -> datetime | None:
    """The value's SourceTimestamp, else its ServerTimestamp; None when it has neither or the clock that stamped
    it is more than MAX_CLOCK_SKEW away from ours (a PLC with a wrong clock)."""
    stamp = data_value.SourceTimestamp or data_value.ServerTimestamp
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    if abs(stamp - received_at) > MAX_CLOCK_SKEW:
        return None
    return stamp


@dataclass(frozen=True)
class OpcUaSettings:
    """How to reach and log in to one OPC UA server."""

    endpoint: str
    security_policy: str = "None"  # None | Basic256Sha256
    security_mode: str = "None"  # None | Sign | SignAndEncrypt
    client_certificate: str = ""
    client_private_key: str = ""
    server_certificate: str = ""  # pinned server certificate; empty: the one the server's endpoint shows
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 4.0

    @classmethod
    def from_device(cls, device: Any) -> OpcUaSettings:
        return cls(
            endpoint=device.opcua_endpoint,
            security_policy=device.security_policy,
            security_mode=device.security_mode,
            client_certificate=device.client_certificate,
            client_private_key=device.client_private_key,
            server_certificate=device.server_certificate,
            username=device.username,
            password=device.password,
            timeout=device.timeout_seconds,
        )


def _application_uri(certificate_path: str) -> str:
    """The URI in the client certificate's SubjectAltName: servers check it against our application URI."""
    with contextlib.suppress(Exception):
        data = Path(certificate_path).read_bytes()
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
        if uris:
            return uris[0]
    return CLIENT_APPLICATION_URI


async def opcua_connect(settings: OpcUaSettings) -> Client:
    """A connected, activated asyncua Client; raises DeviceUnreachable with a readable reason."""
    # asyncua probes the server every watchdog interval, with that interval as the probe's timeout: at its 1 s
    # default a server busy for a second (creating thousands of monitored items) counts as lost.
    client = Client(settings.endpoint, timeout=settings.timeout, watchdog_intervall=max(5.0, 2 * settings.timeout))
    client.session_timeout = 600_000  # asyncua asks for an hour, servers commonly revise to 10 min
    where = f"OPC UA server {settings.endpoint}"
    try:
        if settings.security_policy != "None":
            policy = getattr(security_policies, f"SecurityPolicy{settings.security_policy}", None)
            if policy is None:
                raise DeviceUnreachable(f"{where}: unsupported security policy {settings.security_policy!r}")
            for path in (settings.client_certificate, settings.client_private_key, settings.server_certificate):
                if path and not await asyncio.to_thread(Path(path).is_file):
                    raise DeviceUnreachable(f"{where}: certificate or key file {path!r} does not exist")
            client.application_uri = await asyncio.to_thread(_application_uri, settings.client_certificate)
            await client.set_security(
                policy,
                settings.client_certificate,
                settings.client_private_key,
                server_certificate=settings.server_certificate or None,
                mode=getattr(ua.MessageSecurityMode, settings.security_mode),
            )
        if settings.username:
            client.set_user(settings.username)
            client.set_password(settings.password)
        await client.connect()
    except DeviceUnreachable:
        await _disconnect_quietly(client)
        raise
    except Exception as exc:
        await _disconnect_quietly(client)
        raise DeviceUnreachable(connect_error_text(settings, exc)) from exc
    return client


def connect_error_text(settings: OpcUaSettings, exc: BaseException) -> str:
    where = f"OPC UA server {settings.endpoint}"
    code = getattr(exc, "code", None)
    if isinstance(exc, ua.UaStatusCodeError) and code is not None:
        name = ua.StatusCode(code).name
        base = code & 0xFFFF0000
        if base in _LOGIN_REJECTED:
            if settings.username:
                return f"{where} rejected the login of user {settings.username!r}: wrong user name or password ({name})"
            return f"{where} rejected an anonymous login: it needs a user name and password ({name})"
        if base in _CERTIFICATE_REJECTED:
            return f"{where} rejected the secure connection: the server does not trust the client certificate ({name})"
        return f"{where}: {name}"
    if isinstance(exc, ua.UaError) and "endpoint" in str(exc).lower():
        return (
            f"{where} offers no endpoint with security policy {settings.security_policy} and mode "
            f"{settings.security_mode}: set the device's security to one the server offers ({exc})"
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"cannot connect to {where}: no answer within {settings.timeout:g} s"
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return f"cannot connect to {where}: {type(exc).__name__}: {exc}"


async def _disconnect_quietly(client: Client) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 2.0)
    with contextlib.suppress(Exception):
        client.disconnect_socket()


class NamespaceResolver:
    """Turns parsed node ids into ua.NodeId, resolving ``nsu=`` URIs against the server's namespace array."""

    def __init__(self, namespaces: Sequence[str]) -> None:
        self._index = {uri: i for i, uri in enumerate(namespaces)}

    def node_id(self, parsed: OpcUaNodeId) -> ua.NodeId | None:
        ns = parsed.namespace_index
        if parsed.namespace_uri is not None:
            ns = self._index.get(parsed.namespace_uri)
            if ns is None:
                return None
        kind = {
            "i": ua.NodeIdType.Numeric,
            "s": ua.NodeIdType.String,
            "g": ua.NodeIdType.Guid,
            "b": ua.NodeIdType.ByteString,
        }[parsed.kind]
        if kind == ua.NodeIdType.Numeric and parsed.identifier <= 255 and ns == 0:  # type: ignore[operator]
            kind = ua.NodeIdType.TwoByte
        return ua.NodeId(parsed.identifier, ns, kind)


def _parse(address: str, data_type: str) -> OpcUaNodeId | InvalidTagAddress:
    try:
        return parse_opcua_address(address, data_type)
    except InvalidTagAddress as exc:
        return exc


def _unresolved(point: PointRequest, parsed: OpcUaNodeId | InvalidTagAddress) -> PointReading:
    reason = str(parsed) if isinstance(parsed, InvalidTagAddress) else f"{point.address}: unknown namespace URI"
    return PointReading(point.tag_id, None, Quality.BAD_CONFIG_ERROR, reason)


class OpcUaDriver(Driver):
    """Polled reads from one OPC UA server, batched into Read requests of up to MAX_NODES_PER_READ nodes."""

    def __init__(self, settings: OpcUaSettings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._resolver: NamespaceResolver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._parsed: dict[tuple[str, str], OpcUaNodeId | InvalidTagAddress] = {}

    def __repr__(self) -> str:
        return f"<OpcUaDriver {self.settings.endpoint}>"

    @property
    def connected(self) -> bool:
        return self._client is not None

    def connect(self) -> None:
        if self._client is None:
            self._client, self._resolver = self._call(self._connect())

    def close(self) -> None:
        client, self._client = self._client, None
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if client is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(_disconnect_quietly(client), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        if not thread.is_alive():
            loop.close()

    def read(self, points: Sequence[PointRequest]) -> list[PointReading]:
        return [_point_reading(points[i], got) for i, got in enumerate(self._read_points(points))]

    def read_batch(self, points: Sequence[PointRequest]) -> ReadingBatch:
        """The readings as columns, converted tag by tag: text for string tags (in `texts`), numbers for the
        others; a value that cannot be converted is a bad reading of its tag alone, never a failed poll."""
        count = len(points)
        tag_ids = np.fromiter((p.tag_id for p in points), dtype=np.int32, count=count)
        values = np.full(count, np.nan, dtype=np.float64)
        qualities = np.empty(count, dtype=np.int16)
        reasons: dict[int, str] = {}
        texts: dict[int, str] = {}
        times = np.zeros(count, dtype=np.int64)
        received = datetime.now(UTC)
        for i, got in enumerate(self._read_points(points)):
            reading = _point_reading(points[i], got)
            if isinstance(got, ua.DataValue):
                stamp = source_time(got, received)
                if stamp is not None:
                    times[i] = datetime_to_us(stamp)
            qualities[i] = reading.quality
            if reading.reason:
                reasons[reading.tag_id] = reading.reason
            if isinstance(reading.value, str):
                texts[reading.tag_id] = reading.value
            elif reading.value is not None:
                values[i] = reading.value
        return ReadingBatch(
            tag_ids=tag_ids, values=values, qualities=qualities, reasons=reasons, texts=texts, times=times
        )

    def _read_points(self, points: Sequence[PointRequest]) -> list[PointReading | ua.DataValue]:
        """Per point, in order: the server's DataValue, or the bad reading of a point that could not be asked for
        (bad address, unknown namespace URI). One Read service call per MAX_NODES_PER_READ nodes."""
        if not points:
            return []
        self.connect()
        assert self._client is not None
        assert self._resolver is not None
        results: list[PointReading | ua.DataValue | None] = [None] * len(points)
        wanted: list[tuple[int, ua.NodeId]] = []
        for i, point in enumerate(points):
            key = (point.address, point.data_type)
            if key not in self._parsed:
                self._parsed[key] = _parse(point.address, point.data_type)
            parsed = self._parsed[key]
            node_id = None if isinstance(parsed, InvalidTagAddress) else self._resolver.node_id(parsed)
            if node_id is None:
                results[i] = _unresolved(point, parsed)
            else:
                wanted.append((i, node_id))
        if wanted:  # an empty Read is an error (BadNothingToDo), not a reading
            values = self._call(self._read([node_id for _, node_id in wanted]))
            for (i, _), data_value in zip(wanted, values, strict=True):
                results[i] = data_value
        return results  # type: ignore[return-value]

    def browse(self, node_id: str | None = None, *, depth: int = 3) -> list[BrowseNode]:
        """The tree below `node_id` (default: the Objects folder), `depth` levels deep.

        `node_id` in any form a tag address takes (``nsu=`` or ``ns=``); InvalidTagAddress when it is not a node
        id, or names a namespace URI the server does not have."""
        self.connect()
        assert self._resolver is not None
        start = None
        if node_id:
            start = self._resolver.node_id(parse_node_id(node_id))
            if start is None:
                raise InvalidTagAddress(f"{node_id}: the server has no such namespace URI")
        return self._call(opcua_browse_tree(self._client, start, depth=depth), timeout_factor=10)

    # -- internals -----------------------------------------------------------------------------------------

    async def _connect(self) -> tuple[Client, NamespaceResolver]:
        client = await opcua_connect(self.settings)
        try:
            namespaces = await client.get_namespace_array()
        except Exception as exc:
            await _disconnect_quietly(client)
            raise DeviceUnreachable(f"OPC UA server {self.settings.endpoint}: {exc}") from exc
        return client, NamespaceResolver(namespaces)

    async def _read(self, node_ids: list[ua.NodeId]) -> list[ua.DataValue]:
        assert self._client is not None
        values: list[ua.DataValue] = []
        for start in range(0, len(node_ids), MAX_NODES_PER_READ):
            params = ua.ReadParameters()
            params.TimestampsToReturn = ua.TimestampsToReturn.Both  # the server's stamp where the source's is missing
            params.NodesToRead = [
                ua.ReadValueId(NodeId=n, AttributeId=ua.AttributeIds.Value)
                for n in node_ids[start : start + MAX_NODES_PER_READ]
            ]
            values.extend(await self._client.uaclient.read(params))
        return values

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=f"opcua:{self.settings.endpoint}", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    def _call(self, coro: Coroutine[Any, Any, T], *, timeout_factor: float = 3) -> T:
        """Run `coro` on the driver's loop; a link failure closes the connection and raises DeviceUnreachable."""
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(self.settings.timeout * timeout_factor + 5)
        except DeviceUnreachable:
            self.close()
            raise
        except FutureTimeout as exc:
            future.cancel()
            self.close()
            raise DeviceUnreachable(
                f"OPC UA server {self.settings.endpoint}: no answer within {self.settings.timeout:g} s"
            ) from exc
        except (ConnectionError, OSError, TimeoutError, ua.UaError) as exc:
            self.close()
            raise DeviceUnreachable(f"OPC UA server {self.settings.endpoint}: {type(exc).__name__}: {exc}") from exc


# -- browsing ------------------------------------------------------------------------------------------------

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


async def _describe_variable(node: Node, item: BrowseNode) -> None:
    attrs = await node.read_attributes(
        [ua.AttributeIds.DataType, ua.AttributeIds.ValueRank, ua.AttributeIds.Description]
    )
    data_type_id = attrs[0].Value.Value if attrs[0].StatusCode.is_good() else None
    value_rank = attrs[1].Value.Value if attrs[1].StatusCode.is_good() else -1
    if attrs[2].StatusCode.is_good() and attrs[2].Value.Value is not None:
        item.description = attrs[2].Value.Value.Text or ""
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


# -- subscriptions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoredPoint:
    """One tag to subscribe to: `deadband` in engineering units (absolute), `sampling_ms` how often to sample."""

    point: PointRequest
    sampling_ms: float
    deadband: float = 0.0


ReadingsCallback = Callable[[list[tuple[datetime, PointReading]]], None]
StatusCallback = Callable[[bool, str], None]


class _Handler:
    """asyncua's callback target: turns notifications into timestamped readings, notices a lost session."""

    def __init__(self, owner: OpcUaSubscription) -> None:
        self.owner = owner

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.owner._notified(data.monitored_item.ClientHandle, data.monitored_item.Value)

    def status_change_notification(self, status: Any) -> None:
        self.owner._lost.set()


class OpcUaSubscription:
    """One device's subscription, kept alive until stop(): connect, create the monitored items, wait for a loss,
    report it, back off (exponential with jitter), connect again and re-create everything.

    Runs on the caller's event loop. `on_readings` gets batches of (time, reading); `on_status(True, "")` when the
    subscription is (re-)established, `on_status(False, reason)` when the link is lost or cannot be made. Both
    are called on the loop's thread and must not block.
    """

    def __init__(
        self,
        settings: OpcUaSettings,
        points: Sequence[MonitoredPoint],
        *,
        publishing_interval_ms: float,
        on_readings: ReadingsCallback,
        on_status: StatusCallback,
        backoff: Callable[[int], float] | None = None,
        health_check_seconds: float = 5.0,
        source_timestamps: bool = True,
    ) -> None:
        self.settings = settings
        self.points = list(points)
        self.publishing_interval_ms = publishing_interval_ms
        self.on_readings = on_readings
        self.on_status = on_status
        self.backoff = backoff or _default_backoff
        self.health_check_seconds = health_check_seconds
        self.source_timestamps = source_timestamps  # False: each value at its arrival time
        self._by_handle = {i + 1: mp for i, mp in enumerate(self.points)}
        self._lost = asyncio.Event()
        self._stop = asyncio.Event()
        self.connects = 0  # successful (re-)connections, for tests and logs

    def stop(self) -> None:
        self._stop.set()
        self._lost.set()

    async def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            client: Client | None = None
            try:
                self._lost.clear()
                client = await opcua_connect(self.settings)
                await self._subscribe(client)
                self.connects += 1
                failures = 0
                self.on_status(True, "")
                reason = await self._watch(client)
            except DeviceUnreachable as exc:
                reason = str(exc)
            except (ConnectionError, OSError, TimeoutError, ua.UaError) as exc:
                reason = f"OPC UA server {self.settings.endpoint}: {type(exc).__name__}: {exc}"
            finally:
                if client is not None:
                    await _disconnect_quietly(client)
            if self._stop.is_set():
                return
            failures += 1
            self.on_status(False, reason)
            delay = self.backoff(failures)
            logger.info("OPC UA %s: %s; reconnecting in %.1f s", self.settings.endpoint, reason, delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _subscribe(self, client: Client) -> None:
        namespaces = await client.get_namespace_array()
        resolver = NamespaceResolver(namespaces)
        subscription = await client.create_subscription(self.publishing_interval_ms, _Handler(self))
        requests: list[ua.MonitoredItemCreateRequest] = []
        rejected: list[tuple[datetime, PointReading]] = []
        now = datetime.now(UTC)
        for handle, mp in self._by_handle.items():
            parsed = _parse(mp.point.address, mp.point.data_type)
            node_id = None if isinstance(parsed, InvalidTagAddress) else resolver.node_id(parsed)
            if node_id is None:
                rejected.append((now, _unresolved(mp.point, parsed)))
                continue
            requests.append(_monitored_item_request(handle, node_id, mp))
        for start in range(0, len(requests), MAX_ITEMS_PER_CREATE):
            chunk = requests[start : start + MAX_ITEMS_PER_CREATE]
            results = await subscription.create_monitored_items(chunk)
            for request, result in zip(chunk, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    mp = self._by_handle[request.RequestedParameters.ClientHandle]
                    reason = f"{mp.point.address}: {result.name}"
                    rejected.append((now, PointReading(mp.point.tag_id, None, status_quality(result.value), reason)))
        if rejected:
            self.on_readings(rejected)

    async def _watch(self, client: Client) -> str:
        """Wait until stopped or the link is lost; returns why."""
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._lost.wait(), self.health_check_seconds)
            except TimeoutError:
                try:  # a server that vanished without closing the socket (power cut, cable pulled)
                    await asyncio.wait_for(client.nodes.server_state.read_value(), self.settings.timeout)
                except Exception as exc:
                    return f"OPC UA server {self.settings.endpoint} stopped answering: {type(exc).__name__}"
                continue
            if not self._stop.is_set():
                return f"OPC UA server {self.settings.endpoint}: connection lost"
        return "stopped"

    def _notified(self, handle: int, data_value: ua.DataValue) -> None:
        mp = self._by_handle.get(handle)
        if mp is None:
            return
        received = datetime.now(UTC)
        at = value_time(data_value, received) if self.source_timestamps else received
        self.on_readings([(at, _point_reading(mp.point, data_value))])


def _monitored_item_request(handle: int, node_id: ua.NodeId, mp: MonitoredPoint) -> ua.MonitoredItemCreateRequest:
    params = ua.MonitoringParameters()
    params.ClientHandle = handle
    params.SamplingInterval = float(mp.sampling_ms)
    params.QueueSize = 1
    params.DiscardOldest = True
    if mp.deadband > 0 and mp.point.data_type != "bool":
        # The server compares raw values: the tag's deadband is in engineering units (raw * scale + offset).
        flt = ua.DataChangeFilter()
        flt.Trigger = ua.DataChangeTrigger.StatusValue
        flt.DeadbandType = ua.DeadbandType.Absolute
        flt.DeadbandValue = mp.deadband / abs(mp.point.scale) if mp.point.scale else mp.deadband
        params.Filter = flt
    request = ua.MonitoredItemCreateRequest()
    request.ItemToMonitor = ua.ReadValueId(NodeId=node_id, AttributeId=ua.AttributeIds.Value)
    request.MonitoringMode = ua.MonitoringMode.Reporting
    request.RequestedParameters = params
    return request


def _default_backoff(failures: int) -> float:
    delay = min(60.0, 2.0 ** max(0, failures - 1))
    return random.uniform(delay / 2, delay)


# -- certificates ----------------------------------------------------------------------------------------------


def opcua_client_certificate_generate(
    *, directory: Path, application_uri: str = CLIENT_APPLICATION_URI, host_name: str | None = None
) -> tuple[Path, Path]:
    """A self-signed client certificate (DER) and private key (PEM) in `directory`, kept if already valid.

    Returns (certificate path, key path). The server must trust the certificate (most do after an operator
    accepts it once; the simulator trusts every client).
    """
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "client-cert.der", directory / "client-key.pem"
    asyncio.run(
        setup_self_signed_certificate(
            key,
            cert,
            application_uri,
            host_name or socket.gethostname(),
            [ExtendedKeyUsageOID.CLIENT_AUTH],
            {"commonName": "Millwright"},
        )
    )
    return cert, key


__all__ = [
    "BrowseNode",
    "MonitoredPoint",
    "OpcUaDriver",
    "OpcUaSettings",
    "OpcUaSubscription",
    "opcua_client_certificate_generate",
    "opcua_connect",
    "status_quality",
]
