"""A Sparkplug B edge node over paho-mqtt: births with aliases, data by alias, deaths, rebirth on NCMD.

It behaves as the specification asks of an edge node: bdSeq in the will (NDEATH) and the NBIRTH, incremented with
every new MQTT connection; seq 0 on NBIRTH, one more (mod 256) for every later message; births again when a host
sends ``Node Control/Rebirth``. Used by the tests and by the demo simulator.

Commands that write a metric (NCMD for the node's own metrics, DCMD for a device's; by name or by alias) go to
`on_write(device_id, name, value)`, which returns the value the metric now holds (the default takes the value as
it is) or None to ignore the command; the node then publishes the held values in an NDATA / DDATA, the echo a host
waits for to confirm its write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import paho.mqtt.client as mqtt

from ingest.protocols.sparkplug.codec import (
    BD_SEQ,
    REBIRTH,
    DataType,
    MetricOut,
    Topic,
    payload_decode,
    payload_encode,
    topic_parse,
)

MetricValue = float | bool | str | None
OnWrite = Callable[[str, str, MetricValue], MetricValue]


class SparkplugEdgeNode:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        group_id: str,
        edge_node_id: str,
        node_metrics: Mapping[str, int],
        devices: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        """`node_metrics` and each of `devices`: metric name -> Sparkplug data type."""
        self.host, self.port = host, port
        self.group_id, self.edge_node_id = group_id, edge_node_id
        self.types: dict[str, dict[str, int]] = {"": dict(node_metrics)}
        for device_id, metrics in (devices or {}).items():
            self.types[device_id] = dict(metrics)
        self.aliases: dict[tuple[str, str], int] = {}
        for n, (device_id, name) in enumerate(((d, m) for d, ms in self.types.items() for m in ms), start=1):
            self.aliases[(device_id, name)] = n
        self.values: dict[tuple[str, str], MetricValue] = dict.fromkeys(self.aliases, 0)
        self.bd_seq = -1
        self.seq = 0
        self.rebirths_requested = 0
        self.rebirth_received = threading.Event()
        self.names: dict[tuple[str, int], str] = {(d, alias): name for (d, name), alias in self.aliases.items()}
        self.on_write: OnWrite = lambda _device_id, _name, value: value
        self.writes_received: list[tuple[str, str, MetricValue]] = []
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None

    def _topic(self, message_type: str, device_id: str = "") -> str:
        return str(Topic(self.group_id, message_type, self.edge_node_id, device_id))

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def _death(self) -> bytes:
        return payload_encode(metrics=[MetricOut(BD_SEQ, self.bd_seq, DataType.INT64)], seq=None)

    # -- connection --------------------------------------------------------------------------------------

    def connect(self, *, timeout: float = 10.0) -> None:
        """A new MQTT session: the next bdSeq goes into the will, births are published on every (re)connect."""
        self.bd_seq = (self.bd_seq + 1) % 256
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-{self.group_id}-{self.edge_node_id}-{time.time_ns()}"
        )
        client.will_set(self._topic("NDEATH"), self._death(), qos=1)
        client.reconnect_delay_set(0.2, 2)  # type: ignore[arg-type]  # paho annotates whole seconds; it waits a float
        connected = threading.Event()

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            client.subscribe(self._topic("NCMD"), qos=1)
            client.subscribe(self._topic("DCMD", "+"), qos=1)
            self.publish_births()
            connected.set()

        client.on_connect = on_connect
        client.on_message = self._on_command
        self._client = client
        client.connect(self.host, self.port, keepalive=10)
        client.loop_start()
        if not connected.wait(timeout):
            raise TimeoutError(f"edge node {self.edge_node_id}: no connection to {self.host}:{self.port}")

    def disconnect(self, *, send_death: bool = True) -> None:
        """Leave: an NDEATH first when `send_death` (a clean shutdown), then DISCONNECT (the will is dropped)."""
        if self._client is None:
            return
        if send_death:
            self._client.publish(self._topic("NDEATH"), self._death(), qos=1).wait_for_publish(5)
        self._client.disconnect()
        self._client.loop_stop()
        self._client = None

    def _on_command(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        payload = payload_decode(message.payload)
        device_id = topic_parse(message.topic).device_id
        if not device_id and any(m.name == REBIRTH and m.value for m in payload.metrics):
            self.rebirths_requested += 1
            self.publish_births()
            self.rebirth_received.set()
            return
        held: dict[str, MetricValue] = {}
        for metric in payload.metrics:
            name = metric.name or (self.names.get((device_id, metric.alias)) if metric.alias is not None else None)
            if name is None or name not in self.types.get(device_id, {}):
                continue
            value = metric.value if not isinstance(metric.value, bytes) else None
            self.writes_received.append((device_id, name, value))
            result = self.on_write(device_id, name, value)
            if result is not None:
                held[name] = result
        if held:
            self.publish_data(held, device_id=device_id)

    # -- messages ----------------------------------------------------------------------------------------

    def _publish(self, topic: str, data: bytes) -> None:
        assert self._client is not None, "connect() first"
        # Not waiting for the send: births go out from paho's own thread too (on connect, on NCMD), which must not
        # block on itself. One client's messages reach the broker in the order published.
        self._client.publish(topic, data, qos=0)

    def publish_births(self) -> None:
        """NBIRTH (seq 0, bdSeq, every node metric by name and alias), then a DBIRTH per device."""
        with self._lock:
            self.seq = 0
            node = [MetricOut(BD_SEQ, self.bd_seq, DataType.INT64)]
            node += [self._metric("", name, full=True) for name in self.types[""]]
            self._publish(self._topic("NBIRTH"), payload_encode(metrics=node, seq=0))
            for device_id, names in self.types.items():
                if device_id:
                    metrics = [self._metric(device_id, name, full=True) for name in names]
                    self._publish(
                        self._topic("DBIRTH", device_id), payload_encode(metrics=metrics, seq=self._next_seq())
                    )

    def _metric(self, device_id: str, name: str, *, full: bool, **kwargs) -> MetricOut:
        value = kwargs.pop("value", self.values[(device_id, name)])
        return MetricOut(
            name=name if full else "",
            value=value,
            datatype=self.types[device_id][name],
            alias=self.aliases[(device_id, name)],
            **kwargs,
        )

    def publish_data(
        self,
        values: Mapping[str, MetricValue],
        *,
        device_id: str = "",
        timestamp_ms: int | None = None,
        historical: bool = False,
        seq: int | None = None,
    ) -> int:
        """NDATA (no `device_id`) or DDATA with the metrics by alias only; returns the seq used.

        `historical` flags every metric is_historical (values from the past, stamped `timestamp_ms`) and leaves
        the node's current values alone. `seq` overrides the sequence number (a test making a gap).
        """
        with self._lock:
            if not historical:
                for name, value in values.items():
                    self.values[(device_id, name)] = value
            metrics = [
                self._metric(
                    device_id, name, full=False, value=value, timestamp_ms=timestamp_ms, is_historical=historical
                )
                for name, value in values.items()
            ]
            if seq is None:
                seq = self._next_seq()
            else:
                self.seq = seq
            kind = "DDATA" if device_id else "NDATA"
            self._publish(
                self._topic(kind, device_id), payload_encode(metrics=metrics, seq=seq, timestamp_ms=timestamp_ms)
            )
            return seq

    def publish_node_death(self, *, bd_seq: int) -> None:
        """An NDEATH as the broker would deliver a will; with another bdSeq than ours it stands for an old session."""
        self._publish(
            self._topic("NDEATH"), payload_encode(metrics=[MetricOut(BD_SEQ, bd_seq, DataType.INT64)], seq=None)
        )

    def publish_device_death(self, device_id: str) -> None:
        with self._lock:
            self._publish(self._topic("DDEATH", device_id), payload_encode(metrics=[], seq=self._next_seq()))
