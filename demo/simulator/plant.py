"""A simulated machining plant: lines of CNC machines whose signals follow a plausible state machine.

Each line is one PLC (one Modbus unit id, 1..n) behind a shared Modbus TCP gateway. Machine ``m`` of a
line owns holding registers ``m*100 .. m*100+99``; MACHINE_SIGNALS gives the layout inside that block.
Physics are deliberately simple (first-order lags, ramps, exponential hazards) but consistent: current,
power, temperatures and vibration follow speed and cutting load, counters only move while running.
All randomness comes from one ``random.Random(seed)``, so a run is reproducible for a given seed, plant clock
(`clock`, the UTC time of the first step) and sequence of ``step(now)`` calls.

Production (what the OEE of issue 13 is computed from; codes and products in `demo.simulator.production`): the
machines of a line work in series, each taking its parts from a buffer filled by the one before it (the first one
from an unlimited raw stock, the last one into an unlimited outfeed). A machine down starves the next one once the
buffer between them is empty (state idle/starved) and blocks the one before once that buffer is full (blocked).
The line changes product every 25-50 minutes: the first machine changes over when it starts its next part, each
following one when the first part of the new product reaches it (state setup for 2-5 minutes; the first parts
after a setup are often rejects). Breakdowns (fault codes, some of them locked out: state off), short operator
stops (micro-stops, under 2 minutes), reduced-speed periods (setpoint lowered, longer cycles) and the planned breaks
of the demo shift calendar (state planned stop, all machines at once) complete the losses. Time is not compressed:
the rates are tuned so that the nine machines show each loss within 10-15 minutes.

The machines accept writes (issue 14), the same over every protocol (``Machine.write``): the spindle speed setpoint
(the speed ramps to it; it becomes the machine's full speed, which reduced-speed periods lower from), a feed
override in percent (feed rate and cutting progress follow it), and a command register (MachineCommand: start,
stop, reset fault, maintenance done) driving the state machine; the register holds the last command the machine
accepted, so a refused command (start while down) reads back as something else. A stopped machine stays idle until
started (a stop during a fault or a setup takes effect when it ends); a reset fault ends the repair at once.

Wear and sensor faults (issue 15, `demo.simulator.wear`): each machine's spindle bearing, cutting tool and coolant
pump wear towards a failure (fault codes 715, 716, 717) that the simulator knows in advance (`PlantSimulator
.ground_truth()`, a Python API only); the signals show it (vibration rms and high-frequency band, bearing temperature
and motor current; spindle load, cycle time and rejects; coolant pressure and temperature). The MAINTENANCE command
(or `PlantSimulator.maintenance_done`) fits new parts. Sensor faults (stuck, drift, dropout) change only what a
sensor reports (`Machine.values`), not the machine.
"""

from __future__ import annotations

import bisect
import math
import random
import struct
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from demo.simulator.production import (
    DEMO_CALENDAR,
    FAULT_CODES,
    LOCKOUT_CODES,
    PRODUCTS,
    ideal_cycle_time,
)
from demo.simulator.wear import (
    FAILURE_CODES,
    MODES,
    FailureMode,
    Life,
    MachineWear,
    SensorFault,
    SensorFaultKind,
    WearConfig,
)
from production.calendar import Calendar, calendar_shifts
from production.kpis import MachineState as ProductionState

MACHINE_BLOCK_SIZE = 100
MAX_SUBSTEP = 1.0  # s: physics integration step
MAX_CATCH_UP = 600.0  # s: after a longer pause (suspended laptop) the plant skips ahead instead

AMBIENT_C = 22.0
MAINS_V = 400.0
POWER_FACTOR = 0.85

BUFFER_CAPACITY = 4  # parts between two machines of a line
FLOW_WAIT_DEBOUNCE = 10.0  # s: a shorter wait for a part or for room is part of the cycle (shown running)
STARTUP_PARTS = 2  # parts after a setup with a high reject rate
STARTUP_REJECT_P = 0.3


class MachineState(IntEnum):
    """The state register's codes (see `demo.simulator.production`)."""

    IDLE = 0  # idle or starved
    RUNNING = 1
    DOWN = 2  # unplanned down: a fault code is set
    BLOCKED = 3
    SETUP = 4  # changeover
    PLANNED_STOP = 5  # a break of the shift calendar
    OFF = 6  # locked out for a repair


class MachineCommand(IntEnum):
    """The command register's codes."""

    NONE = 0
    START = 1
    STOP = 2
    RESET_FAULT = 3
    MAINTENANCE = 4  # maintenance done: new bearing, tool and coolant pump (ends a wear failure's repair)


SETPOINT_RANGE = (0.0, 3600.0)  # rpm: what the drive accepts; a setpoint outside is clamped, as a PLC does
FEED_OVERRIDE_RANGE = (0, 150)  # %


#: The state register's codes as the production layer's states: the demo's state mapping.
PRODUCTION_STATES: dict[MachineState, ProductionState] = {
    MachineState.IDLE: ProductionState.IDLE,
    MachineState.RUNNING: ProductionState.RUNNING,
    MachineState.DOWN: ProductionState.UNPLANNED_DOWN,
    MachineState.BLOCKED: ProductionState.BLOCKED,
    MachineState.SETUP: ProductionState.SETUP,
    MachineState.PLANNED_STOP: ProductionState.PLANNED_STOP,
    MachineState.OFF: ProductionState.OFF,
}
#: What an HMI shows for each code (the state tag's value labels).
STATE_LABELS: dict[MachineState, str] = {
    MachineState.IDLE: "Idle",
    MachineState.RUNNING: "Running",
    MachineState.DOWN: "Down",
    MachineState.BLOCKED: "Blocked",
    MachineState.SETUP: "Setup",
    MachineState.PLANNED_STOP: "Planned stop",
    MachineState.OFF: "Off",
}

