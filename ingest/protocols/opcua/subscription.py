"""OPC UA subscriptions: monitored items the server samples and pushes, kept alive across link losses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncua import Client, Node, ua

from historian.addresses import InvalidTagAddress
from ingest.protocols.base import DeviceUnreachable, PointReading, PointRequest
from ingest.protocols.opcua.client import (
    NamespaceResolver,
    OpcUaSettings,
    disconnect_quietly,
    opcua_connect,
    parse_address,
    unresolved_reading,
)
from ingest.protocols.opcua.readings import point_reading, status_quality, value_time

logger = logging.getLogger(__name__)

#: Monitored items per CreateMonitoredItems request.
MAX_ITEMS_PER_CREATE = 1000


@dataclass(frozen=True)
class MonitoredPoint:
    """One tag to subscribe to: `deadband` in engineering units (absolute), `sampling_ms` how often to sample."""

    point: PointRequest
    sampling_ms: float
    deadband: float = 0.0


@dataclass(frozen=True)
class LinkStatus:
    """A subscription's link came up (`ok`) or went down (`reason`; `error` when a connect failed with one, e.g.
    ServerCertificateChanged with both thumbprints). `peer_certificate`: the certificate (DER) the server presented
    on a secure link that came up, for pinning on first use."""

    ok: bool
    reason: str = ""
    error: BaseException | None = None
    peer_certificate: bytes | None = None


ReadingsCallback = Callable[[list[tuple[datetime, PointReading]]], None]
StatusCallback = Callable[[LinkStatus], None]


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

    Runs on the caller's event loop. `on_readings` gets batches of (time, reading); `on_status(LinkStatus(True))`
    when the subscription is (re-)established, `on_status(LinkStatus(False, reason, error))` when the link is lost
    or cannot be made. Both are called on the loop's thread and must not block.
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
        self._pending: list[tuple[datetime, PointReading]] = []  # one publish response's items, see _notified
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
            error: BaseException | None = None
            try:
                self._lost.clear()
                client = await opcua_connect(self.settings)
                await self._subscribe(client)
                self.connects += 1
                failures = 0
                peer_certificate = client.security_policy.peer_certificate or None
                self.on_status(LinkStatus(True, peer_certificate=peer_certificate))
                reason = await self._watch(client)
            except DeviceUnreachable as exc:
                reason, error = str(exc), exc
            except (ConnectionError, OSError, TimeoutError, ua.UaError) as exc:
                reason, error = f"OPC UA server {self.settings.endpoint}: {type(exc).__name__}: {exc}", exc
            finally:
                if client is not None:
                    await disconnect_quietly(client)
            if self._stop.is_set():
                return
            failures += 1
            self.on_status(LinkStatus(False, reason, error))
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
            parsed = parse_address(mp.point.address, mp.point.data_type)
            node_id = None if isinstance(parsed, InvalidTagAddress) else resolver.node_id(parsed)
            if node_id is None:
                rejected.append((now, unresolved_reading(mp.point, parsed)))
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
        # asyncua hands each item of a publish response to the handler in a task of its own, all scheduled
        # before the first runs: collect them and pass the response on as one batch once they have all run.
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._emit)
        self._pending.append((at, point_reading(mp.point, data_value)))

    def _emit(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            self.on_readings(batch)


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
