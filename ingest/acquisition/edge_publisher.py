"""Millwright as a Sparkplug B 3.0 edge node: publish the selected tags' stored values to a central host.

One EdgePublisher per process (``manage.py run_edge_publisher``), for the enabled `EdgePublication`. Values come
from the outbox (ingest.pipeline.edge_outbox), which an after-store hook fills, so they go out in the order and with
the times and qualities the site stored them, whatever happened to this process or the broker meanwhile.

* One MQTT session at a time, each a new client (clean session) whose will is the NDEATH with that session's bdSeq;
  a lost session is dropped whole (its unacknowledged messages with it) and a new one made after a backoff, with
  the next bdSeq.
* The primary host application (`primary_host_id`): its STATE (``spBv1.0/STATE/<id>``, retained JSON
  ``{"online": bool, "timestamp": ms}``; an older timestamp than the last one seen is ignored) must say online
  before anything is published. When it goes offline publishing stops and the values wait; when it is back the
  node is born again.
* Births: NBIRTH (seq 0, bdSeq, ``Node Control/Rebirth``), then one DBIRTH per machine (the Sparkplug device id is
  the machine's name, with its line's in front where two machines share a name) with every published tag as a
  metric: its name, its alias (the tag's id, the same in every birth), its datatype (Boolean, the integer types of
  unscaled integer tags, Double otherwise: an engineering value is a double), the ``engUnit`` and ``Quality``
  properties, and the last value sent with its own timestamp (the central stores it once more, which its (tag,
  time) key makes a no-op), or null and transient where nothing was sent yet (nothing for a host to store).
* Data: DDATA per machine with the metrics by alias only, each with its own timestamp and ``Quality`` property,
  oldest first. A value stored before this session's births (it waited: broker away, host offline, publisher
  down) or older than the last one sent of its tag is flagged ``is_historical``. DDATA goes with QoS 1 (the
  specification's QoS 0 loses what a dropping link holds), and a value leaves the outbox only when the PUBACK of its
  message has come back: a kill -9 sends again what was unacknowledged, never loses it.
* A PUBACK is the broker's, not the host's: a broker that stops loses what it was forwarding, and a host whose link
  lapsed is announced offline (its will) only once the broker noticed, up to 1.5 of its keepalives later. So the
  values acknowledged in the last `resend_seconds` are kept (ingest.pipeline.edge_outbox), and when this node's
  session is lost or the host goes offline, those acknowledged from `resend_seconds` before that moment go again,
  as historical values, once the host is back; the central keeps one row per tag and time.
* NCMD ``Node Control/Rebirth``: births again. Other commands are logged and ignored (the site's tags are written
  on the site).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt

from historian.models import EdgePublication, Tag
from historian.sample_types import SampleRow, datetime_to_us, is_text_row
from ingest.acquisition.config_reload import ConfigReloads
from ingest.pipeline.device_status import reconnect_delay
from ingest.pipeline.edge_outbox import EdgeOutbox, edge_outbox
from ingest.protocols.sparkplug.codec import (
    BD_SEQ,
    NAMESPACE,
    REBIRTH,
    DataType,
    MetricOut,
    SparkplugError,
    Topic,
    payload_decode,
    payload_encode,
)

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 10
#: How far back values go again after this node's session or the host was lost: twice the 1.5 keepalives (of 10 s,
#: Millwright's host's) a broker may take to notice a host gone, for a margin.
RESEND_SECONDS = 30.0
#: tag data type -> Sparkplug datatype when the tag is not scaled (a scaled value is a double)
_INTEGER_TYPES: dict[str, int] = {
    "int16": DataType.INT16,
    "int32": DataType.INT32,
    "uint16": DataType.UINT16,
    "uint32": DataType.UINT32,
}
_FORBIDDEN = str.maketrans({"+": "_", "#": "_", "/": "_"})


def state_topic(host_id: str) -> str:
    return f"{NAMESPACE}/STATE/{host_id}"


def sparkplug_datatype(tag: Tag) -> int:
    if tag.data_type == "bool":
        return DataType.BOOLEAN
    if tag.data_type in _INTEGER_TYPES and tag.scale == 1.0 and tag.offset == 0.0:
        return _INTEGER_TYPES[tag.data_type]
    return DataType.DOUBLE


def _ms(t: datetime) -> int:
    """Sparkplug's milliseconds (a site time's microseconds are cut off)."""
    return datetime_to_us(t) // 1000


@dataclass(frozen=True)
class PublishedTag:
    tag_id: int
    name: str  # the metric name
    device_id: str  # the machine's Sparkplug device id
    datatype: int
    units: str

    def value(self, row: SampleRow) -> float | bool | None:
        if row.value is None or row.value != row.value:  # None or NaN: a bad quality without a value
            return None
        if self.datatype == DataType.BOOLEAN:
            return bool(row.value)
        if self.datatype in _INTEGER_TYPES.values():
            return int(row.value)
        return float(row.value)


@dataclass(frozen=True)
class PublicationConfig:
    publication: EdgePublication
    tags: dict[int, PublishedTag]  # by tag id (the alias)

    @property
    def session_key(self) -> tuple[str | int, ...]:
        """What a session is made of: a change of any of it makes a new session (and a new birth)."""
        p = self.publication
        return (p.pk, p.host, p.port, p.username, p.password, p.group_id, p.edge_node_id, p.primary_host_id)

    def devices(self) -> dict[str, list[PublishedTag]]:
        by_device: dict[str, list[PublishedTag]] = defaultdict(list)
        for tag in self.tags.values():
            by_device[tag.device_id].append(tag)
        return dict(sorted(by_device.items()))


def publication_load() -> PublicationConfig | None:
    """The enabled publication and its tags (numeric, marked `edge_publish`); None when none is enabled."""
    publication = EdgePublication.objects.filter(enabled=True).first()
    if publication is None:
        return None
    tags = list(
        Tag.objects.filter(edge_publish=True)
        .exclude(data_type="string")
        .select_related("machine__line")
        .order_by("machine__line__name", "machine__name", "name", "pk")
    )
    names: dict[str, set[int]] = defaultdict(set)
    for tag in tags:
        names[tag.machine.name].add(tag.machine.line_id)
    published: dict[int, PublishedTag] = {}
    taken: set[tuple[str, str]] = set()
    for tag in tags:
        machine = tag.machine
        device_id = machine.name if len(names[machine.name]) == 1 else f"{machine.line.name} {machine.name}"
        metric = tag.name if (device_id, tag.name) not in taken else tag.path  # two tags of one name: the path
        taken.add((device_id, metric))
        published[tag.pk] = PublishedTag(
            tag.pk, metric, device_id.translate(_FORBIDDEN), sparkplug_datatype(tag), tag.units
        )
    return PublicationConfig(publication, published)


@dataclass
class _Session:
    """One MQTT connection; what its callbacks saw (set in paho's thread, read in the publisher's)."""

    client: mqtt.Client
    bd_seq: int
    connected: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    reason: str = ""


@dataclass(frozen=True)
class StepOutcome:
    births: int = 0
    sent: int = 0  # values acknowledged by the broker
    historical: int = 0


class EdgePublisher:
    def __init__(
        self,
        *,
        flush_seconds: float = 0.2,
        reload_seconds: float = 30.0,
        batch_rows: int = 500,
        ack_timeout: float = 10.0,
        resend_seconds: float = RESEND_SECONDS,
        outbox: EdgeOutbox | None = None,
        client_id: str | None = None,
    ) -> None:
        self.flush_seconds = flush_seconds
        self.resend_seconds = resend_seconds
        self.reload_seconds = reload_seconds
        self.batch_rows = batch_rows
        self.ack_timeout = ack_timeout
        self.outbox = outbox or edge_outbox()
        self.client_id = client_id or f"millwright-edge-{socket.gethostname()}-{os.getpid()}"
        self.config: PublicationConfig | None = None
        self._reloads = ConfigReloads(what="edge publication")
        self._session: _Session | None = None
        self._bd_seq = -1
        self._seq = 0
        self._failures = 0
        self._retry_at = 0.0
        self._wake = threading.Event()
        self._lock = threading.Lock()  # guards the flags below, set from paho's thread
        self._host_online = False
        self._host_timestamp = -1
        self._rebirth = False
        # When this session or the host was first lost, not yet resent; a start counts (a process that was killed
        # cannot say what its broker still held).
        self._lost_at: datetime | None = datetime.now(UTC)
        self.resent = 0
        #: wall-clock instant of this session's births: a value stored before it waited and is historical
        self.online_since: datetime | None = None
        self.births_published = 0

    # -- lifecycle -----------------------------------------------------------------------------------------

    def run(self, *, stop: threading.Event) -> None:
        """Publish until `stop` is set (SIGTERM); then an NDEATH and a clean disconnect."""
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception:  # the database away (a reload), the disk full: log, wait, go on
                    logger.exception("edge publisher step failed")
                self._wake.wait(self.flush_seconds)
                self._wake.clear()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        if session.connected.is_set():
            info = session.client.publish(self._topic("NDEATH"), self._death(session.bd_seq), qos=1)
            self._wait_acked([info], timeout=5.0)
            session.client.disconnect()
        session.client.loop_stop()

    # -- configuration and session -------------------------------------------------------------------------

    def _reload(self) -> None:
        config = publication_load()
        old = self.config
        self.config = config
        if old is not None and (config is None or config.session_key != old.session_key):
            self._drop_session("the publication changed")
        elif old is not None and config is not None and config.tags != old.tags:
            with self._lock:
                self._rebirth = True  # new metrics: a birth announces them

    def _topic(self, message_type: str, device_id: str = "") -> str:
        assert self.config is not None
        p = self.config.publication
        return str(Topic(p.group_id, message_type, p.edge_node_id, device_id))

    @staticmethod
    def _death(bd_seq: int) -> bytes:
        return payload_encode(metrics=[MetricOut(BD_SEQ, bd_seq, DataType.INT64)], seq=None)

    def _connect(self) -> None:
        assert self.config is not None
        p = self.config.publication
        self._bd_seq = (self._bd_seq + 1) % 256
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True)
        if p.username:
            client.username_pw_set(p.username, p.password or None)
        client.will_set(self._topic("NDEATH"), self._death(self._bd_seq), qos=1)
        session = _Session(client, self._bd_seq)
        host_id = p.primary_host_id
        with self._lock:
            self._host_online = not host_id
            self._host_timestamp = -1
            self._rebirth = False

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            if reason_code.is_failure:
                session.reason = f"the broker refused the connection: {reason_code}"
                session.lost.set()
                return
            client.subscribe(self._topic("NCMD"), qos=1)
            if host_id:
                client.subscribe(state_topic(host_id), qos=1)
            session.connected.set()
            self._wake.set()

        def on_disconnect(client, userdata, flags, reason_code, properties) -> None:
            session.reason = session.reason or f"disconnected ({reason_code})"
            session.lost.set()
            self._wake.set()

        def on_message(client, userdata, message: mqtt.MQTTMessage) -> None:
            self._on_message(message.topic, bytes(message.payload))

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        self._session = session
        self.online_since = None
        try:
            client.connect(p.host, p.port, keepalive=KEEPALIVE_SECONDS)
        except (OSError, ValueError) as exc:
            self._drop_session(f"cannot connect to mqtt://{p.host}:{p.port}: {exc}")
            return
        client.loop_start()

    def _lost(self) -> None:
        """This session or the host was lost now: what was acknowledged shortly before goes again (`step`)."""
        with self._lock:
            self._lost_at = self._lost_at or datetime.now(UTC)

    def _drop_session(self, reason: str) -> None:
        session, self._session = self._session, None
        self.online_since = None
        if session is None:
            return
        self._lost()
        self._failures = 1 if session.connected.is_set() else self._failures + 1
        self._retry_at = time.monotonic() + reconnect_delay(self._failures, maximum=5.0)
        logger.warning("edge publisher: %s; reconnecting", session.reason or reason)
        session.client.disconnect()
        session.client.loop_stop()

    def _on_message(self, topic: str, payload: bytes) -> None:
        """STATE of the primary host, or a command to this node (paho's thread: flags only)."""
        if "/STATE/" in topic:
            try:
                state = json.loads(payload)
                online, stamp = bool(state["online"]), int(state["timestamp"])
            except (ValueError, KeyError, TypeError):
                logger.warning("edge publisher: a STATE payload that is not Sparkplug 3.0 on %s: %r", topic, payload)
                return
            with self._lock:
                if stamp < self._host_timestamp:
                    return  # an older session of the host, delivered late
                self._host_timestamp = stamp
                if online and not self._host_online:
                    self._rebirth = True
                if self._host_online and not online:
                    self._lost_at = self._lost_at or datetime.now(UTC)
                self._host_online = online
            self._wake.set()
            return
        try:
            metrics = payload_decode(payload).metrics
        except SparkplugError:
            logger.warning("edge publisher: a command that is not Sparkplug B on %s", topic)
            return
        if any(m.name == REBIRTH and m.value for m in metrics):
            with self._lock:
                self._rebirth = True
            self._wake.set()
        else:
            logger.info("edge publisher: command on %s ignored (%d metrics)", topic, len(metrics))

    @property
    def host_online(self) -> bool:
        with self._lock:
            return self._host_online

    # -- one step ------------------------------------------------------------------------------------------

    def step(self) -> StepOutcome:
        """Reload when due; keep the session; when the host is online: births if due, then the outbox."""
        self._reloads.run_if_due(self._reload, seconds=self.reload_seconds)
        if self.config is None:
            return StepOutcome()
        session = self._session
        if session is not None and session.lost.is_set():
            self._drop_session(session.reason)
            session = None
        if session is None:
            if time.monotonic() >= self._retry_at:
                self._connect()
            return StepOutcome()
        if not session.connected.is_set():
            return StepOutcome()
        with self._lock:
            online, rebirth, lost_at = self._host_online, self._rebirth, self._lost_at
            self._rebirth, self._lost_at = False, None
        if lost_at is not None:
            again = self.outbox.resend_recent(since=lost_at - timedelta(seconds=self.resend_seconds))
            self.resent += again
            if again:
                logger.info("edge publisher: %d values acknowledged before the link or host was lost go again", again)
        if not online:
            self.online_since = None
            return StepOutcome()
        births = 0
        if self.online_since is None or rebirth:
            if not self._births(session):
                return StepOutcome()
            births = 1
        sent, historical = self._drain(session)
        return StepOutcome(births=births, sent=sent, historical=historical)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % 256
        return self._seq

    def _births(self, session: _Session) -> bool:
        assert self.config is not None
        born_at = datetime.now(UTC)
        last = self.outbox.last_sent()
        self._seq = 0
        node = [MetricOut(BD_SEQ, session.bd_seq, DataType.INT64), MetricOut(REBIRTH, False, DataType.BOOLEAN)]
        infos = [session.client.publish(self._topic("NBIRTH"), payload_encode(metrics=node, seq=0), qos=1)]
        for device_id, tags in self.config.devices().items():
            metrics = [self._birth_metric(tag, last.get(tag.tag_id)) for tag in tags]
            payload = payload_encode(metrics=metrics, seq=self._next_seq())
            infos.append(session.client.publish(self._topic("DBIRTH", device_id), payload, qos=1))
        if not self._wait_acked(infos, timeout=self.ack_timeout):
            session.reason = session.reason or "births not acknowledged"
            session.lost.set()
            return False
        self.online_since = born_at
        self.births_published += 1
        logger.info("edge publisher: born (bdSeq %d, %d devices)", session.bd_seq, len(infos) - 1)
        return True

    @staticmethod
    def _birth_metric(tag: PublishedTag, last: SampleRow | None) -> MetricOut:
        properties: tuple[tuple[str, int | str], ...] = (("engUnit", tag.units),) if tag.units else ()
        if last is None:
            return MetricOut(tag.name, None, tag.datatype, tag.tag_id, properties=properties, is_transient=True)
        return MetricOut(
            tag.name,
            tag.value(last),
            tag.datatype,
            tag.tag_id,
            timestamp_ms=_ms(last.time),
            properties=(*properties, ("Quality", int(last.quality))),
        )

    def _drain(self, session: _Session) -> tuple[int, int]:
        """Publish the outbox oldest first until it is empty or the link fails; returns (sent, historical)."""
        assert self.config is not None
        assert self.online_since is not None
        sent = historical = 0
        last_times = {tag_id: row.time for tag_id, row in self.outbox.last_sent().items()}
        while session.connected.is_set() and not session.lost.is_set():
            batch = self.outbox.peek(self.batch_rows)
            if not batch:
                break
            infos = []
            by_device: dict[str, list[MetricOut]] = defaultdict(list)
            for _, row in batch:
                tag = self.config.tags.get(row.tag_id)
                if tag is None or is_text_row(row):
                    continue  # no longer published (or text, never published): dropped with the batch
                late = row.time < self.online_since or row.time < last_times.get(row.tag_id, row.time)
                historical += late
                by_device[tag.device_id].append(
                    MetricOut(
                        value=tag.value(row),
                        datatype=tag.datatype,
                        alias=tag.tag_id,
                        timestamp_ms=_ms(row.time),
                        is_historical=late,
                        properties=(("Quality", int(row.quality)),),
                    )
                )
                last_times[row.tag_id] = max(row.time, last_times.get(row.tag_id, row.time))
            for device_id, metrics in by_device.items():
                payload = payload_encode(metrics=metrics, seq=self._next_seq())
                infos.append(session.client.publish(self._topic("DDATA", device_id), payload, qos=1))
            if not self._wait_acked(infos, timeout=self.ack_timeout):
                session.reason = session.reason or "data not acknowledged"
                session.lost.set()
                break
            self.outbox.acknowledged(
                [i for i, _ in batch],
                [row for _, row in batch if not is_text_row(row)],
                keep_seconds=self.resend_seconds,
            )
            sent += len(batch)
        return sent, historical

    @staticmethod
    def _wait_acked(infos: Sequence[mqtt.MQTTMessageInfo], *, timeout: float) -> bool:
        """Wait until the broker acknowledged every message (QoS 1 PUBACK); False when one was refused or late."""
        deadline = time.monotonic() + timeout
        for info in infos:
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return False
            while not info.is_published():
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.01)
        return True