#: Alarm codes a DOWN machine shows, with the texts an HMI would.
ALARM_CODES: dict[int, str] = {code: text.lower() for code, (text, _) in FAULT_CODES.items()}
# Random breakdowns (overtemperature is not random: it trips when the motor gets too hot).
_RANDOM_ALARMS: tuple[tuple[int, float, tuple[float, float]], ...] = (
    # code, weight, (min, max) repair time in s
    (205, 2.0, (120.0, 420.0)),
    (310, 1.0, (180.0, 720.0)),
    (412, 3.0, (120.0, 300.0)),
    (520, 1.5, (20.0, 60.0)),
    (633, 1.5, (120.0, 240.0)),
)
_OVERTEMP_TRIP_C = 95.0


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """One signal of a machine: where it lives in the machine's register block and how to show it."""

    name: str
    offset: int  # register offset inside the machine's 100-register block
    data_type: str  # one of historian.addresses.DATA_TYPES
    units: str
    description: str
    key: bool = False  # shown on the overview card
    span: tuple[float, float] = (0.0, 100.0)  # nominal chart range
    bit: int | None = None  # for bool signals packed into a status register
    rollover: int | None = None  # a counter that wraps: the value at which it wraps back to 0
    writable: bool = False  # the machine accepts writes of this signal (Machine.write)

    @property
    def register_count(self) -> int:
        return {"int32": 2, "uint32": 2, "float32": 2, "float64": 4}.get(self.data_type, 1)


_STATUS = 1  # offset of the packed status register
MACHINE_SIGNALS: tuple[SignalSpec, ...] = (
    SignalSpec(
        "state",
        0,
        "uint16",
        "",
        "Machine state: 0 idle/starved, 1 running, 2 down, 3 blocked, 4 setup, 5 planned stop, 6 off",
        True,
        (0, 6),
    ),
    SignalSpec("running", _STATUS, "bool", "", "Running (status bit 0)", False, (0, 1), bit=0),
    SignalSpec("fault", _STATUS, "bool", "", "Fault active (status bit 1)", False, (0, 1), bit=1),
    SignalSpec("door_open", _STATUS, "bool", "", "Guard door open (status bit 2)", False, (0, 1), bit=2),
    SignalSpec("alarm_code", 2, "uint16", "", "Active fault code, 0 when none", False, (0, 999)),
    SignalSpec("spindle_speed", 4, "float32", "rpm", "Spindle speed", True, (0, 3600)),
    SignalSpec("speed_setpoint", 6, "float32", "rpm", "Spindle speed setpoint", False, (0, 3600), writable=True),
    SignalSpec("motor_current", 8, "float32", "A", "Spindle motor current", False, (0, 60)),
    SignalSpec("motor_temperature", 10, "float32", "°C", "Spindle motor winding temperature", True, (0, 120)),
    SignalSpec("bearing_temperature", 12, "float32", "°C", "Spindle bearing temperature", False, (0, 100)),
    SignalSpec("hydraulic_pressure", 14, "float32", "bar", "Hydraulic system pressure", False, (0, 200)),
    SignalSpec("coolant_temperature", 16, "float32", "°C", "Coolant temperature", False, (10, 50)),
    SignalSpec("vibration_rms", 18, "float32", "mm/s", "Spindle vibration velocity, RMS", True, (0, 15)),
    SignalSpec("feed_rate", 20, "float32", "mm/min", "Axis feed rate", False, (0, 1500)),
    SignalSpec("power", 22, "float32", "kW", "Electrical power drawn by the spindle drive", False, (0, 40)),
    SignalSpec("cycle_time", 24, "float32", "s", "Duration of the last completed cycle", False, (0, 120)),
    SignalSpec("part_count", 26, "uint32", "parts", "Total parts produced", True, (0, 50000)),
    SignalSpec("good_parts", 28, "uint32", "parts", "Good parts produced", False, (0, 50000)),
    SignalSpec("reject_parts", 30, "uint32", "parts", "Rejected parts", False, (0, 2000)),
    SignalSpec("energy_total", 32, "float64", "kWh", "Energy meter of the spindle drive", False, (0, 1e6)),
    SignalSpec("spindle_load", 36, "int16", "%", "Spindle load, negative while braking", False, (-100, 150)),
    SignalSpec("product", 38, "uint16", "", "Product (recipe) code being made, or set up for", False, (0, 999)),
    SignalSpec("produced_count", 40, "uint16", "parts", "Production counter, every part (16 bits: wraps at 65536)",
               False, (0, 65535), rollover=65536),
    SignalSpec("reject_count", 41, "uint16", "parts", "Reject counter (16 bits: wraps at 65536)",
               False, (0, 65535), rollover=65536),
    SignalSpec("feed_override", 42, "uint16", "%", "Feed override", False, (0, 150), writable=True),
    SignalSpec("command", 43, "uint16", "",
               "Command: 1 start, 2 stop, 3 reset fault, 4 maintenance done (the last accepted)",
               False, (0, 4), writable=True),
    SignalSpec("vibration_hf", 44, "float32", "g", "Spindle vibration, high-frequency band (bearing defects), RMS",
               False, (0, 10)),
    SignalSpec("coolant_pressure", 46, "float32", "bar", "Coolant pump outlet pressure", False, (0, 10)),
)  # fmt: skip
SIGNALS_BY_NAME: dict[str, SignalSpec] = {s.name: s for s in MACHINE_SIGNALS}
WRITABLE_SIGNALS: tuple[SignalSpec, ...] = tuple(s for s in MACHINE_SIGNALS if s.writable)

SIGNAL_FORMATS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f", "float64": ">d"}


