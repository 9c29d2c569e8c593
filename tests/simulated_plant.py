"""Simulated plants for tests that run on the wall clock.

The demo's shift calendar has planned breaks at fixed local times (every machine in planned stop, nothing moving);
a test that waits for values to change must not depend on the hour it runs at, so wall-clock plants in tests keep
the demo's shifts without their breaks. Tests of the breaks themselves give the simulator a clock and a calendar.
"""

import dataclasses
from typing import Any

from demo.simulator.plant import PlantSimulator
from demo.simulator.production import DEMO_CALENDAR

NO_BREAKS = dataclasses.replace(DEMO_CALENDAR, breaks=())


def plant_simulator(*args: Any, **kwargs: Any) -> PlantSimulator:
    kwargs.setdefault("calendar", NO_BREAKS)
    return PlantSimulator(*args, **kwargs)
