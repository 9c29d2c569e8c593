"""MQTT Sparkplug B (3.0) host application: consume what edge nodes publish and store it like any other value.

One SparkplugRunner per process (``manage.py run_sparkplug``). Every broker that an enabled Sparkplug device names
gets one MQTT session (ingest.protocols.sparkplug.session, a thread each) subscribed to ``spBv1.0/#`` (or to the
groups configured). Messages go through a queue to the runner's own thread, which every `flush_seconds` (or as
soon as `max_pending` messages wait) works through them in arrival order; all database work stays in that thread.

Per edge node it keeps what the protocol needs: the bdSeq of the last NBIRTH, the last sequence number, and the
alias -> metric name maps of the births.

* NBIRTH / DBIRTH: a device the database does not know yet is created, disabled and marked "discovered", with a
  DiscoveredMetric per announced metric, for an administrator to turn into tags (and enable). Their values are
  stored like data.
* NDATA / DDATA: metrics named by alias are resolved through the birth; values go through readings_store (the
  poll's write path: compression, current values, live push, alarms), stamped with the metric's timestamp (else
  the payload's, else the arrival time). Metrics flagged ``is_historical`` are history only: written with the
  idempotent write, never as current values, never pushed live.
* A sequence number out of order, data from a node whose birth we missed, or an alias we do not know: the node is
  asked to publish its births again (NCMD ``Node Control/Rebirth`` = true), at most every `rebirth_seconds`.
* NDEATH (only when its bdSeq matches the NBIRTH's: a late will of an older session is ignored) and DDEATH: one
  bad-quality sample (comm failure) per tag of the node's devices / of the device (device_link_lost). So does the
  loss of our own connection to the broker, for every device behind it; after reconnecting (backoff with jitter,
  subscriptions re-created) every known node is asked for a rebirth, whose values are good again.
* The communication baseline (inventory.services.baseline): the edge nodes and devices configured as Devices
  (not merely discovered), and those an administrator accepted into the baseline from the inventory. The first
  message of a node or device outside it reports UNKNOWN_EDGE_NODE / UNKNOWN_EDGE_DEVICE (a security event, once per
  appearance: again only after its death; the devices of an unknown node are covered by the node's event), with the
  group, node, device, metric names and when it was first seen. MQTT does not tell a subscriber who published, so
  the evidence names the broker, not the publisher's address.
* NCMD / DCMD (the subscriptions cover the groups' command topics): a command this host did not send itself (its
  rebirth requests are recognised by topic and exact payload within OWN_COMMAND_SECONDS of sending) reports
  UNEXPECTED_COMMAND with the topic, metrics and values; one event per topic every `command_report_seconds` at
  most, counting the others. Commands are never stored.
* A device taken out of service (Device.enabled false; ingest.services.devices) is not stored at all: neither its
  data nor its deaths. The out-of-service sample per tag written when it was disabled stays the last word until it
  is put back in service; the configuration is re-read at once then, and its node asked for a rebirth, whose
  values are good again. (The edge node keeps publishing: we are one host application among others and do not
  tell it to stop.)
* Writes (issue 14): `command(device, point, value, timeout=...)`, callable from any thread, publishes an NCMD (a
  node metric) or DCMD (a device's) with the metric by its birth alias (by name when the birth gave none), the value
  typed as the metric's birth datatype (what does not convert is refused, nothing sent), and waits for the edge node
  to publish the metric again (NDATA / DDATA / a birth): the same value confirms, another one mismatches, none
  within the timeout fails. The command is ours, so its echo on the command topic is not reported as unexpected.
  Other processes (the write service) reach it through `ingest.acquisition.sparkplug_commands`: while `run` runs,
  a `SparkplugCommandServer` takes their requests for the brokers this runner is connected to.
* With SPARKPLUG_HOST_ID set the runner is a primary host application: each session publishes its STATE
  (ingest.protocols.sparkplug.session), which edge nodes such as a site's Millwright (ingest.acquisition.
  edge_publisher) wait for before they publish.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings as django_settings
from django.utils import timezone

from common.metrics import counter_add
from historian.models import Device, Protocol, Tag
from historian.quality import Quality, quality_is_bad
from historian.sample_types import SampleRow, TextSampleRow, is_text_row
from historian.services.samples import samples_write_batch
from historian.services.text_samples import text_samples_write_batch
from ingest.acquisition.config_reload import ConfigReloads
from ingest.acquisition.security import security_report
from ingest.acquisition.sparkplug_commands import SparkplugCommandServer
from ingest.pipeline.buffer import buffer_status_publish, local_buffer
from ingest.pipeline.context import IngestContext
from ingest.pipeline.device_status import device_record_success, reconnect_delay
from ingest.pipeline.store import (
    DATABASE_DOWN_ERRORS,
    INGEST_VALUES,
    compression_flush,
    database_connection_reset,
    device_link_lost,
    readings_store,
)
from ingest.protocols.base import (
    PointReading,
    PointRequest,
    WriteOutcome,
    WriteRefused,
    WriteStatus,
    WriteValue,
    engineering_from_raw,
    raw_from_engineering,
)
from ingest.protocols.sparkplug.codec import (
    BD_SEQ,
    NAMESPACE,
    Metric,
    Payload,
    SparkplugError,
    Topic,
    payload_decode,
    rebirth_request,
    topic_parse,
)
from ingest.protocols.sparkplug.command import command_payload, command_value, echo_value, same_value
from ingest.protocols.sparkplug.discovery import DeviceKey, is_control_metric, sparkplug_device_discover
from ingest.protocols.sparkplug.session import BrokerSettings, MqttSession
from inventory.models import AssetProtocol
from inventory.queries import asset_id_find
from inventory.security_events import SecurityEvent, SecurityEventKind
from inventory.services.assets import asset_observe
from inventory.services.baseline import sparkplug_baseline_accepted

logger = logging.getLogger(__name__)

NodeKey = tuple[str, str]  # (group id, edge node id)

#: How long after sending a command its echo (we subscribe to the command topics too) is recognised as ours.
OWN_COMMAND_SECONDS = 30.0
COMMAND_MESSAGES = frozenset({"NCMD", "DCMD"})


def broker_settings(device: Device) -> BrokerSettings:
    return BrokerSettings(device.host, device.port, device.username, device.password)


def _device_key(device: Device) -> DeviceKey:
    return (device.sparkplug_group_id, device.sparkplug_edge_node_id, device.sparkplug_device_id)


@dataclass
class NodeState:
    bd_seq: int | None = None
    seq: int | None = None  # the last sequence number received; None: unknown until the next NBIRTH
    online: bool = False
    aliases: dict[int, str] = field(default_factory=dict)  # alias -> metric name, node and devices together
    #: (device id, "" the node; metric name) -> (alias or None, datatype), from the births: what a command needs
    metrics: dict[tuple[str, str], tuple[int | None, int]] = field(default_factory=dict)
    rebirth_requested_at: float = -math.inf
    #: this appearance (until its death): device ids ("" the node) found in the baseline, and those reported outside
    baseline_known: set[str] = field(default_factory=set)
    unknown_reported: set[str] = field(default_factory=set)


@dataclass
class _Broker:
    settings: BrokerSettings
    session: MqttSession
    subscriptions: tuple[str, ...]
    nodes: dict[NodeKey, NodeState] = field(default_factory=dict)
    #: every Sparkplug device row of this broker, enabled or not, by its ids (a broker device has none)
    devices: dict[DeviceKey, Device] = field(default_factory=dict)
    #: the devices that stand for the broker itself (no edge node id): their status is the connection's
    broker_devices: list[Device] = field(default_factory=list)
    #: the commands this host published, (topic, payload, monotonic time sent), to recognise their echo
    sent_commands: deque[tuple[str, bytes, float]] = field(default_factory=deque)
    #: per command subject: when an unexpected command was last reported, and how many since were not
    commands_reported: dict[str, tuple[float, int]] = field(default_factory=dict)


@dataclass
class _Echo:
    """A command waiting for its metric to come back in a data message (matched in the MQTT thread)."""

    settings: BrokerSettings
    topic_prefix: tuple[str, str, str]  # group, edge node, device ("" the node)
    name: str
    alias: int | None
    datatype: int
    sent: float | int | bool | str
    done: threading.Event = field(default_factory=threading.Event)
    seen: list[object] = field(default_factory=list)
    matched: bool = False


@dataclass(frozen=True)
class FlushOutcome:
    messages: int = 0
    stored: int = 0  # current rows historized (after compression) + historical rows
    historical: int = 0
    rebirths: int = 0
    discovered: int = 0  # devices created from births
    deaths: int = 0
    rejected: int = 0  # messages that are not Sparkplug B


@dataclass
class _Batch:
    """What one flush collected, stored per device at the end or before a death of that device."""

    current: dict[int, list[tuple[datetime, PointReading]]] = field(default_factory=lambda: defaultdict(list))
    historical: list[SampleRow | TextSampleRow] = field(default_factory=list)
    historical_newest: dict[int, datetime] = field(default_factory=dict)  # tag -> newest historical time stored
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class SparkplugRunner:
    """Keeps one MQTT session per broker of the enabled Sparkplug devices and stores what the edge nodes send."""

    def __init__(
        self,
        *,
        flush_seconds: float = 0.2,
        reload_seconds: float = 30.0,
        max_pending: int = 2000,
        rebirth_seconds: float = 5.0,
        client_id_prefix: str | None = None,
        context: IngestContext | None = None,
        command_report_seconds: float = 10.0,
        host_id: str | None = None,
    ) -> None:
        self.context = context or IngestContext()  # this runner's store state (ingest.pipeline.context)
        #: our primary host application id: its STATE is published on every broker (settings.SPARKPLUG_HOST_ID)
        self.host_id = django_settings.SPARKPLUG_HOST_ID if host_id is None else host_id
        self.flush_seconds = flush_seconds
        self.command_report_seconds = command_report_seconds
        self.reload_seconds = reload_seconds
        self.max_pending = max_pending
        self.rebirth_seconds = rebirth_seconds
        self.client_id_prefix = client_id_prefix or f"millwright-{socket.gethostname()}-{os.getpid()}"
        self._events: queue.SimpleQueue[tuple[BrokerSettings, str, tuple]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._brokers: dict[BrokerSettings, _Broker] = {}
        self._tags: dict[int, dict[int, Tag]] = {}  # enabled device pk -> tag pk -> tag
        self._tag_by_metric: dict[int, dict[str, Tag]] = {}  # enabled device pk -> metric name -> tag
        self._devices: dict[int, Device] = {}
        self._reloads = ConfigReloads(what="Sparkplug sessions")
        self._echoes: list[_Echo] = []  # commands waiting for their echo; guarded by _echo_lock
        self._echo_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------------------

    def run(self, *, stop: threading.Event, serve_commands: bool = True) -> None:
        """Run until `stop` is set (SIGTERM), then disconnect, store what arrived and return. With
        `serve_commands`, other processes' write requests are taken meanwhile (`command_server`)."""
        server = self.command_server() if serve_commands else None
        if server is not None:
            server.start()
        try:
            while not stop.is_set():
                self.step()
                self._wake.wait(self.flush_seconds)
                self._wake.clear()
        finally:
            if server is not None:
                server.stop()  # leave the rolls and finish the commands in hand before the sessions close
            self.shutdown()

    def command_server(self) -> SparkplugCommandServer:
        """The server of other processes' write requests for the brokers this runner is connected to."""

        def connected() -> list[BrokerSettings]:
            return [s for s, b in list(self._brokers.items()) if b.session.connected]

        def device(pk: int) -> Device | None:
            known = self._devices.get(pk)
            if known is not None:
                return known
            return Device.objects.filter(pk=pk, protocol=Protocol.SPARKPLUG).first()  # configured since the reload

        return SparkplugCommandServer(
            command=lambda d, p, v, t: self.command(d, p, v, timeout=t),
            brokers=connected,
            device=device,
            name=self.client_id_prefix,
        )

    def step(self) -> FlushOutcome:
        """Re-read the configuration when due, then handle what arrived since the last step."""
        self._reloads.run_if_due(self.sync, seconds=self.reload_seconds)
        return self.flush()

    def shutdown(self) -> None:
        for broker in self._brokers.values():
            broker.session.stop()
        try:
            self.flush()
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
        self._brokers.clear()

    def session(self, settings: BrokerSettings) -> MqttSession | None:
        broker = self._brokers.get(settings)
        return broker.session if broker else None

    def node_state(self, settings: BrokerSettings, group_id: str, edge_node_id: str) -> NodeState | None:
        broker = self._brokers.get(settings)
        return broker.nodes.get((group_id, edge_node_id)) if broker else None

    # -- configuration -------------------------------------------------------------------------------------

    def sync(self) -> None:
        """Open, re-subscribe or close broker sessions and reload devices and tags to match the database."""
        devices = list(Device.objects.filter(protocol=Protocol.SPARKPLUG).order_by("pk"))
        by_broker: dict[BrokerSettings, list[Device]] = defaultdict(list)
        for device in devices:
            by_broker[broker_settings(device)].append(device)
        wanted: dict[BrokerSettings, tuple[str, ...]] = {}
        for settings, members in by_broker.items():
            enabled = [d for d in members if d.enabled]
            if not enabled:
                continue
            groups = {d.sparkplug_group_id for d in enabled}
            topics = [f"{NAMESPACE}/#"] if "" in groups else [f"{NAMESPACE}/{g}/#" for g in sorted(groups)]
            wanted[settings] = tuple(topics)
        for settings in set(self._brokers) - set(wanted):
            self._brokers.pop(settings).session.stop()
            logger.info("Sparkplug: left %s", settings)
        for settings, subscriptions in wanted.items():
            broker = self._brokers.get(settings)
            if broker is not None and broker.subscriptions != subscriptions:
                self._brokers.pop(settings).session.stop()
                broker = None
            if broker is None:
                self._brokers[settings] = self._open(settings, subscriptions)
        enabled_ids = {d.pk for d in devices if d.enabled}
        tags_by_device: dict[int, dict[int, Tag]] = defaultdict(dict)
        for tag in Tag.objects.filter(device_id__in=enabled_ids).select_related("scan_class").order_by("pk"):
            tags_by_device[tag.device_id][tag.pk] = tag
        for device_pk in self._tags.keys() - enabled_ids:  # out of service: close the open segments
            compression_flush(context=self.context, tags=self._tags[device_pk])
        for settings, broker in self._brokers.items():
            members = by_broker[settings]
            broker.devices = {_device_key(d): d for d in members if d.sparkplug_edge_node_id}
            broker.broker_devices = [d for d in members if not d.sparkplug_edge_node_id and d.enabled]
            for node in broker.nodes.values():  # the baseline may have changed: ask again at the next message
                node.baseline_known.clear()
            self._rebirth_newly_configured(broker, tags_by_device)
        self._tags = dict(tags_by_device)
        self._devices = {d.pk: d for d in devices}
        self._tag_by_metric = {pk: {t.address: t for t in tags.values()} for pk, tags in tags_by_device.items()}

    def _rebirth_newly_configured(self, broker: _Broker, tags_by_device: dict[int, dict[int, Tag]]) -> None:
        """A device just enabled, or with new tags, needs the current value of each: the birth carries them all."""
        nodes: set[NodeKey] = set()
        for key, device in broker.devices.items():
            before = set(self._tags.get(device.pk, {}))
            after = set(tags_by_device.get(device.pk, {}))
            if device.enabled and after - before:
                nodes.add(key[:2])
        for node_key in nodes:
            state = broker.nodes.get(node_key)
            if state is not None and state.online:
                self._request_rebirth(broker, node_key, state, force=True)

    def _open(self, settings: BrokerSettings, subscriptions: tuple[str, ...]) -> _Broker:
        def on_message(topic: str, payload: bytes, at: datetime) -> None:
            if self._echoes:
                self._echo_check(settings, topic, payload)
            self._events.put((settings, "message", (topic, payload, at)))
            if self._events.qsize() >= self.max_pending:
                self._wake.set()

        def on_link(ok: bool, reason: str, at: datetime) -> None:
            self._events.put((settings, "link", (ok, reason, at)))
            self._wake.set()

        client_id = f"{self.client_id_prefix}-{len(self._brokers)}-{int(time.monotonic() * 1000) % 100000}"
        session = MqttSession(
            settings,
            client_id=client_id[:64],
            subscriptions=subscriptions,
            on_message=on_message,
            on_link=on_link,
            backoff=reconnect_delay,
            host_id=self.host_id,
        )
        session.start()
        logger.info("Sparkplug: listening on %s to %s", settings, ", ".join(subscriptions))
        return _Broker(settings, session, subscriptions)

    # -- handling messages ---------------------------------------------------------------------------------

    def flush(self) -> FlushOutcome:
        batch = _Batch()
        while True:
            try:
                settings, kind, payload = self._events.get_nowait()
            except queue.Empty:
                break
            broker = self._brokers.get(settings)
            if broker is None:
                continue
            if kind == "link":
                self._link(broker, *payload, batch=batch)
                continue
            batch.counts["messages"] += 1
            topic, data, received_at = payload
            if topic.startswith(f"{NAMESPACE}/STATE/"):
                continue  # a host application's STATE (ours among them): not an edge node's message
            try:
                parsed = topic_parse(topic)
                if parsed.message_type in COMMAND_MESSAGES:
                    self._command(broker, parsed, data, received_at)
                    continue
                self._message(broker, parsed, payload_decode(data), received_at, batch)
            except SparkplugError as exc:
                batch.counts["rejected"] += 1
                logger.warning("Sparkplug: %s", exc)
        # History first: a backlog closes its tags' compression segments before the current values that follow it
        # in time are compared with anything (_store_historical).
        self._store_historical(batch)
        for device_pk in list(batch.current):
            self._store_current(device_pk, batch)
        c = batch.counts
        return FlushOutcome(
            messages=c["messages"],
            stored=c["stored"],
            historical=c["historical"],
            rebirths=c["rebirths"],
            discovered=c["discovered"],
            deaths=c["deaths"],
            rejected=c["rejected"],
        )

    def _message(self, broker: _Broker, topic: Topic, payload: Payload, received_at: datetime, batch: _Batch) -> None:
        kind = topic.message_type
        if kind in COMMAND_MESSAGES:
            return  # commands: checked by _command, never stored
        node = broker.nodes.setdefault(topic.node, NodeState())
        if kind == "NBIRTH":
            self._node_birth(broker, topic, node, payload, batch)
        elif kind == "NDEATH":
            self._node_death(broker, topic, node, payload, received_at, batch)
            return
        else:
            self._in_sequence(broker, topic, node, payload, batch)  # a gap asks for a rebirth; values still count
        if kind == "DBIRTH":
            self._device_birth(broker, topic, node, payload, batch)
        elif kind == "DDEATH":
            device = broker.devices.get((*topic.node, topic.device_id))
            if device is not None:
                self._link_lost([device], f"DDEATH from {topic}", payload.timestamp or received_at, batch)
            node.baseline_known.discard(topic.device_id)  # its next birth is a new appearance
            node.unknown_reported.discard(topic.device_id)
            return
        self._baseline_check(broker, topic, node, payload, received_at)
        self._collect(broker, topic, node, payload, received_at, batch)

    def _in_sequence(self, broker: _Broker, topic: Topic, node: NodeState, payload: Payload, batch: _Batch) -> bool:
        """Check the message's sequence number; a gap (or a node we hold no birth of) asks for a rebirth."""
        expected = None if node.seq is None else (node.seq + 1) % 256
        if payload.seq is not None:
            node.seq = payload.seq
        if node.online and expected is not None and payload.seq == expected:
            return True
        if not node.online or expected is None:
            reason = "no birth seen from this node"
        else:
            reason = f"sequence number {payload.seq} where {expected} was due"
        if self._request_rebirth(broker, topic.node, node):
            batch.counts["rebirths"] += 1
            logger.info("Sparkplug: %s: %s, rebirth requested", topic, reason)
        return False

    def _request_rebirth(self, broker: _Broker, node_key: NodeKey, node: NodeState, *, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - node.rebirth_requested_at < self.rebirth_seconds:
            return False
        group_id, edge_node_id = node_key
        topic, request = str(Topic(group_id, "NCMD", edge_node_id)), rebirth_request()
        sent = broker.session.publish(topic, request, qos=0)
        if sent:
            node.rebirth_requested_at = now
            broker.sent_commands.append((topic, request, now))
        return sent

    def _node_birth(self, broker: _Broker, topic: Topic, node: NodeState, payload: Payload, batch: _Batch) -> None:
        bd_seq = next((m.value for m in payload.metrics if m.name == BD_SEQ), None)
        node.bd_seq = int(bd_seq) if isinstance(bd_seq, int | float) else None
        node.seq = payload.seq
        node.online = True
        node.aliases = {}  # a new session: the devices' births follow, with their aliases
        node.metrics = {}
        self._learn_aliases(node, "", payload.metrics)
        self._discover(broker, topic, payload, batch)

    def _device_birth(self, broker: _Broker, topic: Topic, node: NodeState, payload: Payload, batch: _Batch) -> None:
        self._learn_aliases(node, topic.device_id, payload.metrics)
        self._discover(broker, topic, payload, batch)

    @staticmethod
    def _learn_aliases(node: NodeState, device_id: str, metrics: Iterable[Metric]) -> None:
        for metric in metrics:
            if metric.name and metric.alias is not None:
                node.aliases[metric.alias] = metric.name
            if metric.name:
                node.metrics[(device_id, metric.name)] = (metric.alias, metric.datatype)

    # -- writing -------------------------------------------------------------------------------------------

    def command(self, device: Device, point: PointRequest, value: WriteValue, *, timeout: float = 5.0) -> WriteOutcome:
        """Write metric `point.address` of `device` (an edge node, or a device behind one) through an NCMD / DCMD
        and wait up to `timeout` seconds for the edge node to publish it back; never raises. Thread-safe: called
        from outside the runner's thread (the runner keeps storing meanwhile)."""
        started = time.monotonic()

        def outcome(status: WriteStatus, **kwargs: object) -> WriteOutcome:
            return WriteOutcome(status, value, seconds=time.monotonic() - started, **kwargs)  # type: ignore[arg-type]

        settings = broker_settings(device)
        broker = self._brokers.get(settings)
        group_id, edge_node_id, device_id = _device_key(device)
        target = "/".join(p for p in (group_id, edge_node_id, device_id, point.address) if p)
        if broker is None or not broker.session.connected:
            return outcome(WriteStatus.FAILED, error=f"{target}: no connection to the broker {settings}")
        node = broker.nodes.get((group_id, edge_node_id))
        known = node.metrics.get((device_id, point.address)) if node is not None else None
        if node is None or not node.online or known is None:
            return outcome(
                WriteStatus.FAILED, error=f"{target}: no birth seen announcing this metric, so its datatype is unknown"
            )
        alias, datatype = known
        try:
            sent = command_value(datatype, raw_from_engineering(point, value), metric=target)
        except WriteRefused as exc:
            return outcome(WriteStatus.FAILED, error=str(exc))
        topic = str(Topic(group_id, "DCMD" if device_id else "NCMD", edge_node_id, device_id))
        data = command_payload(name=point.address, alias=alias, datatype=datatype, value=sent)
        echo = _Echo(settings, (group_id, edge_node_id, device_id), point.address, alias, datatype, sent)
        with self._echo_lock:
            self._echoes.append(echo)
        try:
            broker.sent_commands.append((topic, data, time.monotonic()))  # its echo on the command topic is ours
            if not broker.session.publish(topic, data, qos=1):
                return outcome(WriteStatus.FAILED, written=sent, error=f"{target}: the broker link dropped")
            echo.done.wait(max(0.0, started + timeout - time.monotonic()))
        finally:
            with self._echo_lock:
                self._echoes.remove(echo)
        if echo.matched:
            return outcome(
                WriteStatus.CONFIRMED,
                written=sent,
                sent=True,
                read_back=engineering_from_raw(point, sent),
                read_back_raw=sent,
            )
        if echo.seen:
            got = echo.seen[-1]
            read_back = engineering_from_raw(point, got) if isinstance(got, int | float | str) else None
            return outcome(
                WriteStatus.MISMATCHED,
                written=sent,
                sent=True,
                read_back=read_back,
                read_back_raw=got,
                error=f"{target}: sent {sent!r}, the edge node published {got!r}",
            )
        return outcome(
            WriteStatus.FAILED,
            written=sent,
            sent=True,
            error=f"{target}: the edge node did not publish the metric within {timeout:g} s",
        )

    def _echo_check(self, settings: BrokerSettings, topic: str, data: bytes) -> None:
        """In the MQTT thread: a data message or birth carrying a metric a command waits for settles it."""
        try:
            parsed = topic_parse(topic)
        except SparkplugError:
            return
        if parsed.message_type not in ("NDATA", "DDATA", "NBIRTH", "DBIRTH"):
            return
        with self._echo_lock:
            waiting = [
                e
                for e in self._echoes
                if e.settings == settings and e.topic_prefix == (parsed.group_id, parsed.edge_node_id, parsed.device_id)
            ]
        if not waiting:
            return
        try:
            payload = payload_decode(data)
        except SparkplugError:
            return
        broker = self._brokers.get(settings)
        node = broker.nodes.get(parsed.node) if broker is not None else None
        aliases = dict(node.aliases) if node is not None else {}
        for echo in waiting:
            found, got = echo_value(payload, name=echo.name, alias=echo.alias, aliases=aliases)
            if not found:
                continue
            echo.seen.append(got)
            if same_value(echo.datatype, echo.sent, got):
                echo.matched = True
                echo.done.set()

    def _node_death(
        self, broker: _Broker, topic: Topic, node: NodeState, payload: Payload, received_at: datetime, batch: _Batch
    ) -> None:
        bd_seq = next((m.value for m in payload.metrics if m.name == BD_SEQ), None)
        if node.bd_seq is not None and bd_seq is not None and int(bd_seq) != node.bd_seq:
            logger.info("Sparkplug: %s with bdSeq %s ignored: the node's session is %s", topic, bd_seq, node.bd_seq)
            return
        node.online = False
        node.seq = None
        node.baseline_known.clear()  # its next birth is a new appearance
        node.unknown_reported.clear()
        devices = [d for key, d in broker.devices.items() if key[:2] == topic.node]
        batch.counts["deaths"] += 1
        self._link_lost(devices, f"NDEATH from {topic}", received_at, batch)

    def _link(self, broker: _Broker, ok: bool, reason: str, at: datetime, *, batch: _Batch) -> None:
        if ok:
            for device in broker.broker_devices:
                self._safely(device_record_success, context=self.context, device=device, read_at=at)
            for node_key, node in broker.nodes.items():  # the births tell every node's state afresh
                if self._request_rebirth(broker, node_key, node, force=True):
                    batch.counts["rebirths"] += 1
            return
        for node in broker.nodes.values():
            node.online = False
            node.seq = None
        self._link_lost([*broker.broker_devices, *broker.devices.values()], reason, at, batch)

    def _link_lost(self, devices: Sequence[Device], reason: str, at: datetime, batch: _Batch) -> None:
        self._store_historical(batch)  # what arrived before the death comes first
        for device in devices:
            if not device.enabled:
                continue
            self._store_current(device.pk, batch)
            tags = self._tags.get(device.pk, {})
            try:
                batch.counts["stored"] += device_link_lost(
                    context=self.context, device=device, tags=tags, error=reason, failed_at=at
                ).stored
            except DATABASE_DOWN_ERRORS:
                database_connection_reset()

    def _collect(
        self, broker: _Broker, topic: Topic, node: NodeState, payload: Payload, received_at: datetime, batch: _Batch
    ) -> None:
        device = broker.devices.get((*topic.node, topic.device_id))
        unresolved = 0
        if device is None or not device.enabled:
            return
        by_name = self._tag_by_metric.get(device.pk, {})
        for metric in payload.metrics:
            name = metric.name
            if not name and metric.alias is not None:
                name = node.aliases.get(metric.alias, "")
            if not name:
                unresolved += 1
                continue
            tag = by_name.get(name)
            if tag is None or metric.is_transient or is_control_metric(name):
                continue
            at = metric.timestamp or payload.timestamp or received_at
            reading = _reading(tag, metric)
            if metric.is_historical:
                batch.historical.append(_historical_row(at, tag, reading))
            else:
                batch.current[device.pk].append((at, reading))
        if unresolved and self._request_rebirth(broker, topic.node, node):
            batch.counts["rebirths"] += 1
            logger.info("Sparkplug: %s: %d metrics with unknown aliases, rebirth requested", topic, unresolved)

    # -- the communication baseline ------------------------------------------------------------------------

    def _baseline_check(
        self, broker: _Broker, topic: Topic, node: NodeState, payload: Payload, received_at: datetime
    ) -> None:
        """Report a node, or a device of a known node, outside the baseline: once per appearance."""
        if "" in node.unknown_reported:
            return  # an unknown node: its devices are part of what was reported
        for device_id in ("", topic.device_id) if topic.device_id else ("",):
            if device_id in node.baseline_known or device_id in node.unknown_reported:
                continue
            known = self._in_baseline(broker, topic.group_id, topic.edge_node_id, device_id)
            if known is None:
                return  # the database is away: ask again at the next message
            if known:
                node.baseline_known.add(device_id)
                continue
            node.unknown_reported.add(device_id)
            self._report_unknown(broker, topic, device_id, payload, received_at)
            return

    @staticmethod
    def _in_baseline(broker: _Broker, group_id: str, edge_node_id: str, device_id: str) -> bool | None:
        """Configured (a device of the node counts for the node), or accepted by an administrator; None: unknown
        for now (the database is away)."""
        if device_id:
            device = broker.devices.get((group_id, edge_node_id, device_id))
            configured = device is not None and not device.discovered
        else:
            configured = any(
                key[:2] == (group_id, edge_node_id) and not device.discovered for key, device in broker.devices.items()
            )
        if configured:
            return True
        try:
            return sparkplug_baseline_accepted(group_id=group_id, edge_node_id=edge_node_id, device_id=device_id)
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            return None

    def _report_unknown(
        self, broker: _Broker, topic: Topic, device_id: str, payload: Payload, received_at: datetime
    ) -> None:
        key = "/".join(part for part in (topic.group_id, topic.edge_node_id, device_id) if part)
        what = f"device {device_id!r} of edge node {topic.edge_node_id!r}" if device_id else "edge node"
        if not device_id and topic.device_id:
            what = f"edge node (first heard through its device {topic.device_id!r})"
        metrics = sorted({m.name for m in payload.metrics if m.name and not is_control_metric(m.name)})
        device = broker.devices.get((topic.group_id, topic.edge_node_id, device_id))
        try:
            asset_id = asset_id_find(protocol=AssetProtocol.SPARKPLUG, key=key)
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            asset_id = None
        event = SecurityEvent(
            kind=SecurityEventKind.UNKNOWN_EDGE_DEVICE if device_id else SecurityEventKind.UNKNOWN_EDGE_NODE,
            subject=f"sparkplug:{key}",
            message=f"Unknown Sparkplug {what} {key} publishes on {broker.settings}: it is neither configured nor "
            "accepted into the baseline",
            at=received_at,
            evidence={
                "group": topic.group_id,
                "edge_node": topic.edge_node_id,
                "device": device_id or topic.device_id,
                "broker": str(broker.settings),
                "publisher_address": None,  # MQTT does not tell a subscriber who published
                "message_type": topic.message_type,
                "topic": str(topic),
                "metrics": metrics[:200],
                "metric_count": len(payload.metrics),
                "first_seen": received_at.isoformat(),
            },
            asset_id=asset_id,
            device_id=device.pk if device is not None else None,
        )
        security_report(event)

    def _command(self, broker: _Broker, topic: Topic, data: bytes, received_at: datetime) -> None:
        """A command on a topic of the groups we listen to: ours (a rebirth request we sent) or unexpected."""
        now = time.monotonic()
        sent = broker.sent_commands
        while sent and now - sent[0][2] > OWN_COMMAND_SECONDS:
            sent.popleft()
        for entry in sent:
            if entry[0] == str(topic) and entry[1] == data:
                sent.remove(entry)
                return
        subject = f"sparkplug-command:{'/'.join(p for p in (topic.group_id, topic.edge_node_id, topic.device_id) if p)}"
        last, suppressed = broker.commands_reported.get(subject, (-math.inf, 0))
        if now - last < self.command_report_seconds:
            broker.commands_reported[subject] = (last, suppressed + 1)
            return
        broker.commands_reported[subject] = (now, 0)
        evidence: dict[str, object] = {
            "topic": str(topic),
            "group": topic.group_id,
            "edge_node": topic.edge_node_id,
            "device": topic.device_id,
            "broker": str(broker.settings),
            "publisher_address": None,  # MQTT does not tell a subscriber who published
            "received_at": received_at.isoformat(),
            "payload_bytes": len(data),
            "earlier_commands_not_reported": suppressed,
        }
        try:
            payload = payload_decode(data)
        except SparkplugError as exc:
            evidence["metrics"] = []
            evidence["payload_error"] = str(exc)
            described = "a payload that is not Sparkplug B"
        else:
            evidence["seq"] = payload.seq
            evidence["metrics"] = [
                {"name": m.name or f"alias {m.alias}", "value": _evidence_value(m.value)} for m in payload.metrics[:100]
            ]
            described = ", ".join(f"{m['name']} = {m['value']!r}" for m in evidence["metrics"][:5]) or "no metrics"  # type: ignore[index]
        target = broker.devices.get((topic.group_id, topic.edge_node_id, topic.device_id))
        event = SecurityEvent(
            kind=SecurityEventKind.UNEXPECTED_COMMAND,
            subject=subject,
            message=f"Unexpected Sparkplug command on {topic} ({described}): Millwright did not send it",
            at=received_at,
            evidence=evidence,
            device_id=target.pk if target is not None else None,
        )
        security_report(event)

    # -- storing -------------------------------------------------------------------------------------------

    def _store_current(self, device_pk: int, batch: _Batch) -> None:
        readings = batch.current.pop(device_pk, [])
        tags = self._tags.get(device_pk)
        device = self._devices.get(device_pk)
        if not readings or not tags or device is None:
            return
        # A current value no newer than history stored for its tag in this flush (a birth's last value, sent
        # before a backlog it is older than) is history too: through the filter it would stand for the last value.
        received_until = max(at for at, _ in readings)
        newest = batch.historical_newest
        on_time: list[tuple[datetime, PointReading]] = []
        late: list[tuple[datetime, PointReading]] = []
        for at, reading in readings:
            (late if reading.tag_id in newest and at <= newest[reading.tag_id] else on_time).append((at, reading))
        if late:
            self._history_store(batch, [_historical_row(at, tags[r.tag_id], r) for at, r in late if r.tag_id in tags])
        readings = on_time
        by_time: dict[datetime, dict[int, PointReading]] = defaultdict(dict)
        for at, reading in readings:
            by_time[at][reading.tag_id] = reading  # the last value of a tag at one moment wins
        try:
            for at in sorted(by_time):
                outcome = readings_store(
                    context=self.context, device=device, tags=tags, readings=list(by_time[at].values()), read_at=at
                )
                batch.counts["stored"] += outcome.stored
            device_record_success(context=self.context, device=device, read_at=received_until)
        except DATABASE_DOWN_ERRORS:  # readings_store buffers history itself; this is the status update
            database_connection_reset()

    def _store_historical(self, batch: _Batch) -> None:
        """The historical rows the flush collected (taken out of the batch: stored once)."""
        rows, batch.historical = batch.historical, []
        self._history_store(batch, rows)

    def _history_store(self, batch: _Batch, rows: list[SampleRow | TextSampleRow]) -> None:
        if not rows:
            return
        for row in rows:
            newest = batch.historical_newest.get(row.tag_id)
            batch.historical_newest[row.tag_id] = row.time if newest is None else max(newest, row.time)
        unique = list({(r.tag_id, r.time): r for r in rows}.values())
        # History arrived behind what the compression filter last stored (a backlog after an outage, possibly newer
        # than that): its "last stored value" no longer is, and a current value equal to it but not to the history
        # before it would be taken for no change and lost. Close those tags' segments; the next value is stored.
        by_id = {tag_id: tag for tags in self._tags.values() for tag_id, tag in tags.items()}
        compression_flush(context=self.context, tags={r.tag_id: by_id[r.tag_id] for r in unique if r.tag_id in by_id})
        self.context.text_memory.forget({r.tag_id for r in unique if is_text_row(r)})
        numeric = [r for r in unique if not is_text_row(r)]
        text = [r for r in unique if is_text_row(r)]  # string tags: their own table
        try:
            samples_write_batch(rows=numeric, idempotent=True, current_values=False)
            text_samples_write_batch(rows=text, current_values=False)
        except DATABASE_DOWN_ERRORS as exc:
            database_connection_reset()
            buffer = local_buffer()
            buffer.append(numeric)
            buffer.append(text)
            logger.warning("database unavailable (%s): %d historical samples buffered on disk", exc, len(unique))
            buffer_status_publish(buffer=buffer)
            counter_add(INGEST_VALUES, len(unique), outcome="buffered")
        else:
            counter_add(INGEST_VALUES, len(unique), outcome="stored")
        batch.counts["historical"] += len(unique)
        batch.counts["stored"] += len(unique)

    @staticmethod
    def _safely(func, **kwargs) -> None:
        try:
            func(**kwargs)
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()

    # -- discovery -----------------------------------------------------------------------------------------

    def _discover(self, broker: _Broker, topic: Topic, payload: Payload, batch: _Batch) -> None:
        key: DeviceKey = (*topic.node, topic.device_id)
        try:
            device, created = sparkplug_device_discover(
                broker=broker.settings, key=key, known=broker.devices.get(key), metrics=payload.metrics
            )
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            logger.warning("database unavailable: the birth of %s is not recorded", topic)
            return
        if created:
            batch.counts["discovered"] += 1
            logger.info("Sparkplug: discovered %s (disabled until an administrator enables it)", device)
        broker.devices[key] = device
        self._devices[device.pk] = device
        self._safely(
            asset_observe,
            protocol=Protocol.SPARKPLUG,
            key="/".join(part for part in key if part),
            observed_at=payload.timestamp or timezone.now(),
            device_id=device.pk,
            name=device.name,
            addresses=[str(broker.settings)],
            identity=birth_identity(payload.metrics),
        )


#: Longest list of birth metric names kept in the inventory (a change to it is a change of the edge program).
BIRTH_METRICS_MAX_CHARS = 4000


def birth_identity(metrics: Iterable[Metric]) -> dict[str, str]:
    """What a birth says about its sender: its "Properties/..." metrics (make, model, OS, firmware, as the
    Sparkplug specification suggests) and the names of the metrics it publishes."""
    identity: dict[str, str] = {}
    names: list[str] = []
    for metric in metrics:
        if metric.name.startswith("Properties/"):
            if metric.value is not None and not metric.is_null:
                identity[metric.name.removeprefix("Properties/")[:100]] = str(metric.value)[:200]
        elif metric.name and not is_control_metric(metric.name):
            names.append(metric.name)
    identity["Birth metrics"] = ", ".join(sorted(names))[:BIRTH_METRICS_MAX_CHARS]
    return identity


def _evidence_value(value: object) -> object:
    """A metric value as evidence can hold it (JSON): bytes as hex."""
    if isinstance(value, bytes):
        return value.hex()[:200]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _reading(tag: Tag, metric: Metric) -> PointReading:
    value = metric.value
    if metric.is_null or value is None:
        # A bad value without a value: the edge node's Quality says which (an edge Millwright sends its own).
        quality = metric.quality if metric.quality is not None and quality_is_bad(metric.quality) else Quality.BAD
        return PointReading(tag.pk, None, quality, "null value")
    if tag.is_text:
        return _text_reading(tag, metric)
    if isinstance(value, str | bytes):
        return PointReading(tag.pk, None, Quality.BAD_CONFIG_ERROR, f"{tag.address}: not a number")
    number = float(value) * tag.scale + tag.offset
    quality = metric.quality if metric.quality is not None else Quality.GOOD
    if quality_is_bad(quality):
        return PointReading(tag.pk, None, quality, "bad quality from the edge node")
    return PointReading(tag.pk, number, quality)


def _historical_row(at: datetime, tag: Tag, reading: PointReading) -> SampleRow | TextSampleRow:
    """The row of a historical metric: text for a string tag, a number otherwise (what `_reading` made of it)."""
    value = reading.value
    if tag.is_text:
        return TextSampleRow(at, tag.pk, value if isinstance(value, str) else None, reading.quality)
    return SampleRow(at, tag.pk, None if isinstance(value, str) else value, reading.quality)


def _text_reading(tag: Tag, metric: Metric) -> PointReading:
    """A string tag takes String / Text metrics as they are (scale and offset do not apply to text)."""
    if not isinstance(metric.value, str):
        return PointReading(tag.pk, None, Quality.BAD_CONFIG_ERROR, f"{tag.address}: not a string")
    quality = metric.quality if metric.quality is not None else Quality.GOOD
    if quality_is_bad(quality):
        return PointReading(tag.pk, None, quality, "bad quality from the edge node")
    return PointReading(tag.pk, metric.value, quality)