def machine_tag_address(machine_index: int, spec: SignalSpec) -> str:
    """The address of `spec` for machine `machine_index` (0-based) of a line, e.g. 'HR104' or 'HR101.2'."""
    register = machine_index * MACHINE_BLOCK_SIZE + spec.offset
    return f"HR{register}" if spec.bit is None else f"HR{register}.{spec.bit}"


def _lag(value: float, target: float, tau: float, dt: float) -> float:
    """First-order lag step, exact for a constant target."""
    return target + (value - target) * math.exp(-dt / tau)


def _hazard(rate: float, dt: float) -> float:
    """Probability that an event with `rate` (1/s) happens within dt."""
    return 1.0 - math.exp(-rate * dt)


# Event rates (1/s) of one machine while it makes parts, tuned so that the 3 x 3 demo shows each loss within
# 10-15 minutes and lands its OEE in 55-85 %.
BREAKDOWN_RATE = 1 / 2700  # random faults (more with a worn spindle or during a vibration spike)
MICRO_STOP_RATE = 1 / 2400  # operator stops: clear chips, measure a part (10-90 s)
REDUCED_SPEED_RATE = 1 / 2400  # the operator lowers the speed (chatter, hard material) for 4-12 minutes
CHANGEOVER_EVERY = (30 * 60.0, 60 * 60.0)  # s between two product changes of a line
SETUP_SECONDS = (90.0, 240.0)


@dataclass(slots=True)
class Buffer:
    """The parts waiting between two machines of a line (their product codes, oldest first)."""

    capacity: int
    parts: deque[int] = field(default_factory=deque)

    @property
    def full(self) -> bool:
        return len(self.parts) >= self.capacity


