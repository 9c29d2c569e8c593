"""Simulated plants for tests that run on the wall clock.

The demo's shift calendar has planned breaks at fixed local times (every machine in planned stop, nothing moving);
a test that waits for values to change must not depend on the hour it runs at, so wall-clock plants in tests keep
the demo's shifts without their breaks. Tests of the breaks themselves give the simulator a clock and a calendar.
"""

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from demo.simulator.modbus_server import ReadyCallback, ServerThread
from demo.simulator.plant import PlantSimulator
from demo.simulator.production import DEMO_CALENDAR
from demo.simulator.sparkplug_plant import serve_plant_sparkplug

NO_BREAKS = dataclasses.replace(DEMO_CALENDAR, breaks=())


def plant_simulator(*args: Any, **kwargs: Any) -> PlantSimulator:
    kwargs.setdefault("calendar", NO_BREAKS)
    return PlantSimulator(*args, **kwargs)


@contextlib.contextmanager
def sparkplug_plant_edge(*, host: str, port: int, seed: int) -> Iterator[PlantSimulator]:
    """Line 1 of a wall-clock plant (two machines) as the demo simulator's Sparkplug edge node on the broker at
    host:port, the plant stepped in the same loop; stopped on exit."""
    plant = plant_simulator(lines=1, machines_per_line=2, seed=seed)

    async def serve(ready: ReadyCallback) -> None:
        async def stepping() -> None:
            while True:
                plant.step(time.monotonic())
                await asyncio.sleep(0.1)

        task = asyncio.create_task(stepping())
        ready((host, port))
        try:
            await serve_plant_sparkplug(host=host, port=port, plant=plant, line_index=0, tick_seconds=0.1)
        finally:
            task.cancel()

    with ServerThread(serve, name="sparkplug-plant"):
        yield plant
