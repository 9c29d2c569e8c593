"""A simulated machining plant: lines of CNC machines whose signals follow a plausible state machine.

Each line is one PLC (one Modbus unit id, 1..n) behind a shared Modbus TCP gateway. Machine ``m`` of a
line owns holding registers ``m*100 .. m*100+99``; MACHINE_SIGNALS gives the layout inside that block.
Physics are deliberately simple (first-order lags, ramps, exponential hazards) but consistent: current,
power, temperatures and vibration follow speed and cutting load, counters only move while running.
All randomness comes from one ``random.Random(seed)``, so a run is reproducible for a given sequence of
``step(now)`` calls.

The machines accept writes (issue 14), the same over every protocol (``Machine.write``): the spindle speed setpoint
(the speed ramps to it), a feed override in percent (feed rate and cycle time follow it), and a command register
(MachineCommand: start, stop, reset fault) driving the state machine; the register holds the last command the
machine accepted, so a refused command (start while down) reads back as something else. A stopped machine stays
idle until started; a reset fault ends the repair at once.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass
from enum import IntEnum

MACHINE_BLOCK_SIZE = 100
MAX_SUBSTEP = 1.0  # s: physics integration step
MAX_CATCH_UP = 600.0  # s: after a longer pause (suspended laptop) the plant skips ahead instead

AMBIENT_C = 22.0
MAINS_V = 400.0
POWER_FACTOR = 0.85


class MachineState(IntEnum):
    IDLE = 0
    RUNNING = 1
    DOWN = 2


class MachineCommand(IntEnum):
    NONE = 0
    START = 1
    STOP = 2
    RESET_FAULT = 3


SETPOINT_RANGE = (0.0, 3600.0)  # rpm: what the drive accepts; a setpoint outside is clamped, as a PLC does
FEED_OVERRIDE_RANGE = (0, 150)  # %


#: Alarm codes a DOWN machine shows, with the texts an HMI would.
ALARM_CODES: dict[int, str] = {
    101: "spindle motor overtemperature",
    205: "hydraulic pressure low",
    310: "spindle drive fault",
    412: "tool breakage detected",
    520: "emergency stop pressed",
    633: "way lubrication fault",
}
# Random breakdowns (overtemperature is not random: it trips when the motor gets too hot).
_RANDOM_ALARMS: tuple[tuple[int, float, tuple[float, float]], ...] = (
    # code, weight, (min, max) repair time in s
    (205, 2.0, (120.0, 480.0)),
    (310, 1.0, (180.0, 900.0)),
    (412, 3.0, (90.0, 300.0)),
    (520, 3.0, (20.0, 60.0)),
    (633, 1.5, (60.0, 240.0)),
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
    writable: bool = False  # the machine accepts writes of this signal (Machine.write)

    @property
    def register_count(self) -> int:
        return {"int32": 2, "uint32": 2, "float32": 2, "float64": 4}.get(self.data_type, 1)


_STATUS = 1  # offset of the packed status register
MACHINE_SIGNALS: tuple[SignalSpec, ...] = (
    SignalSpec("state", 0, "uint16", "", "Machine state: 0 idle, 1 running, 2 down", True, (0, 2)),
    SignalSpec("running", _STATUS, "bool", "", "Running (status bit 0)", False, (0, 1), bit=0),
    SignalSpec("fault", _STATUS, "bool", "", "Fault active (status bit 1)", False, (0, 1), bit=1),
    SignalSpec("door_open", _STATUS, "bool", "", "Guard door open (status bit 2)", False, (0, 1), bit=2),
    SignalSpec("alarm_code", 2, "uint16", "", "Active alarm code, 0 when none", False, (0, 999)),
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
    SignalSpec("feed_override", 37, "uint16", "%", "Feed override", False, (0, 150), writable=True),
    SignalSpec(
        "command",
        38,
        "uint16",
        "",
        "Command: 1 start, 2 stop, 3 reset fault (the last accepted)",
        False,
        (0, 3),
        writable=True,
    ),
)
WRITABLE_SIGNALS: tuple[SignalSpec, ...] = tuple(s for s in MACHINE_SIGNALS if s.writable)
SIGNALS_BY_NAME: dict[str, SignalSpec] = {s.name: s for s in MACHINE_SIGNALS}

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


class Machine:
    """One CNC machine. Times are plant simulation seconds."""

    def __init__(self, line_index: int, index: int, rng: random.Random) -> None:
        self.line_index = line_index
        self.index = index
        self.name = f"L{line_index + 1}-M{index + 1}"
        self.rng = rng
        # Machine parameters.
        self.base_setpoint = float(rng.choice(range(1200, 2801, 100)))
        self.rated_current = rng.uniform(28.0, 40.0)
        self.nominal_cycle = rng.uniform(25.0, 70.0)
        self.feed_per_rev = rng.uniform(0.15, 0.35)  # mm/rev
        self.cutting_torque = rng.uniform(0.5, 0.65)  # fraction of rated
        self.nominal_pressure = rng.uniform(110.0, 140.0)
        self.wear_rate = 1.0 / rng.uniform(4 * 3600.0, 10 * 3600.0)  # wear units per running second
        self.reject_rate = rng.uniform(0.005, 0.02)
        # State.
        self.t = 0.0
        self.state = MachineState.RUNNING
        self.state_until = math.inf
        self.alarm_code = 0
        self.door_open = False
        self._door_plan: tuple[float, float] = (math.inf, math.inf)
        self.setpoint = self.base_setpoint
        self.setpoint_written = False  # an operator's setpoint: no more recipe changes of its own
        self.feed_override = 100
        self.last_command = MachineCommand.NONE
        self.operator_stopped = False  # stopped by a command: idle until started
        self.speed = self.setpoint
        self.wear = rng.uniform(0.0, 0.4)
        self.cycle_elapsed = rng.uniform(0.0, self.nominal_cycle)
        self.cycle_target = self._next_cycle_target()
        self.cycle_time = self.nominal_cycle
        self.good_parts = rng.randint(2000, 40000)
        self.reject_parts = round(self.good_parts * self.reject_rate)
        self.energy_kwh = rng.uniform(1e4, 1e5)
        self.torque = self.cutting_torque
        self.feed_rate = 0.0
        self.current = 0.0
        self.vibration = 0.0
        self._spike_until = -math.inf
        self._spike_amp = 0.0
        self._update_electrical(cutting=True, accelerating=False, braking=False)
        self.motor_temp = self._motor_temp_target()
        self.bearing_temp = self._bearing_temp_target()
        self.coolant_temp = self._coolant_temp_target()
        self.pressure = self.nominal_pressure
        # Sensor readings: the (noise-free) thermal states plus measurement noise.
        self.motor_temp_reading = self.motor_temp
        self.bearing_temp_reading = self.bearing_temp
        self.coolant_temp_reading = self.coolant_temp

    # -- public ----------------------------------------------------------------------------------------------

    @property
    def part_count(self) -> int:
        return self.good_parts + self.reject_parts

    def values(self) -> dict[str, float]:
        """Current engineering values by signal name (what the registers encode)."""
        return {
            "state": float(self.state),
            "running": float(self.state == MachineState.RUNNING),
            "fault": float(self.state == MachineState.DOWN),
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
            "feed_override": float(self.feed_override),
            "command": float(self.last_command),
        }

    def write(self, signal: str, value: float) -> float:
        """Apply a write of `signal` (one of WRITABLE_SIGNALS) and return the value it now holds: a setpoint or an
        override clamped to its range, the last accepted command (unchanged when `value` is refused). ValueError
        for a signal that is not writable."""
        if signal == "speed_setpoint":
            self.setpoint = min(max(float(value), SETPOINT_RANGE[0]), SETPOINT_RANGE[1])
            self.setpoint_written = True
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
        if code == MachineCommand.START and self.state != MachineState.DOWN:
            self.operator_stopped = False
            if self.state == MachineState.IDLE:
                self.state = MachineState.RUNNING
                self.state_until = math.inf
                self._door_plan = (math.inf, math.inf)
                self.door_open = False
        elif code == MachineCommand.STOP:
            self.operator_stopped = True
            if self.state != MachineState.DOWN:
                self._go_idle(math.inf, allow_door=False)
        elif code == MachineCommand.RESET_FAULT and self.state == MachineState.DOWN:
            self.alarm_code = 0
            self._go_idle(self.rng.uniform(5.0, 20.0), allow_door=False)
        else:
            return False
        self.last_command = MachineCommand(code)
        return True

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

    def advance(self, dt: float) -> None:
        """Advance by dt seconds (dt <= MAX_SUBSTEP)."""
        self.t += dt
        self._transitions(dt)
        self._mechanics(dt)
        self._thermal(dt)

    # -- state machine -------------------------------------------------------------------------------------

    def _transitions(self, dt: float) -> None:
        rng = self.rng
        if self.state == MachineState.RUNNING:
            if self.motor_temp > _OVERTEMP_TRIP_C:
                self._go_down(101, rng.uniform(180.0, 360.0))
                return
            # Worn spindles and vibration spikes make breakdowns likelier.
            breakdown_rate = (1 / 2400) * (1 + 3 * max(0.0, self.wear - 0.5))
            if self.t < self._spike_until:
                breakdown_rate *= 4
            if rng.random() < _hazard(breakdown_rate, dt):
                codes, weights, repairs = zip(*_RANDOM_ALARMS, strict=True)
                i = rng.choices(range(len(codes)), weights=weights)[0]
                self._go_down(codes[i], rng.uniform(*repairs[i]))
            elif rng.random() < _hazard(1 / 480, dt):
                long_stop = rng.random() < 0.15  # changeover, possibly a new recipe
                self._go_idle(rng.uniform(120.0, 300.0) if long_stop else rng.uniform(10.0, 90.0))
                if long_stop and rng.random() < 0.6 and not self.setpoint_written:
                    self.setpoint = round(self.base_setpoint * rng.choice((0.8, 0.9, 1.0, 1.1, 1.2)), -1)
        elif self.t >= self.state_until:
            if self.state == MachineState.DOWN:
                if self.alarm_code in (310, 412):
                    self.wear *= 0.2  # spindle service / new tool
                self.alarm_code = 0
                self._go_idle(self.rng.uniform(5.0, 20.0), allow_door=False)
            else:
                self.state = MachineState.RUNNING
                self.state_until = math.inf
                self._door_plan = (math.inf, math.inf)
        opens, closes = self._door_plan
        self.door_open = opens <= self.t < closes

    def _go_idle(self, duration: float, *, allow_door: bool = True) -> None:
        self.state = MachineState.IDLE
        self.state_until = math.inf if self.operator_stopped else self.t + duration
        if allow_door and duration > 15 and self.rng.random() < 0.6:
            self._door_plan = (self.t + 4.0, self.state_until - 5.0)
        else:
            self._door_plan = (math.inf, math.inf)

    def _go_down(self, code: int, repair: float) -> None:
        self.state = MachineState.DOWN
        self.alarm_code = code
        self.state_until = self.t + repair
        self.cycle_elapsed = 0.0  # the part is re-machined from the start
        # A technician opens the guard door for most repairs, not for an e-stop reset.
        if code != 520 and self.rng.random() < 0.8:
            self._door_plan = (self.t + self.rng.uniform(15.0, 40.0), self.state_until - 8.0)
        else:
            self._door_plan = (math.inf, math.inf)

    # -- physics -------------------------------------------------------------------------------------------

    def _next_cycle_target(self) -> float:
        base = self.nominal_cycle * self.base_setpoint / max(self.setpoint, 1.0)
        if self.feed_override != 100:
            base *= 100 / max(self.feed_override, 10)
        return max(5.0, base * (1 + self.rng.gauss(0.0, 0.03)))

    def _mechanics(self, dt: float) -> None:
        rng = self.rng
        running = self.state == MachineState.RUNNING
        target = self.setpoint if running else 0.0
        accel = max(self.setpoint, 600.0) / 5.0  # rpm/s: about 5 s to full speed
        accelerating = braking = False
        if self.speed < target - 1.0:
            accelerating = True
            self.speed = min(target, self.speed + accel * dt)
        elif running and self.speed > target * 1.01 + 1.0:  # a lower setpoint (not the noise): brake down to it
            braking = True
            self.speed = max(target, self.speed - 1.5 * accel * dt)
        elif running:
            self.speed = max(0.0, target * (1 + rng.gauss(0.0, 0.0015)))
        elif self.state == MachineState.IDLE:
            braking = self.speed > 0.0
            self.speed = max(0.0, self.speed - 1.5 * accel * dt)
        else:  # DOWN: drive disabled, the spindle coasts down
            self.speed = max(0.0, self.speed * math.exp(-dt / 12.0) - 15.0 * dt)

        at_speed = running and not accelerating
        cutting = False
        if at_speed:
            self.cycle_elapsed += dt
            cutting = self.cycle_elapsed < 0.8 * self.cycle_target  # then unload / load the part
            if self.cycle_elapsed >= self.cycle_target:
                self.cycle_time = self.cycle_target
                reject_p = self.reject_rate * (1 + 2 * self.wear) + (0.1 if self.t < self._spike_until else 0)
                if rng.random() < reject_p:
                    self.reject_parts += 1
                else:
                    self.good_parts += 1
                self.cycle_elapsed -= self.cycle_target  # the next part started within this step
                self.cycle_target = self._next_cycle_target()
            self.wear = min(1.5, self.wear + self.wear_rate * dt)
        feed = self.setpoint * self.feed_per_rev
        if self.feed_override != 100:
            feed *= self.feed_override / 100
        self.feed_rate = max(0.0, feed * (1 + rng.gauss(0.0, 0.01))) if cutting else 0.0
        self._update_electrical(cutting=cutting, accelerating=accelerating, braking=braking, dt=dt)

        # Vibration: grows with wear and cutting; occasional spikes (chatter, chip in the tool).
        speed_frac = self.speed / 3000.0
        if running and self.t >= self._spike_until and rng.random() < _hazard(1 / 600, dt):
            self._spike_until = self.t + rng.uniform(2.0, 8.0)
            self._spike_amp = rng.uniform(3.0, 7.0)
        spike = self._spike_amp if self.t < self._spike_until else 0.0
        base = (0.8 + 2.5 * self.wear) * speed_frac * (1.3 if cutting else 1.0)
        self.vibration = min(20.0, max(0.0, 0.05 + base + spike * speed_frac + abs(rng.gauss(0.0, 0.08))))

        hydraulic_target = 0.0
        if self.state != MachineState.DOWN:
            hydraulic_target = self.nominal_pressure + (8.0 if cutting else 0.0)
        elif self.alarm_code == 205:
            hydraulic_target = 25.0  # leaking, pump still trying
        self.pressure = max(0.0, _lag(self.pressure, hydraulic_target, 2.0, dt) + rng.gauss(0.0, 0.5))

    def _update_electrical(self, *, cutting: bool, accelerating: bool, braking: bool, dt: float = 0.0) -> None:
        rng = self.rng
        if accelerating:
            torque = 1.2
        elif braking:
            torque = -0.6
        elif cutting:
            torque = self.cutting_torque * (1 + 0.3 * self.wear) * (1 + rng.gauss(0.0, 0.03))
        elif self.state == MachineState.RUNNING:
            torque = 0.08  # spinning, not cutting
        else:
            torque = 0.0
        self.torque = torque
        if self.state == MachineState.DOWN:
            current = 0.6  # drive disabled, control power only
        else:
            speed_frac = self.speed / max(self.setpoint, 1.0)
            current = 2.0 + self.rated_current * (0.2 * speed_frac + 0.85 * abs(torque))
        self.current = max(0.0, current + rng.gauss(0.0, 0.15))
        self.energy_kwh += self.power * dt / 3600.0

    def _motor_temp_target(self) -> float:
        return AMBIENT_C + 70.0 * (self.current / self.rated_current) ** 2

    def _bearing_temp_target(self) -> float:
        return AMBIENT_C + 28.0 * self.speed / 3000.0 + 10.0 * self.wear

    def _coolant_temp_target(self) -> float:
        return 19.0 + 0.3 * self.power

    def _thermal(self, dt: float) -> None:
        rng = self.rng
        self.motor_temp = _lag(self.motor_temp, self._motor_temp_target(), 480.0, dt)
        self.bearing_temp = _lag(self.bearing_temp, self._bearing_temp_target(), 700.0, dt)
        self.coolant_temp = _lag(self.coolant_temp, self._coolant_temp_target(), 400.0, dt)
        self.motor_temp_reading = self.motor_temp + rng.gauss(0.0, 0.1)
        self.bearing_temp_reading = self.bearing_temp + rng.gauss(0.0, 0.1)
        self.coolant_temp_reading = self.coolant_temp + rng.gauss(0.0, 0.05)


@dataclass(slots=True)
class Line:
    index: int
    unit_id: int
    name: str
    machines: list[Machine]

    def registers(self) -> list[int]:
        """All holding registers of the line's PLC: machine m at m*100."""
        regs: list[int] = []
        for machine in self.machines:
            regs.extend(machine.registers())
        return regs