class Machine:
    """One CNC machine. Times are plant simulation seconds."""

    def __init__(
        self,
        line_index: int,
        index: int,
        rng: random.Random,
        *,
        product: int = PRODUCTS[0].code,
        wear: WearConfig | None = None,
        wear_seed: int | str = 0,
    ) -> None:
        self.line_index = line_index
        self.index = index
        self.name = f"L{line_index + 1}-M{index + 1}"
        self.rng = rng
        config = wear or WearConfig()
        self.wear_model = MachineWear(
            self.name, config, random.Random(f"{wear_seed}:{self.name}" if config.seed is None else config.seed)
        )
        self.nominal_coolant_pressure = self.wear_model.rng.uniform(5.0, 7.0)
        # Machine parameters.
        self.base_setpoint = float(rng.choice(range(1200, 2801, 100)))
        self.rated_current = rng.uniform(28.0, 40.0)
        self.feed_per_rev = rng.uniform(0.15, 0.35)  # mm/rev
        self.cutting_torque = rng.uniform(0.5, 0.65)  # fraction of rated
        self.nominal_pressure = rng.uniform(110.0, 140.0)
        rng.random()  # (was the wear rate, now in wear_model: drawn so that a seed keeps its plant)
        self.reject_rate = rng.uniform(0.005, 0.02)
        # Where parts come from and go to (None: the raw stock, the outfeed); set by the line.
        self.infeed: Buffer | None = None
        self.outfeed: Buffer | None = None
        self.supply_product = product  # the product of the next raw part (first machine of a line)
        # State.
        self.t = 0.0
        self.state = MachineState.RUNNING
        self.timed: str | None = None  # a stop that ends at state_until: down, lockout, restart, setup, micro, stopped
        self.state_until = math.inf
        self.lockout_at = math.inf
        self.alarm_code = 0
        self.door_open = False
        self._door_plan: tuple[float, float] = (math.inf, math.inf)
        self.product = product
        self.has_part = True  # a part in the machine, being machined
        self.finished_part = False  # a finished good part that could not leave yet (blocked)
        self.wait_since: float | None = None  # waiting for a part or for room since
        self.startup_left = 0
        self.reduced_until = -math.inf
        self.setpoint = self.base_setpoint
        self.operator_setpoint: float | None = None  # written by an operator: the full speed from then on
        self.feed_override = 100
        self.last_command = MachineCommand.NONE
        self.operator_stopped = False  # stopped by a command: idle until started
        self.speed = self.setpoint
        rng.random()  # (was the initial wear)
        self.damage = {mode: self.wear_model.damage(mode, 0.0) for mode in FailureMode}
        self.cycle_target = self._next_cycle_target()
        self.cycle_elapsed = rng.uniform(0.0, self.cycle_target)
        self.cycle_clock = self.cycle_elapsed
        self.cycle_time = ideal_cycle_time(product)
        self.good_parts = rng.randint(2000, 40000)
        self.reject_parts = round(self.good_parts * self.reject_rate)
        # The PLC's 16-bit production counters: close enough to the wrap that a long demo sees a rollover.
        self.produced_count = rng.randint(60000, 65500)
        self.reject_count = rng.randint(0, 2000)
        self.energy_kwh = rng.uniform(1e4, 1e5)
        self.torque = self.cutting_torque
        self.feed_rate = 0.0
        self.current = 0.0
        self.vibration = 0.0
        self.vibration_hf = 0.0
        self._spike_until = -math.inf
        self._spike_amp = 0.0
        self._update_electrical(cutting=True, accelerating=False, braking=False)
        self.motor_temp = self._motor_temp_target()
        self.bearing_temp = self._bearing_temp_target()
        self.coolant_temp = self._coolant_temp_target()
        self.pressure = self.nominal_pressure
        self.coolant_pressure = self._coolant_pressure_target()
        # Sensor readings: the (noise-free) thermal states plus measurement noise.
        self.motor_temp_reading = self.motor_temp
        self.bearing_temp_reading = self.bearing_temp
        self.coolant_temp_reading = self.coolant_temp

    # -- public ----------------------------------------------------------------------------------------------

    @property
    def part_count(self) -> int:
        return self.good_parts + self.reject_parts

    @property
    def wear(self) -> float:
        """The cutting tool's damage (0 new .. 1 worn out)."""
        return self.damage[FailureMode.TOOL]

    def values(self) -> dict[str, float]:
        """Current engineering values by signal name (what the registers encode), as the sensors report them: a
        sensor fault shows here, not in the machine's own state."""
        return self.wear_model.readings(self.t, self._true_values())

    def _true_values(self) -> dict[str, float]:
        return {
            "state": float(self.state),
            "running": float(self.state == MachineState.RUNNING),
            "fault": float(self.alarm_code != 0),
            "door_open": float(self.door_open),
            "alarm_code": float(self.alarm_code),
            "spindle_speed": self.speed,
            "speed_setpoint": self.setpoint,
            "motor_current": self.current,
            "motor_temperature": self.motor_temp_reading,
            "bearing_temperature": self.bearing_temp_reading,
            "hydraulic_pressure": self.pressure,
            "coolant_temperature": self.coolant_temp_reading,
            "vibration_rms": self.vibration,
            "feed_rate": self.feed_rate,
            "power": self.power,
            "cycle_time": self.cycle_time,
            "part_count": float(self.part_count),
            "good_parts": float(self.good_parts),
            "reject_parts": float(self.reject_parts),
            "energy_total": self.energy_kwh,
            "spindle_load": float(self.spindle_load),
            "product": float(self.product),
            "produced_count": float(self.produced_count),
            "reject_count": float(self.reject_count),
            "feed_override": float(self.feed_override),
            "command": float(self.last_command),
            "vibration_hf": self.vibration_hf,
            "coolant_pressure": self.coolant_pressure,
        }

    def write(self, signal: str, value: float) -> float:
        """Apply a write of `signal` (one of WRITABLE_SIGNALS) and return the value it now holds: a setpoint or an
        override clamped to its range, the last accepted command (unchanged when `value` is refused). ValueError
        for a signal that is not writable."""
        if signal == "speed_setpoint":
            self.operator_setpoint = min(max(float(value), SETPOINT_RANGE[0]), SETPOINT_RANGE[1])
            self.setpoint = self.operator_setpoint
            self.reduced_until = -math.inf  # the operator's speed, not a reduced one
            return self.setpoint
        if signal == "feed_override":
            self.feed_override = min(max(round(value), FEED_OVERRIDE_RANGE[0]), FEED_OVERRIDE_RANGE[1])
            return self.feed_override
        if signal == "command":
            self.command(round(value))
            return float(self.last_command)
        raise ValueError(f"{self.name}: {signal} is not writable")

    def command(self, code: int) -> bool:
        """Start, stop or reset a fault; True when the machine accepted it (start needs no fault, reset a fault)."""
        faulted = self.timed in ("down", "lockout")
        if code == MachineCommand.START and not faulted:
            self.operator_stopped = False
            if self.timed in ("stopped", "micro", "restart"):
                self.timed = None
                self.state_until = math.inf
                self._door_plan = (math.inf, math.inf)
                self.door_open = False
                self.state = MachineState.RUNNING
        elif code == MachineCommand.STOP:
            self.operator_stopped = True
            if self.timed in (None, "micro", "restart"):
                self._stop()
        elif code == MachineCommand.RESET_FAULT and faulted:
            self._timed_end()
        elif code == MachineCommand.MAINTENANCE:
            self.maintenance_done()
        else:
            return False
        self.last_command = MachineCommand(code)
        return True

    def maintenance_done(self, modes: Iterable[FailureMode] | None = None) -> None:
        """Fit new parts for `modes` (default: all): their wear starts again. A repair of a wear failure ends."""
        repaired: set[FailureMode] = set()
        if self.timed in ("down", "lockout") and self.alarm_code in FAILURE_CODES:
            repaired = {FAILURE_CODES[self.alarm_code], *self.wear_model.failed(self.t)}
            self._timed_end()  # the failed part is replaced as the repair
        for mode in FailureMode if modes is None else modes:
            if mode not in repaired:
                self.wear_model.renew(FailureMode(mode), self.t, "maintenance")
        self.damage = {mode: self.wear_model.damage(mode, self.t) for mode in FailureMode}

    def sensor_fault_add(
        self, signal: str, kind: SensorFaultKind | str, *, start: float, duration: float, rate: float = 0.0
    ) -> SensorFault:
        """A sensor fault of `signal` from plant second `start` for `duration` s (`rate`: a drift's units per h)."""
        return self.wear_model.sensor_fault_add(signal, SensorFaultKind(kind), start, duration, rate=rate)

    def _stop(self) -> None:
        self._start_timed("stopped", MachineState.IDLE, math.inf)
        self._door_plan = (math.inf, math.inf)
        self.door_open = False

    def _full_speed(self) -> float:
        return self.base_setpoint if self.operator_setpoint is None else self.operator_setpoint

    @property
    def power(self) -> float:
        return math.sqrt(3) * MAINS_V * self.current * POWER_FACTOR / 1000.0

    @property
    def spindle_load(self) -> int:
        return max(-100, min(150, round(self.torque * 100)))

    def registers(self) -> list[int]:
        """The machine's 100-register block."""
        regs = [0] * MACHINE_BLOCK_SIZE
        values = self.values()
        for spec in MACHINE_SIGNALS:
            value = values[spec.name]
            if spec.bit is not None:
                if value:
                    regs[spec.offset] |= 1 << spec.bit
                continue
            number: float | int = value
            if spec.data_type == "uint32":
                number = int(value) & 0xFFFFFFFF
            elif spec.data_type in ("int16", "uint16", "int32"):
                number = int(value)
            raw = struct.pack(SIGNAL_FORMATS[spec.data_type], number)
            for i in range(0, len(raw), 2):
                regs[spec.offset + i // 2] = int.from_bytes(raw[i : i + 2], "big")
        return regs

    def advance(self, dt: float, *, on_break: bool = False) -> None:
        """Advance by dt seconds (dt <= MAX_SUBSTEP); `on_break`: a planned break of the shift calendar."""
        self.t += dt
        self.damage = {mode: self.wear_model.damage(mode, self.t) for mode in FailureMode}
        self._transitions(dt, on_break)
        self._wear_failure()
        self._mechanics(dt)
        self._thermal(dt)
        self.wear_model.step(self.t, self._true_values)

    def _wear_failure(self) -> None:
        """A part that reached its failure breaks the machine down with its mode's fault code."""
        if self.alarm_code in FAILURE_CODES:
            return
        failed = self.wear_model.failed(self.t)
        if failed:
            spec = MODES[failed[0]]
            self._go_down(spec.fault_code, self.wear_model.rng.uniform(*spec.repair_seconds))

    # -- state machine -------------------------------------------------------------------------------------

    def _transitions(self, dt: float, on_break: bool) -> None:
        if self.t >= self.reduced_until and self.setpoint != self._full_speed():
            self.setpoint = self._full_speed()  # back to full speed
        if self.timed == "down" and self.t >= self.lockout_at:
            self.state = MachineState.OFF  # locked out for the repair; the fault stays latched until the restart
            self.timed = "lockout"
        if self.timed is not None and self.t >= self.state_until:
            self._timed_end()
        if self.timed is None:
            self._flow(dt, on_break)
        opens, closes = self._door_plan
        self.door_open = opens <= self.t < closes

    def _timed_end(self) -> None:
        kind, self.timed = self.timed, None
        self.state_until = self.lockout_at = math.inf
        self._door_plan = (math.inf, math.inf)
        if kind in ("down", "lockout"):
            if self.alarm_code == 412:
                self.wear_model.renew(FailureMode.TOOL, self.t, "replaced")  # a broken tool: a new one
            if self.alarm_code in FAILURE_CODES:  # the repair fits new parts for what failed
                for mode in {FAILURE_CODES[self.alarm_code], *self.wear_model.failed(self.t)}:
                    self.wear_model.renew(mode, self.t, "failure")
            self.damage = {mode: self.wear_model.damage(mode, self.t) for mode in FailureMode}
            self.alarm_code = 0
            self._start_timed("restart", MachineState.IDLE, self.rng.uniform(5.0, 20.0))  # reset, homing
        elif kind == "setup":
            self.has_part = True
            self.startup_left = STARTUP_PARTS
            self._new_cycle()
        if self.operator_stopped and self.timed in (None, "restart"):  # a stop asked for during the fault / setup
            self._stop()

    def _start_timed(self, kind: str, state: MachineState, duration: float) -> None:
        self.timed = kind
        self.state = state
        self.state_until = self.t + duration
        self.wait_since = None

    def _flow(self, dt: float, on_break: bool) -> None:
        """A machine with no stop of its own: on break, waiting for a part or for room, or making parts."""
        if on_break:
            self.state = MachineState.PLANNED_STOP
            self.wait_since = None
            return
        if self.finished_part and (self.outfeed is None or not self.outfeed.full):
            if self.outfeed is not None:
                self.outfeed.parts.append(self.product)
            self.finished_part = False
        if not self.finished_part and not self.has_part:
            product: int | None = self.supply_product
            if self.infeed is not None:
                product = self.infeed.parts.popleft() if self.infeed.parts else None
            if product is not None:
                if product != self.product:  # the first part of the next product: change over
                    self.product = product
                    self._start_setup()
                    return
                self.has_part = True
                self._new_cycle()
        if self.finished_part or not self.has_part:
            if self.wait_since is None:
                self.wait_since = self.t
            if self.t - self.wait_since < FLOW_WAIT_DEBOUNCE:
                self.state = MachineState.RUNNING  # loading / unloading: part of the cycle
            else:
                self.state = MachineState.BLOCKED if self.finished_part else MachineState.IDLE
            return
        self.wait_since = None
        self.state = MachineState.RUNNING
        self._random_events(dt)

    def _random_events(self, dt: float) -> None:
        rng = self.rng
        if self.motor_temp > _OVERTEMP_TRIP_C:
            self._go_down(101, rng.uniform(180.0, 360.0))
            return
        # Worn spindles and vibration spikes make breakdowns likelier.
        breakdown_rate = BREAKDOWN_RATE * (1 + 3 * max(0.0, self.wear - 0.5))
        if self.t < self._spike_until:
            breakdown_rate *= 4
        if rng.random() < _hazard(breakdown_rate, dt):
            codes, weights, repairs = zip(*_RANDOM_ALARMS, strict=True)
            i = rng.choices(range(len(codes)), weights=weights)[0]
            self._go_down(codes[i], rng.uniform(*repairs[i]))
        elif rng.random() < _hazard(MICRO_STOP_RATE, dt):
            self._go_idle(rng.uniform(10.0, 90.0))
        elif self.t >= self.reduced_until and rng.random() < _hazard(REDUCED_SPEED_RATE, dt):
            self.reduced_until = self.t + rng.uniform(240.0, 720.0)
            self.setpoint = round(self._full_speed() * rng.choice((0.75, 0.8, 0.85, 0.9)), -1)

    def _start_setup(self) -> None:
        rng = self.rng
        self._start_timed("setup", MachineState.SETUP, rng.uniform(*SETUP_SECONDS))
        self._door_plan = (self.t + rng.uniform(5.0, 15.0), self.state_until - rng.uniform(10.0, 20.0))

    def _new_cycle(self) -> None:
        self.cycle_elapsed = 0.0
        self.cycle_clock = 0.0
        self.cycle_target = self._next_cycle_target()

    def _go_idle(self, duration: float, *, allow_door: bool = True) -> None:
        self._start_timed("micro", MachineState.IDLE, duration)
        if allow_door and duration > 15 and self.rng.random() < 0.6:
            self._door_plan = (self.t + 4.0, self.state_until - 5.0)
        else:
            self._door_plan = (math.inf, math.inf)

    def _go_down(self, code: int, repair: float) -> None:
        self._start_timed("down", MachineState.DOWN, repair)
        self.alarm_code = code
        self.cycle_elapsed = 0.0  # the part is re-machined from the start
        self.cycle_clock = 0.0
        if code in LOCKOUT_CODES:
            self.lockout_at = self.t + min(repair / 2, self.rng.uniform(30.0, 90.0))
        # A technician opens the guard door for most repairs, not for an e-stop reset.
        if code != 520 and self.rng.random() < 0.8:
            self._door_plan = (self.t + self.rng.uniform(15.0, 40.0), self.state_until - 8.0)
        else:
            self._door_plan = (math.inf, math.inf)

    # -- physics -------------------------------------------------------------------------------------------

    def _next_cycle_target(self) -> float:
        """Machining time of the next part at full speed: the ideal cycle time and a little more."""
        tool = 1 + 0.15 * self.damage[FailureMode.TOOL]  # a blunt tool cuts slower
        return ideal_cycle_time(self.product) * tool * (1 + abs(self.rng.gauss(0.0, 0.03)))

    def _mechanics(self, dt: float) -> None:
        rng = self.rng
        running = self.state == MachineState.RUNNING
        target = self.setpoint if running else 0.0
        accel = max(self.setpoint, 600.0) / 5.0  # rpm/s: about 5 s to full speed
        accelerating = braking = False
        if self.speed < 0.98 * target:  # (running speed jitters around the setpoint: not accelerating)
            accelerating = True
            self.speed = min(target, self.speed + accel * dt)
        elif running and self.speed > 1.02 * target + 1.0:  # a lower setpoint (not the jitter): brake down to it
            braking = True
            self.speed = max(target, self.speed - 1.5 * accel * dt)
        elif running:
            self.speed = max(0.0, target * (1 + rng.gauss(0.0, 0.0015)))
        elif self.state in (MachineState.DOWN, MachineState.OFF):  # drive disabled, the spindle coasts down
            self.speed = max(0.0, self.speed * math.exp(-dt / 12.0) - 15.0 * dt)
        else:  # a controlled stop
            braking = self.speed > 0.0
            self.speed = max(0.0, self.speed - 1.5 * accel * dt)

        at_speed = running and not accelerating
        cutting = False
        if at_speed and self.has_part and not self.finished_part:
            progress = dt * self.setpoint / self.base_setpoint  # a lowered speed cuts slower
            if self.feed_override != 100:
                progress *= self.feed_override / 100  # and so does a lowered feed
            self.cycle_elapsed += progress
            self.cycle_clock += dt
            cutting = self.cycle_elapsed < 0.8 * self.cycle_target  # then unload / load the part
            if self.cycle_elapsed >= self.cycle_target:
                self._part_done()
        feed = self.setpoint * self.feed_per_rev
        if self.feed_override != 100:
            feed *= self.feed_override / 100
        self.feed_rate = max(0.0, feed * (1 + rng.gauss(0.0, 0.01))) if cutting else 0.0
        self._update_electrical(cutting=cutting, accelerating=accelerating, braking=braking, dt=dt)

        # Vibration: grows with wear and cutting; occasional spikes (chatter, chip in the tool). A damaged bearing
        # shows in the high-frequency band first (its defect frequencies), then in the overall rms.
        speed_frac = self.speed / 3000.0
        bearing = self.damage[FailureMode.BEARING]
        if running and self.t >= self._spike_until and rng.random() < _hazard(1 / 600, dt):
            self._spike_until = self.t + rng.uniform(2.0, 8.0)
            self._spike_amp = rng.uniform(3.0, 7.0)
        spike = self._spike_amp if self.t < self._spike_until else 0.0
        base = (0.8 + 1.5 * self.wear) * speed_frac * (1.3 if cutting else 1.0) + 7.0 * bearing * speed_frac
        self.vibration = min(20.0, max(0.0, 0.05 + base + spike * speed_frac + abs(rng.gauss(0.0, 0.08))))
        hf = (0.15 + 6.0 * bearing**0.7) * speed_frac + 0.2 * spike * speed_frac
        # (The new signals' noise comes from the wear generator: the machine's own sequence stays what it was.)
        noise = self.wear_model.rng.gauss
        self.vibration_hf = min(10.0, max(0.0, 0.02 + hf + abs(noise(0.0, 0.03))))
        self.coolant_pressure = max(
            0.0, _lag(self.coolant_pressure, self._coolant_pressure_target(), 2.0, dt) + noise(0.0, 0.04)
        )

        hydraulic_target = self.nominal_pressure + (8.0 if cutting else 0.0)
        if self.state == MachineState.OFF:
            hydraulic_target = 0.0
        elif self.state == MachineState.DOWN:
            hydraulic_target = 25.0 if self.alarm_code == 205 else 0.0  # leaking, pump still trying
        self.pressure = max(0.0, _lag(self.pressure, hydraulic_target, 2.0, dt) + rng.gauss(0.0, 0.5))

    def _part_done(self) -> None:
        self.cycle_time = self.cycle_clock
        reject_p = (
            self.reject_rate * (1 + 2 * self.wear) + 0.1 * self.wear**3 + (0.1 if self.t < self._spike_until else 0)
        )
        if self.startup_left > 0:
            self.startup_left -= 1
            reject_p = max(reject_p, STARTUP_REJECT_P)
        if self.rng.random() < reject_p:
            self.reject_parts += 1
            self.reject_count = (self.reject_count + 1) & 0xFFFF
        else:
            self.good_parts += 1
            self.finished_part = True  # leaves for the next machine when there is room
        self.produced_count = (self.produced_count + 1) & 0xFFFF
        self.has_part = False

    def _update_electrical(self, *, cutting: bool, accelerating: bool, braking: bool, dt: float = 0.0) -> None:
        rng = self.rng
        if accelerating:
            torque = 1.2
        elif braking:
            torque = -0.6
        elif cutting:
            torque = self.cutting_torque * (1 + 0.3 * self.wear) * (1 + rng.gauss(0.0, 0.03)) + self._friction()
        elif self.state == MachineState.RUNNING:
            torque = 0.08 + self._friction()  # spinning, not cutting
        else:
            torque = 0.0
        self.torque = torque
        if self.state == MachineState.OFF:
            current = 0.0
        elif self.state == MachineState.DOWN:
            current = 0.6  # drive disabled, control power only
        else:
            speed_frac = self.speed / max(self.setpoint, 1.0)
            current = 2.0 + self.rated_current * (0.2 * speed_frac + 0.85 * abs(torque))
        self.current = max(0.0, current + rng.gauss(0.0, 0.15))
        self.energy_kwh += self.power * dt / 3600.0

    def _friction(self) -> float:
        """The extra torque (fraction of rated) a damaged bearing takes."""
        return 0.1 * self.damage[FailureMode.BEARING]

    def _coolant_pressure_target(self) -> float:
        """The coolant pump runs while the machine is ready to cut; a worn pump delivers less."""
        if self.state in (MachineState.DOWN, MachineState.OFF, MachineState.PLANNED_STOP):
            return 0.0
        return self.nominal_coolant_pressure * (1 - 0.6 * self.damage[FailureMode.COOLANT_PUMP])

    def _motor_temp_target(self) -> float:
        return AMBIENT_C + 85.0 * (self.current / self.rated_current) ** 2

    def _bearing_temp_target(self) -> float:
        return AMBIENT_C + 28.0 * self.speed / 3000.0 + 30.0 * self.damage[FailureMode.BEARING]

    def _coolant_temp_target(self) -> float:
        return 19.0 + 0.3 * self.power + 12.0 * self.damage[FailureMode.COOLANT_PUMP]  # less flow, less cooling

    def _thermal(self, dt: float) -> None:
        rng = self.rng
        self.motor_temp = _lag(self.motor_temp, self._motor_temp_target(), 480.0, dt)
        self.bearing_temp = _lag(self.bearing_temp, self._bearing_temp_target(), 700.0, dt)
        self.coolant_temp = _lag(self.coolant_temp, self._coolant_temp_target(), 400.0, dt)
        self.motor_temp_reading = self.motor_temp + rng.gauss(0.0, 0.1)
        self.bearing_temp_reading = self.bearing_temp + rng.gauss(0.0, 0.1)
        self.coolant_temp_reading = self.coolant_temp + rng.gauss(0.0, 0.05)


class Line:
    """Machines in series with a buffer between each two; the line's product plan (its changeovers)."""

    def __init__(
        self,
        index: int,
        machines_per_line: int,
        rng: random.Random,
        *,
        wear: Mapping[str, WearConfig] | None = None,
        wear_seed: int | str = 0,
    ) -> None:
        self.index = index
        self.unit_id = index + 1
        self.name = f"Line {index + 1}"
        self.rng = random.Random(rng.getrandbits(64))
        self.product = PRODUCTS[index % len(PRODUCTS)].code
        wear = wear or {}
        self.machines = [
            Machine(
                index,
                mi,
                random.Random(rng.getrandbits(64)),
                product=self.product,
                wear=wear.get(f"L{index + 1}-M{mi + 1}"),
                wear_seed=wear_seed,
            )
            for mi in range(machines_per_line)
        ]
        self.buffers = [Buffer(BUFFER_CAPACITY) for _ in range(machines_per_line - 1)]
        for buffer, before, after in zip(self.buffers, self.machines, self.machines[1:], strict=False):
            buffer.parts.extend([self.product] * (BUFFER_CAPACITY // 2))
            before.outfeed = after.infeed = buffer
        self.t = 0.0
        self.next_changeover = self.rng.uniform(*CHANGEOVER_EVERY) / 2

    def advance(self, dt: float, *, on_break: bool) -> None:
        self.t += dt
        if self.t >= self.next_changeover:
            self.product = self.rng.choice([p.code for p in PRODUCTS if p.code != self.product])
            self.machines[0].supply_product = self.product
            self.next_changeover = self.t + self.rng.uniform(*CHANGEOVER_EVERY)
        for machine in self.machines:
            machine.advance(dt, on_break=on_break)

    def registers(self) -> list[int]:
        """All holding registers of the line's PLC: machine m at m*100."""
        regs: list[int] = []
        for machine in self.machines:
            regs.extend(machine.registers())
        return regs


class _Breaks:
    """The planned breaks of a calendar near an instant (UTC epoch seconds), looked up by bisection."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.low = self.high = 0.0

    def on_break(self, epoch: float) -> bool:
        if not self.low <= epoch < self.high:
            start = datetime.fromtimestamp(epoch, UTC)
            shifts = calendar_shifts(self.calendar, start=start - timedelta(days=1), end=start + timedelta(days=2))
            spans = sorted((b.start.timestamp(), b.end.timestamp()) for s in shifts for b in s.planned_breaks)
            self.starts, self.ends = [s for s, _ in spans], [e for _, e in spans]
            self.low, self.high = epoch - 12 * 3600.0, epoch + 24 * 3600.0
        i = bisect.bisect_right(self.starts, epoch) - 1
        return i >= 0 and epoch < self.ends[i]


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What really happened to the plant's machines (times: the plant's clock, UTC epoch seconds)."""

    lives: tuple[Life, ...]
    sensor_faults: tuple[SensorFault, ...]

    @property
    def failures(self) -> tuple[Life, ...]:
        """The lives that ended in a failure: `failure_at` is when it broke down."""
        return tuple(life for life in self.lives if life.ended_by == "failure")

    def failure_at(self, machine: str, mode: FailureMode) -> float:
        """When the part `mode` of `machine` now fitted fails unless maintained."""
        return next(life.failure_at for life in reversed(self.lives) if life.machine == machine and life.mode == mode)


class PlantSimulator:
    """Lines x machines. Not thread-safe: step() and reads belong to one thread (the server's loop).

    `clock`: the plant's wall-clock time at its origin (UTC epoch seconds; default: now), for the shift calendar's
    breaks. It then advances with the plant's time (and jumps over a pause longer than MAX_CATCH_UP).
    `wear`: how machines wear, by name ('L1-M2'; `demo.simulator.wear.WearConfig`, default: the nominal rates)."""

    def __init__(
        self,
        lines: int = 3,
        machines_per_line: int = 3,
        *,
        seed: int = 1,
        start: float | None = None,
        clock: float | None = None,
        calendar: Calendar = DEMO_CALENDAR,
        wear: Mapping[str, WearConfig] | None = None,
    ) -> None:
        if not 1 <= lines <= 247:
            raise ValueError("lines must be 1..247 (one Modbus unit id each)")
        if not 1 <= machines_per_line <= 100:
            raise ValueError("machines_per_line must be 1..100")
        self.seed = seed
        rng = random.Random(seed)
        names = {f"L{li + 1}-M{mi + 1}" for li in range(lines) for mi in range(machines_per_line)}
        if wear and set(wear) - names:
            raise ValueError(f"wear configured for machines the plant does not have: {sorted(set(wear) - names)}")
        self.lines: list[Line] = [Line(li, machines_per_line, rng, wear=wear, wear_seed=seed) for li in range(lines)]
        self.machines_per_line = machines_per_line
        self.calendar = calendar
        self._breaks = _Breaks(calendar)
        self._last: float | None = start
        self.time = 0.0  # simulated seconds since start
        self.clock = time.time() if clock is None else clock  # UTC epoch seconds, now
        self._skips: list[tuple[float, float]] = [(0.0, self.clock)]  # (plant time, clock - time) from then on

    @property
    def now(self) -> datetime:
        """The plant's wall-clock time."""
        return datetime.fromtimestamp(self.clock, UTC)

    @property
    def unit_ids(self) -> list[int]:
        return [line.unit_id for line in self.lines]

    def machine(self, line_index: int, machine_index: int) -> Machine:
        return self.lines[line_index].machines[machine_index]

    def all_machines(self) -> list[Machine]:
        return [m for line in self.lines for m in line.machines]

    def machine_named(self, name: str) -> Machine:
        """The machine 'L<line>-M<machine>' (1-based)."""
        for machine in self.all_machines():
            if machine.name == name:
                return machine
        raise KeyError(name)

    def epoch(self, t: float) -> float:
        """Plant time `t` (seconds since the start) as the plant's clock (UTC epoch seconds); a time still to come
        as if the plant keeps up with its clock from now on."""
        i = bisect.bisect_right(self._skips, (t, math.inf)) - 1
        return t + self._skips[max(i, 0)][1]

    # -- ground truth: for the benchmark and tests only, never served over a protocol ---------------------------

    def ground_truth(self) -> GroundTruth:
        """Every part's life (when it was fitted, when it fails or failed, how it ended) and every sensor fault, per
        machine, in the plant's clock (UTC epoch seconds)."""
        lives: list[Life] = []
        faults: list[SensorFault] = []
        for machine in self.all_machines():
            for life in machine.wear_model.lives:
                end = None if life.end is None else self.epoch(life.end)
                lives.append(
                    Life(
                        life.machine, life.mode, self.epoch(life.start), self.epoch(life.failure_at), end, life.ended_by
                    )
                )
            for f in machine.wear_model.sensor_faults:
                faults.append(SensorFault(f.machine, f.signal, f.kind, self.epoch(f.start), self.epoch(f.end), f.rate))
        return GroundTruth(tuple(lives), tuple(faults))

    def maintenance_done(self, machine: str, modes: Iterable[FailureMode] | None = None) -> None:
        """Maintenance of `machine` ('L1-M2') done: new parts for `modes` (default: all), as the command does."""
        self.machine_named(machine).maintenance_done(modes)

    def step(self, now: float) -> None:
        """Advance to wall-clock time `now` (any monotonic clock); the first call only sets the origin."""
        if self._last is None:
            self._last = now
            return
        elapsed = now - self._last
        self._last = now
        if elapsed <= 0:
            return
        if elapsed > MAX_CATCH_UP:
            self.clock += elapsed - MAX_CATCH_UP
            elapsed = MAX_CATCH_UP
            self._skips.append((self.time, self.clock - self.time))
        while elapsed > 1e-9:
            dt = min(MAX_SUBSTEP, elapsed)
            self.clock += dt
            on_break = self._breaks.on_break(self.clock)
            for line in self.lines:
                line.advance(dt, on_break=on_break)
            self.time += dt
            elapsed -= dt
