"""Wear that ends in a failure unless maintained, and sensor faults, with their ground truth (issue 15).

Each machine carries three failure modes, each a damage D that grows from a small initial value d0 (a new part)
to 1 (failure) along an exponential curve, slowly then faster, as cracks and spalls grow (Paris-law-like):

    D(age) = d0 * exp(age / theta),   theta = life / ln(1 / d0),   so D(life) = 1

over service time (the plant's own clock: the demo plant works around the clock). A part's life is drawn when it is
fitted (lognormal around the mode's mean life divided by the machine's wear rate), so the true failure time is known
from that moment: that is the ground truth the benchmark measures detectors against, and the simulator exposes it only
through this Python API (`PlantSimulator.ground_truth()`), never over Modbus, OPC UA or Sparkplug. What a detector
sees is the damage's effect on the signals, with their noise (`demo.simulator.plant.Machine`):

    bearing        spindle bearing: vibration rms and its high-frequency band, bearing temperature, motor current
    tool           cutting tool: spindle load and cycle time creep, the reject rate rises
    coolant_pump   coolant pump: coolant pressure falls, coolant temperature rises

When D reaches 1 the machine breaks down with the mode's own fault code (FAILURE_CODES, in the production layer's
fault codes, so OEE counts it); the repair fits a new part. Maintenance (the command register's MAINTENANCE code, or
`PlantSimulator.maintenance_done`) fits new parts before that.

Sensor faults are not machine faults: a stuck value, a drift or a dropout (NaN: the driver stores bad quality) of
one analog signal for a while; the machine itself is unaffected. They are injected (`Machine.sensor_fault_add`) or
drawn at a configured rate, and listed in the ground truth as sensor faults.

Every random draw here comes from the machine's own wear generator (seeded from the plant's seed and the machine's
name, or from `WearConfig.seed`), so the wear of a machine does not change with what the rest of the plant does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class FailureMode(StrEnum):
    BEARING = "bearing"
    TOOL = "tool"
    COOLANT_PUMP = "coolant_pump"


class SensorFaultKind(StrEnum):
    STUCK = "stuck"  # the reading freezes at its value when the fault starts
    DRIFT = "drift"  # the reading runs away from the true value at a constant rate
    DROPOUT = "dropout"  # no reading: NaN (a wire break), stored as bad quality


@dataclass(frozen=True, slots=True)
class ModeSpec:
    fault_code: int
    mean_life_hours: float  # at wear rate 1
    repair_seconds: tuple[float, float]


#: The failure modes' fault codes (also in `demo.simulator.production.FAULT_CODES`), mean lives and repair times.
MODES: dict[FailureMode, ModeSpec] = {
    FailureMode.BEARING: ModeSpec(715, 120.0, (1200.0, 2400.0)),
    FailureMode.TOOL: ModeSpec(716, 8.0, (300.0, 600.0)),
    FailureMode.COOLANT_PUMP: ModeSpec(717, 200.0, (900.0, 1800.0)),
}
FAILURE_CODES: dict[int, FailureMode] = {spec.fault_code: mode for mode, spec in MODES.items()}
INITIAL_DAMAGE = (0.02, 0.05)  # d0 of a new part: its health starts just below 1
LIFE_SPREAD = 0.2  # sigma of the lognormal life around the mean
#: The analog signals a sensor fault can hit, with the drift rate range (units per hour) of each.
SENSOR_FAULT_SIGNALS: dict[str, tuple[float, float]] = {
    "vibration_rms": (1.0, 3.0),
    "vibration_hf": (0.5, 2.0),
    "bearing_temperature": (8.0, 20.0),
    "motor_temperature": (8.0, 20.0),
    "coolant_temperature": (4.0, 10.0),
    "coolant_pressure": (1.0, 2.5),
    "motor_current": (4.0, 10.0),
}
SENSOR_FAULT_SECONDS = (600.0, 3600.0)


@dataclass(frozen=True, slots=True)
class WearConfig:
    """How one machine wears. `wear_rate` multiplies the speed of every mode, `mode_rates` that of one more;
    `initial_age`: the fraction of its life each part has already run at the start (None: drawn in 0-0.6);
    `sensor_fault_rate`: random sensor faults per hour (0: only injected ones); `seed`: the wear generator's seed
    (None: from the plant's seed and the machine's name)."""

    wear_rate: float = 1.0
    mode_rates: Mapping[FailureMode, float] = field(default_factory=dict)
    initial_age: float | Mapping[FailureMode, float] | None = None
    sensor_fault_rate: float = 0.0
    seed: int | str | None = None

    def __post_init__(self) -> None:
        if self.wear_rate <= 0 or any(rate <= 0 for rate in self.mode_rates.values()):
            raise ValueError("wear rates must be positive")
        ages = self.initial_age.values() if isinstance(self.initial_age, Mapping) else [self.initial_age]
        if any(age is not None and not 0 <= age < 1 for age in ages):
            raise ValueError("initial_age is a fraction of the life: 0 <= age < 1")
        if self.sensor_fault_rate < 0:
            raise ValueError("sensor_fault_rate must be >= 0")

    def rate(self, mode: FailureMode) -> float:
        return self.wear_rate * self.mode_rates.get(mode, 1.0)

    def age(self, mode: FailureMode) -> float | None:
        if isinstance(self.initial_age, Mapping):
            return self.initial_age.get(mode)
        return self.initial_age


#: The demo plant's wear: machine L1-M2 (CNC 102, line 1, over Modbus) has a spindle bearing about to go, so a
#: visitor sees its vibration and bearing temperature climb and the vibration alarm within ~10 minutes, the bearing
#: failure (fault 715) about 15 minutes in, and after the repair a new bearing that lasts about an hour.
DEMO_WEAR: dict[str, WearConfig] = {
    "L1-M2": WearConfig(mode_rates={FailureMode.BEARING: 120.0}, initial_age={FailureMode.BEARING: 0.75}),
}


@dataclass(frozen=True, slots=True)
class Life:
    """One part's life (plant seconds, `PlantSimulator.time`): fitted at `start`, fails at `failure_at` unless it
    ends first (`end`, `ended_by`: failure, maintenance, or replaced after another fault)."""

    machine: str
    mode: FailureMode
    start: float
    failure_at: float
    end: float | None = None
    ended_by: str | None = None


@dataclass(frozen=True, slots=True)
class SensorFault:
    """A sensor fault of `signal` over [start, end) plant seconds; `rate`: a drift's units per hour."""

    machine: str
    signal: str
    kind: SensorFaultKind
    start: float
    end: float
    rate: float = 0.0


