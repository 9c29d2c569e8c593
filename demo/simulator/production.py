"""What the demo plant makes and when: its products, their ideal cycle times, the fault codes, its shift calendar and
the state codes of its machines' state register, as the production layer (issue 13) will be configured with them.

Pure data (no Django): the simulator runs as its own process (`python -m demo.simulator`), and the demo's
production configuration and the tests read the same definitions, so the plant and its configuration agree.

State register (holding register +0 of each machine, uint16), one code per production state
(`production.kpis.MachineState`):

    0 idle / starved   no part to work on (the upstream machine or buffer is empty), or a short operator stop
    1 running
    2 unplanned down   a fault: the fault code register (+2) says which
    3 blocked          a finished part cannot leave: the buffer in front of the next machine is full
    4 setup            a changeover to another product (the product register already shows the new one)
    5 planned stop     a break of the shift calendar
    6 off              switched off: locked out for a repair (the fault code stays latched until the restart)

Codes 0-2 kept their meaning from before the production layer (idle, running, down), so the older demo alarm
definitions, dashboards and tests read the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo

from production.calendar import BreakPattern, Calendar, ShiftPattern
from production.kpis import Loss


@dataclass(frozen=True, slots=True)
class Product:
    code: int  # the value of the product register
    name: str
    ideal_cycle_time: float  # seconds per part, on every machine of a line (the lines are balanced)


PRODUCTS: tuple[Product, ...] = (
    Product(101, "Flange DN50", 32.0),
    Product(102, "Pump housing PH-2", 48.0),
    Product(103, "Drive shaft DS-8", 40.0),
    Product(104, "Valve body VB-1", 56.0),
)
PRODUCTS_BY_CODE: dict[int, Product] = {product.code: product for product in PRODUCTS}


def ideal_cycle_time(product_code: int) -> float:
    """Seconds per part of `product_code` on any demo machine."""
    return PRODUCTS_BY_CODE[product_code].ideal_cycle_time


#: Fault codes (the alarm_code register, +2) with the texts an HMI shows, and the loss each one is: what the demo's
#: fault code -> reason mapping should say. 520 is an e-stop reset within a minute: a small stop, not a breakdown.
FAULT_CODES: dict[int, tuple[str, Loss]] = {
    101: ("Spindle motor overtemperature", Loss.BREAKDOWN),
    205: ("Hydraulic pressure low", Loss.BREAKDOWN),
    310: ("Spindle drive fault", Loss.BREAKDOWN),
    412: ("Tool breakage detected", Loss.BREAKDOWN),
    520: ("Emergency stop pressed", Loss.SMALL_STOP),
    633: ("Way lubrication fault", Loss.BREAKDOWN),
    # Wear failures (`demo.simulator.wear`): a part worn until it broke, unless maintained before.
    715: ("Spindle bearing failure", Loss.BREAKDOWN),
    716: ("Tool worn out", Loss.BREAKDOWN),
    717: ("Coolant pump failure", Loss.BREAKDOWN),
}
#: Repairs for which the machine is locked out (state off) after a first diagnosis while down.
LOCKOUT_CODES = frozenset({205, 310, 715, 717})

#: The shift calendar of the demo plant: three 8-hour shifts every day in Europe/Berlin, each with a 15-minute break
#: two hours in and a 30-minute break four and a half hours in (planned stops: the machines stop).
DEMO_TIME_ZONE = "Europe/Berlin"
DEMO_SHIFTS: tuple[ShiftPattern, ...] = (
    ShiftPattern("Early", time(6), 480),
    ShiftPattern("Late", time(14), 480),
    ShiftPattern("Night", time(22), 480),
)
DEMO_BREAKS: tuple[BreakPattern, ...] = tuple(
    BreakPattern(shift.name, offset, duration) for shift in DEMO_SHIFTS for offset, duration in ((120, 15), (270, 30))
)
DEMO_CALENDAR = Calendar(tz=ZoneInfo(DEMO_TIME_ZONE), shifts=DEMO_SHIFTS, breaks=DEMO_BREAKS)

#: Rejects made within this long of running after a setup are startup rejects (six big losses: startup losses).
STARTUP_WINDOW_SECONDS = 300.0
#: The micro-stop threshold the demo is tuned for (the production layer's default).
MICRO_STOP_SECONDS = 120.0
