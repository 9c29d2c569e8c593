"""One line of the simulated plant published by a Sparkplug B edge node (the demo's third protocol).

The edge node is the line: ``spBv1.0/<group>/NDATA/Line<n>``, one node metric per machine signal, named
``CNC201/spindle_speed`` (a folder per machine). Every tick it publishes the signals that changed since the last
tick, as an MQTT client of a broker that must already run; `serve_plant_sparkplug` waits for that broker in the
background instead of failing, so that a simulator started without one keeps serving its other protocols.

An NCMD writing a machine's writable signal (``CNC201/speed_setpoint``, ``CNC201/feed_override``,
``CNC201/command``; plant.WRITABLE_SIGNALS) reaches ``Machine.write`` in the plant's own event loop, and the node
publishes the value the machine then holds (the echo a host confirms its write with). Commands to other metrics
are ignored, as an edge node ignores writes to what it only measures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from demo.simulator.plant import MACHINE_SIGNALS, WRITABLE_SIGNALS, PlantSimulator
from ingest.protocols.sparkplug.codec import DataType
from ingest.protocols.sparkplug.edge import MetricValue, SparkplugEdgeNode

log = logging.getLogger(__name__)

SPARKPLUG_GROUP = "MillwrightDemo"
SPARKPLUG_TYPES: dict[str, int] = {
    "bool": DataType.BOOLEAN,
    "int16": DataType.INT16,
    "uint16": DataType.UINT16,
    "int32": DataType.INT32,
    "uint32": DataType.UINT32,
    "float32": DataType.FLOAT,
    "float64": DataType.DOUBLE,
}
RETRY_SECONDS = 10.0


def sparkplug_edge_node_id(line_index: int) -> str:
    return f"Line{line_index + 1}"


def sparkplug_metric_name(line_index: int, machine_index: int, signal: str) -> str:
    """The node metric of a machine signal, e.g. 'CNC201/spindle_speed' (the demo plant's tag address)."""
    return f"CNC{line_index + 1}{machine_index + 1:02d}/{signal}"


def plant_line_edge_node(*, host: str, port: int, plant: PlantSimulator, line_index: int) -> SparkplugEdgeNode:
    metrics = {
        sparkplug_metric_name(line_index, mi, spec.name): SPARKPLUG_TYPES[spec.data_type]
        for mi in range(plant.machines_per_line)
        for spec in MACHINE_SIGNALS
    }
    node = SparkplugEdgeNode(
        host=host,
        port=port,
        group_id=SPARKPLUG_GROUP,
        edge_node_id=sparkplug_edge_node_id(line_index),
        node_metrics=metrics,
    )
    _line_values_set(node, plant, line_index)
    return node


def _line_values(plant: PlantSimulator, line_index: int) -> dict[str, float | bool]:
    values: dict[str, float | bool] = {}
    for mi in range(plant.machines_per_line):
        machine = plant.machine(line_index, mi).values()
        for spec in MACHINE_SIGNALS:
            value = machine[spec.name]
            if spec.data_type == "bool":
                value = bool(value)
            elif not spec.data_type.startswith("float"):
                value = round(value)
            values[sparkplug_metric_name(line_index, mi, spec.name)] = value
    return values


def _line_values_set(node: SparkplugEdgeNode, plant: PlantSimulator, line_index: int) -> None:
    for name, value in _line_values(plant, line_index).items():
        node.values[("", name)] = value


def _machine_writer(
    plant: PlantSimulator, line_index: int, loop: asyncio.AbstractEventLoop
) -> Callable[[str, str, MetricValue], MetricValue]:
    """The edge node's on_write: a command to a writable signal, applied in the loop that steps the plant."""
    writable = {
        sparkplug_metric_name(line_index, mi, spec.name): (mi, spec)
        for mi in range(plant.machines_per_line)
        for spec in WRITABLE_SIGNALS
    }

    def on_write(device_id: str, name: str, value: MetricValue) -> MetricValue:
        target = writable.get(name)
        if device_id or target is None or isinstance(value, bool | str) or value is None:
            return None
        machine_index, spec = target

        async def apply() -> float:
            return plant.machine(line_index, machine_index).write(spec.name, float(value))

        held = asyncio.run_coroutine_threadsafe(apply(), loop).result(5.0)
        return held if spec.data_type.startswith("float") else round(held)

    return on_write


async def serve_plant_sparkplug(
    *, host: str, port: int, plant: PlantSimulator, line_index: int, tick_seconds: float = 0.5
) -> None:
    """Publish line `line_index` of `plant` through the broker at host:port until cancelled (the plant is stepped
    elsewhere). Without a broker it logs once and tries again every RETRY_SECONDS."""
    node = plant_line_edge_node(host=host, port=port, plant=plant, line_index=line_index)
    node.on_write = _machine_writer(plant, line_index, asyncio.get_running_loop())
    warned = False
    while True:
        try:
            await asyncio.to_thread(node.connect, timeout=5.0)
            break
        except (OSError, TimeoutError) as exc:
            node.disconnect(send_death=False)
            if not warned:
                log.warning("no MQTT broker at %s:%d (%s): the Sparkplug B edge node waits for one", host, port, exc)
                warned = True
            await asyncio.sleep(RETRY_SECONDS)
    log.info(
        "simulated line %d published as Sparkplug B edge node %s/%s", line_index + 1, SPARKPLUG_GROUP, node.edge_node_id
    )
    try:
        while True:
            await asyncio.sleep(tick_seconds)
            changed = {
                name: value
                for name, value in _line_values(plant, line_index).items()
                if node.values[("", name)] != value
            }
            if changed:
                node.publish_data(changed)
    finally:
        node.disconnect(send_death=True)