@dataclass(slots=True)
class _Part:
    start: float
    d0: float
    life: float  # s

    def damage(self, t: float) -> float:
        return min(1.0, self.d0 ** (1.0 - (t - self.start) / self.life))

    @property
    def failure_at(self) -> float:
        return self.start + self.life


class MachineWear:
    """The failure modes and sensor faults of one machine, and their history (its ground truth)."""

    def __init__(self, machine: str, config: WearConfig, rng: random.Random) -> None:
        self.machine = machine
        self.config = config
        self.rng = rng
        self.parts: dict[FailureMode, _Part] = {}
        self.lives: list[Life] = []
        for mode in FailureMode:
            age = config.age(mode)
            self._fit(mode, 0.0, age=rng.uniform(0.0, 0.6) if age is None else age)
        self.sensor_faults: list[SensorFault] = []
        self._stuck: dict[int, float] = {}  # index in sensor_faults -> the frozen reading
        self._next_random_fault = self._draw_fault_gap(0.0)

    def _fit(self, mode: FailureMode, t: float, *, age: float = 0.0) -> None:
        rng = self.rng
        life = MODES[mode].mean_life_hours * 3600.0 / self.config.rate(mode) * rng.lognormvariate(0.0, LIFE_SPREAD)
        part = _Part(start=t - age * life, d0=rng.uniform(*INITIAL_DAMAGE), life=life)
        self.parts[mode] = part
        self.lives.append(Life(self.machine, mode, t, part.failure_at))

    def renew(self, mode: FailureMode, t: float, ended_by: str) -> None:
        """Fit a new part for `mode` at `t`: the running life ends (`ended_by`), a new one starts."""
        i = max(i for i, life in enumerate(self.lives) if life.mode == mode)
        life = self.lives[i]
        self.lives[i] = Life(life.machine, mode, life.start, life.failure_at, t, ended_by)
        self._fit(mode, t)

    def damage(self, mode: FailureMode, t: float) -> float:
        """D in (0, 1]: 1 is failure (health = 1 - D)."""
        return self.parts[mode].damage(t)

    def failed(self, t: float) -> list[FailureMode]:
        """The modes whose part has reached failure at `t`."""
        return [mode for mode, part in self.parts.items() if t >= part.failure_at]

    # -- sensor faults -----------------------------------------------------------------------------------------

    def sensor_fault_add(
        self, signal: str, kind: SensorFaultKind, start: float, duration: float, *, rate: float = 0.0
    ) -> SensorFault:
        if signal not in SENSOR_FAULT_SIGNALS:
            raise ValueError(f"{signal}: sensor faults hit one of {', '.join(SENSOR_FAULT_SIGNALS)}")
        if duration <= 0:
            raise ValueError("a sensor fault lasts a positive time")
        fault = SensorFault(self.machine, signal, SensorFaultKind(kind), start, start + duration, rate)
        self.sensor_faults.append(fault)
        return fault

    def _draw_fault_gap(self, t: float) -> float:
        rate = self.config.sensor_fault_rate
        return t + self.rng.expovariate(rate / 3600.0) if rate > 0 else math.inf

    def step(self, t: float, readings: Callable[[], Mapping[str, float]]) -> None:
        """After the physics at `t`: start random sensor faults that are due, freeze the readings of stuck ones
        (`readings()`: the true ones)."""
        if t >= self._next_random_fault:
            rng = self.rng
            signal = rng.choice(sorted(SENSOR_FAULT_SIGNALS))
            kind = rng.choice(list(SensorFaultKind))
            rate = rng.uniform(*SENSOR_FAULT_SIGNALS[signal]) * rng.choice((-1.0, 1.0))
            self.sensor_fault_add(signal, kind, t, rng.uniform(*SENSOR_FAULT_SECONDS), rate=rate)
            self._next_random_fault = self._draw_fault_gap(t)
        for i, fault in enumerate(self.sensor_faults):
            if fault.kind == SensorFaultKind.STUCK and i not in self._stuck and fault.start <= t < fault.end:
                self._stuck[i] = readings()[fault.signal]

    def readings(self, t: float, values: dict[str, float]) -> dict[str, float]:
        """`values` as the sensors report them at `t` (changed in place and returned)."""
        for i, fault in enumerate(self.sensor_faults):
            if not fault.start <= t < fault.end:
                continue
            if fault.kind == SensorFaultKind.DROPOUT:
                values[fault.signal] = math.nan
            elif fault.kind == SensorFaultKind.STUCK:
                values[fault.signal] = self._stuck.get(i, values[fault.signal])
            else:
                values[fault.signal] += fault.rate * (t - fault.start) / 3600.0
        return values
