"""OPC UA driver over asyncua: polled reads behind the synchronous Driver interface.

asyncua is asyncio-only. A polling worker is synchronous, so each OpcUaDriver owns an event loop running in a
thread of its own and hands it coroutines (`_call`). The other jobs live beside it: `client` (settings, connecting,
namespace resolution), `readings` (DataValue to reading: quality, conversion, timestamps), `browse`,
`subscription` (OpcUaSubscription, run on the subscription runner's own loop) and `certificates`; their public
names are re-exported here, where the rest of the code has always imported them from.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
from asyncua import Client, ua

from common.loop_thread import LoopThread
from historian.addresses import InvalidTagAddress
from historian.sample_types import datetime_to_us
from ingest.protocols.base import (
    DeviceIdentity,
    DeviceUnreachable,
    Driver,
    PointReading,
    PointRequest,
    ReadingBatch,
    WriteOutcome,
    WriteRefused,
    WriteStatus,
    WriteValue,
    engineering_from_raw,
    raw_from_engineering,
)
from ingest.protocols.opcua.address import OpcUaNodeId, parse_node_id
from ingest.protocols.opcua.browse import UA_DATA_TYPES, BrowseNode, browse_address, opcua_browse_tree
from ingest.protocols.opcua.certificates import opcua_client_certificate_generate
from ingest.protocols.opcua.client import (
    CLIENT_APPLICATION_URI,
    NamespaceResolver,
    OpcUaSettings,
    certificate_sha256,
    connect_error_text,
    disconnect_quietly,
    opcua_connect,
    parse_address,
    ua_node_id,
    unresolved_reading,
)
from ingest.protocols.opcua.readings import (
    MAX_CLOCK_SKEW,
    point_reading,
    quality_is_bad_code,
    source_time,
    status_quality,
    value_reading,
    value_time,
)
from ingest.protocols.opcua.subscription import (
    MAX_ITEMS_PER_CREATE,
    LinkStatus,
    MonitoredPoint,
    OpcUaSubscription,
)
from ingest.protocols.opcua.write import same_value, write_variant

T = TypeVar("T")

#: Nodes per Read request; servers cap this (MaxNodesPerRead), 1000 is below every common default.
MAX_NODES_PER_READ = 1000


#: Server_ServerStatus_BuildInfo's children (namespace 0, fixed by the OPC UA specification, Part 5).
BUILD_INFO_NODES = {
    "ProductName": 2261,
    "ProductUri": 2262,
    "ManufacturerName": 2263,
    "SoftwareVersion": 2264,
    "BuildNumber": 2265,
}


def endpoints_offered(endpoints: Sequence[ua.EndpointDescription]) -> list[dict[str, str]]:
    """What each endpoint offers, for the communication baseline: URL, security mode and policy (the name after
    the policy URI's "#"), and the user token types it accepts."""
    offered = {
        (
            str(e.EndpointUrl or ""),
            ua.MessageSecurityMode(e.SecurityMode).name.removesuffix("_"),  # asyncua spells None "None_"
            str(e.SecurityPolicyUri or "").rsplit("#", 1)[-1] or "None",
            ",".join(sorted({ua.UserTokenType(t.TokenType).name for t in e.UserIdentityTokens or []})),
        )
        for e in endpoints
    }
    return [{"url": u, "mode": m, "policy": p, "tokens": t} for u, m, p, t in sorted(offered)]


class OpcUaDriver(Driver):
    """Polled reads from one OPC UA server, batched into Read requests of up to MAX_NODES_PER_READ nodes."""

    def __init__(self, settings: OpcUaSettings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._resolver: NamespaceResolver | None = None
        self._loop_thread = LoopThread(f"opcua:{settings.endpoint}")
        #: The certificate the server presented on the secure channel (DER), once connected securely.
        self.peer_certificate: bytes | None = None
        self._parsed: dict[tuple[str, str], OpcUaNodeId | InvalidTagAddress] = {}

    def __repr__(self) -> str:
        return f"<OpcUaDriver {self.settings.endpoint}>"

    @property
    def connected(self) -> bool:
        return self._client is not None

    def connect(self) -> None:
        if self._client is None:
            self._client, self._resolver = self._call(self._connect())
            self.peer_certificate = self._client.security_policy.peer_certificate or None

    def close(self) -> None:
        client, self._client = self._client, None
        if not self._loop_thread.running:
            return
        if client is not None:
            with contextlib.suppress(Exception):
                self._loop_thread.run(disconnect_quietly(client), timeout=5)
        self._loop_thread.stop(5)

    def read(self, points: Sequence[PointRequest]) -> list[PointReading]:
        return [point_reading(points[i], got) for i, got in enumerate(self._read_points(points))]

    def identify(self) -> DeviceIdentity | None:
        """The server's BuildInfo (product, manufacturer, software version, build) and its certificate's SHA-256."""
        self.connect()
        return self._call(self._identity())

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
            reading = point_reading(points[i], got)
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
                self._parsed[key] = parse_address(point.address, point.data_type)
            parsed = self._parsed[key]
            node_id = None if isinstance(parsed, InvalidTagAddress) else self._resolver.node_id(parsed)
            if node_id is None:
                results[i] = unresolved_reading(point, parsed)
            else:
                wanted.append((i, node_id))
        if wanted:  # an empty Read is an error (BadNothingToDo), not a reading
            values = self._call(self._read([node_id for _, node_id in wanted]))
            for (i, _), data_value in zip(wanted, values, strict=True):
                results[i] = data_value
        return results  # type: ignore[return-value]

    def write(self, point: PointRequest, value: WriteValue, *, timeout: float = 5.0) -> WriteOutcome:
        """Write `value` as the node's own DataType (read first; what does not convert is refused, nothing sent),
        over the connection the reads use (same endpoint, security mode and user), then read the node back until
        it holds the value or `timeout` runs out. A status the server answers (BadNotWritable,
        BadUserAccessDenied, BadTypeMismatch...) is a failed write naming it."""
        started = time.monotonic()

        def outcome(status: WriteStatus, **kwargs: Any) -> WriteOutcome:
            return WriteOutcome(status, value, seconds=time.monotonic() - started, **kwargs)

        parsed = parse_address(point.address, point.data_type)
        if isinstance(parsed, InvalidTagAddress):
            return outcome(WriteStatus.FAILED, error=str(parsed))
        try:
            raw = raw_from_engineering(point, value)
        except WriteRefused as exc:
            return outcome(WriteStatus.FAILED, error=str(exc))
        state = {"sent": False}
        try:
            self.connect()
            assert self._resolver is not None
            node_id = self._resolver.node_id(parsed)
            if node_id is None:
                return outcome(WriteStatus.FAILED, error=f"{point.address}: unknown namespace URI")
            return self._call(self._write(point, node_id, raw, started + timeout, outcome, state))
        except WriteRefused as exc:
            return outcome(WriteStatus.FAILED, error=str(exc))
        except DeviceUnreachable as exc:
            return outcome(WriteStatus.FAILED, sent=state["sent"], error=str(exc))

    async def _write(
        self,
        point: PointRequest,
        node_id: ua.NodeId,
        raw: WriteValue,
        deadline: float,
        outcome: Callable[..., WriteOutcome],
        state: dict[str, bool],
    ) -> WriteOutcome:
        assert self._client is not None
        client = self._client
        (type_value,) = await client.uaclient.read_attributes([node_id], ua.AttributeIds.DataType)
        if type_value.StatusCode is not None and not type_value.StatusCode.is_good():
            return outcome(WriteStatus.FAILED, error=f"{point.address}: {type_value.StatusCode.name}")
        if type_value.Value is None or not isinstance(type_value.Value.Value, ua.NodeId):
            return outcome(WriteStatus.FAILED, error=f"{point.address}: the server gave no DataType for the node")
        variant = write_variant(type_value.Value.Value, raw, address=point.address)
        params = ua.WriteParameters()
        params.NodesToWrite = [
            ua.WriteValue(NodeId=node_id, AttributeId=ua.AttributeIds.Value, Value=ua.DataValue(variant))
        ]
        state["sent"] = True
        (status,) = await client.uaclient.write(params)
        if not status.is_good():
            return outcome(
                WriteStatus.FAILED,
                written=variant.Value,
                sent=True,
                error=f"{point.address}: the server answered {status.name}",
            )
        while True:
            (data_value,) = await self._read([node_id])
            code = data_value.StatusCode
            got = data_value.Value.Value if data_value.Value is not None else None
            if code is not None and not code.is_good():
                return outcome(
                    WriteStatus.FAILED,
                    written=variant.Value,
                    sent=True,
                    error=f"{point.address}: read-back {code.name}",
                )
            read_back = engineering_from_raw(point, got) if isinstance(got, int | float | str) else None
            if same_value(variant, got):
                return outcome(
                    WriteStatus.CONFIRMED, written=variant.Value, sent=True, read_back=read_back, read_back_raw=got
                )
            if time.monotonic() >= deadline:
                return outcome(
                    WriteStatus.MISMATCHED,
                    written=variant.Value,
                    sent=True,
                    read_back=read_back,
                    read_back_raw=got,
                    error=f"{point.address}: wrote {variant.Value!r}, the server holds {got!r}",
                )
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

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

    async def _identity(self) -> DeviceIdentity | None:
        assert self._client is not None
        client = self._client
        nodes = [client.get_node(ua_node_id(number, 0)) for number in BUILD_INFO_NODES.values()]
        values = await client.read_values(nodes)
        fields = {name: str(value)[:200] for name, value in zip(BUILD_INFO_NODES, values, strict=True) if value}
        endpoints = await client.get_endpoints()
        certificate = client.security_policy.peer_certificate
        if not certificate:  # no secure channel: the certificate the server offers on its endpoints
            certificate = next((e.ServerCertificate for e in endpoints if e.ServerCertificate), None)
        thumbprint = certificate_sha256(certificate) if certificate else None
        offered = endpoints_offered(endpoints)
        if not (fields or thumbprint or offered):
            return None
        return DeviceIdentity(fields, certificate_thumbprint=thumbprint, endpoints=offered)

    async def _connect(self) -> tuple[Client, NamespaceResolver]:
        client = await opcua_connect(self.settings)
        try:
            namespaces = await client.get_namespace_array()
        except Exception as exc:
            await disconnect_quietly(client)
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

    def _call(self, coro: Coroutine[Any, Any, T], *, timeout_factor: float = 3) -> T:
        """Run `coro` on the driver's loop; a link failure closes the connection and raises DeviceUnreachable."""
        future = self._loop_thread.submit(coro)
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


__all__ = [  # what the rest of the code imports from here, as before the split
    "CLIENT_APPLICATION_URI",
    "MAX_CLOCK_SKEW",
    "MAX_ITEMS_PER_CREATE",
    "MAX_NODES_PER_READ",
    "UA_DATA_TYPES",
    "BrowseNode",
    "LinkStatus",
    "MonitoredPoint",
    "NamespaceResolver",
    "OpcUaDriver",
    "OpcUaSettings",
    "OpcUaSubscription",
    "browse_address",
    "connect_error_text",
    "opcua_browse_tree",
    "opcua_client_certificate_generate",
    "opcua_connect",
    "quality_is_bad_code",
    "source_time",
    "status_quality",
    "value_reading",
    "value_time",
]
