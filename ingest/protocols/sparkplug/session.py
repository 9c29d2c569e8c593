"""One MQTT connection of a Sparkplug host application, kept up in a thread of its own (paho-mqtt 2).

The thread connects, subscribes (again after every reconnect: the session is clean, the broker forgets us), and
hands every message and every change of the link to callbacks, which must be quick (the runner queues them).
With a `host_id` the session is a Sparkplug 3.0 primary host application's: every connection's will is its STATE
``{"online": false, "timestamp": t}`` (retained, QoS 1) and, once connected, it publishes ``{"online": true,
"timestamp": t}`` with the same t; a clean stop publishes offline first. Edge nodes publish only while it is online.

A lost or refused connection is retried after `backoff(failures)` seconds: exponential with jitter
(ingest.pipeline.device_status.reconnect_delay), so a plant's hosts do not hammer a recovering broker in lockstep.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

logger = logging.getLogger(__name__)

#: seconds without traffic after which the client pings, and after 1.5x of which it gives the broker up
KEEPALIVE_SECONDS = 10


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str
    port: int = 1883
    username: str = ""
    password: str = ""

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


OnMessage = Callable[[str, bytes, datetime], None]
OnLink = Callable[[bool, str, datetime], None]


class MqttSession:
    def __init__(
        self,
        broker: BrokerSettings,
        *,
        client_id: str,
        subscriptions: Sequence[str],
        on_message: OnMessage,
        on_link: OnLink,
        backoff: Callable[[int], float],
        connect_timeout: float = 5.0,
        host_id: str = "",
    ) -> None:
        self.broker = broker
        self.host_id = host_id
        self._state_timestamp = 0
        self.subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_link = on_link
        self._backoff = backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._refused = ""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if broker.username:
            client.username_pw_set(broker.username, broker.password or None)
        client.connect_timeout = connect_timeout
        client.on_connect = self._handle_connect
        client.on_message = self._handle_message
        self._client = client

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"sparkplug {self.broker}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def publish(self, topic: str, payload: bytes, *, qos: int = 0) -> bool:
        """Queue `payload` for the broker; False when the link is down (the message is not sent)."""
        if not self.connected:
            return False
        return self._client.publish(topic, payload, qos=qos).rc == mqtt.MQTT_ERR_SUCCESS

    def _state(self, *, online: bool) -> tuple[str, bytes]:
        return (
            f"spBv1.0/STATE/{self.host_id}",
            json.dumps({"online": online, "timestamp": self._state_timestamp}).encode(),
        )

    # -- the connection thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            reason = self._session()
            if self._stop.is_set():
                break
            failures = 1 if self._connected.is_set() else failures + 1
            self._connected.clear()
            self._on_link(False, f"{self.broker}: {reason}", datetime.now(UTC))
            self._stop.wait(self._backoff(failures))

    def _session(self) -> str:
        """Connect and serve the connection until it drops or stop() is called; returns why it ended."""
        self._refused = ""
        if self.host_id:
            self._state_timestamp = max(self._state_timestamp + 1, int(time.time() * 1000))
            topic, offline = self._state(online=False)
            self._client.will_set(topic, offline, qos=1, retain=True)
        try:
            self._client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_SECONDS)
        except (OSError, ValueError) as exc:
            return f"cannot connect: {exc}"
        try:
            while not self._stop.is_set():
                rc = self._client.loop(timeout=0.2)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    return self._refused or f"connection lost ({mqtt.error_string(rc)})"
                if self._refused:
                    return self._refused
            return "stopped"
        finally:
            if self._stop.is_set() and self._client.is_connected():
                if self.host_id:
                    topic, offline = self._state(online=False)
                    info = self._client.publish(topic, offline, qos=1, retain=True)
                    deadline = time.monotonic() + 2.0
                    while not info.is_published() and time.monotonic() < deadline:
                        self._client.loop(timeout=0.1)
                self._client.disconnect()
                self._client.loop(timeout=0.5)  # let the DISCONNECT out

    def _handle_connect(self, client: mqtt.Client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = f"the broker refused the connection: {reason_code}"
            return
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        if self.host_id:
            state_topic, online = self._state(online=True)
            client.publish(state_topic, online, qos=1, retain=True)
        self._connected.set()
        self._on_link(True, "", datetime.now(UTC))

    def _handle_message(self, client: mqtt.Client, userdata, message: mqtt.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload), datetime.now(UTC))  # received: bytes already (no copy)