class PlantSimulator:
    """Lines x machines. Not thread-safe: step() and reads belong to one thread (the server's loop)."""

    def __init__(
        self, lines: int = 3, machines_per_line: int = 3, *, seed: int = 1, start: float | None = None
    ) -> None:
        if not 1 <= lines <= 247:
            raise ValueError("lines must be 1..247 (one Modbus unit id each)")
        if not 1 <= machines_per_line <= 100:
            raise ValueError("machines_per_line must be 1..100")
        self.seed = seed
        rng = random.Random(seed)
        self.lines: list[Line] = []
        for li in range(lines):
            machines = [Machine(li, mi, random.Random(rng.getrandbits(64))) for mi in range(machines_per_line)]
            self.lines.append(Line(index=li, unit_id=li + 1, name=f"Line {li + 1}", machines=machines))
        self.machines_per_line = machines_per_line
        self._last: float | None = start
        self.time = 0.0  # simulated seconds since start

    @property
    def unit_ids(self) -> list[int]:
        return [line.unit_id for line in self.lines]

    def machine(self, line_index: int, machine_index: int) -> Machine:
        return self.lines[line_index].machines[machine_index]

    def all_machines(self) -> list[Machine]:
        return [m for line in self.lines for m in line.machines]

    def step(self, now: float) -> None:
        """Advance to wall-clock time `now` (any monotonic clock); the first call only sets the origin."""
        if self._last is None:
            self._last = now
            return
        elapsed = now - self._last
        self._last = now
        if elapsed <= 0:
            return
        elapsed = min(elapsed, MAX_CATCH_UP)
        while elapsed > 1e-9:
            dt = min(MAX_SUBSTEP, elapsed)
            for machine in self.all_machines():
                machine.advance(dt)
            self.time += dt
            elapsed -= dt
