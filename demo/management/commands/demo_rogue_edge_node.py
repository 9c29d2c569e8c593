"""`manage.py demo_rogue_edge_node`: a second Sparkplug B edge node that nobody configured, to see the security alarm.

It publishes to the demo's MQTT broker, in the demo's Sparkplug group, as an edge node that is neither a configured
device nor accepted into the baseline: the Sparkplug host (`run_sparkplug`) reports it as an unknown edge node
(ingest.acquisition.sparkplug_host), with its birth metrics as evidence. It sends its births, a value every
`--interval` seconds for `--seconds` (0: until Ctrl-C), then its death.
"""

import os
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.management.commands.demo import _mqtt_broker
from demo.simulator.sparkplug_plant import SPARKPLUG_GROUP
from ingest.protocols.sparkplug.codec import DataType
from ingest.protocols.sparkplug.edge import SparkplugEdgeNode

ROGUE_METRICS = {"Pump/Speed": DataType.DOUBLE, "Valve/Open": DataType.BOOLEAN}


def rogue_edge_node_run(
    *,
    host: str,
    port: int,
    group_id: str,
    edge_node_id: str,
    seconds: float,
    interval: float,
    stop: threading.Event,
) -> int:
    """Publish as the rogue edge node until `seconds` have passed (0: until `stop`); returns the data messages sent."""
    node = SparkplugEdgeNode(
        host=host, port=port, group_id=group_id, edge_node_id=edge_node_id, node_metrics=ROGUE_METRICS
    )
    node.connect()
    sent = 0
    try:
        while not stop.wait(interval):
            sent += 1
            node.publish_data({"Pump/Speed": 1000.0 + sent, "Valve/Open": sent % 2 == 0})
            if seconds and sent * interval >= seconds:
                break
    finally:
        node.disconnect(send_death=True)
    return sent


class Command(BaseCommand):
    help = "Publish as a second, unconfigured Sparkplug B edge node to the demo broker, to see the security alarm."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--mqtt-broker",
            default=os.environ.get("MILLWRIGHT_MQTT_BROKER", "127.0.0.1:1883"),
            help="host:port of the demo's MQTT broker (default: MILLWRIGHT_MQTT_BROKER, else 127.0.0.1:1883)",
        )
        parser.add_argument("--group", default=SPARKPLUG_GROUP, help="Sparkplug group (default: the demo's)")
        parser.add_argument("--edge-node", default="Rogue1", help="the edge node id to publish as (default Rogue1)")
        parser.add_argument("--seconds", type=float, default=30.0, help="how long to publish (0: until Ctrl-C)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between data messages")

    def handle(self, *args: object, **options: object) -> None:
        address = str(options["mqtt_broker"])
        broker = _mqtt_broker(address)
        if broker is None:
            raise CommandError(
                f"no MQTT broker answers at {address}: the demo's Sparkplug line needs one (see the README's demo)"
            )
        host, port = broker
        group, edge_node = str(options["group"]), str(options["edge_node"])
        self.stdout.write(
            f"Publishing as the unconfigured Sparkplug B edge node {group}/{edge_node} to mqtt://{host}:{port}.\n"
            "The Sparkplug host reports it as an unknown edge node: see the security alarm in Alarms, and accept it\n"
            "into the baseline from Configure > Assets if it belongs there."
        )
        stop = threading.Event()
        try:
            sent = rogue_edge_node_run(
                host=host,
                port=port,
                group_id=group,
                edge_node_id=edge_node,
                seconds=float(options["seconds"]),  # type: ignore[arg-type]
                interval=float(options["interval"]),  # type: ignore[arg-type]
                stop=stop,
            )
        except KeyboardInterrupt:
            stop.set()
            sent = -1
        except (OSError, TimeoutError) as exc:
            raise CommandError(f"cannot publish to mqtt://{host}:{port}: {exc}") from exc
        self.stdout.write(f"Done ({sent} data messages), death sent." if sent >= 0 else "Stopped.")
