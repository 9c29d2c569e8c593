"""Wear to failure, maintenance and sensor faults in the simulated plant (issue 15), with their ground truth: on the
plant's own clock (`step`), and served through the real Modbus TCP server and driver."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime

import pytest

from demo.simulator.modbus_server import PlantServerThread
from demo.simulator.plant import SIGNALS_BY_NAME, Machine, MachineCommand, MachineState, PlantSimulator
from demo.simulator.plant import machine_tag_address as address
from demo.simulator.production import FAULT_CODES, ideal_cycle_time
from demo.simulator.wear import DEMO_WEAR, MODES, FailureMode, SensorFaultKind, WearConfig
from historian.quality import Quality
from ingest.protocols.base import PointRequest, WriteStatus
from ingest.protocols.modbus.driver import ModbusTcpDriver
from production.kpis import Loss

CLOCK = datetime(2026, 3, 2, 6, 0, tzinfo=UTC).timestamp()  # 07:00 in the plant: no break for 60 minutes
BEARING, TOOL, PUMP = FailureMode.BEARING, FailureMode.TOOL, FailureMode.COOLANT_PUMP
NEW = {BEARING: 0.0, TOOL: 0.0, PUMP: 0.0}


def _plant(wear: dict[str, WearConfig], *, lines: int = 1, machines: int = 2, seed: int = 4) -> PlantSimulator:
    return PlantSimulator(lines, machines, seed=seed, start=0.0, clock=CLOCK, wear=wear)


def _run_to(plant: PlantSimulator, t: float) -> None:
    for second in range(int(plant.time) + 1, int(t) + 1):
        plant.step(float(second))


def _cutting(machine: Machine) -> bool:
    return machine.state == MachineState.RUNNING and machine.feed_rate > 0


def test_each_failure_mode_has_its_own_breakdown_code() -> None:
    codes = [spec.fault_code for spec in MODES.values()]
    assert len(set(codes)) == 3
    assert all(FAULT_CODES[code][1] == Loss.BREAKDOWN for code in codes)


def test_bearing_wears_slowly_then_faster_and_fails_at_the_ground_truth_time() -> None:
    plant = _plant({"L1-M1": WearConfig(mode_rates={BEARING: 60.0}, initial_age=NEW)})
    machine = plant.machine(0, 0)
    failure_at = plant.ground_truth().failure_at("L1-M1", BEARING) - CLOCK  # known from the start: ~2 h
    assert 3600 < failure_at < 4 * 3600
    damage: list[float] = []
    hf: list[tuple[float, float]] = []  # (damage, vibration_hf) while cutting
    rms: list[tuple[float, float]] = []
    current: list[tuple[float, float]] = []
    bearing_temperature: list[tuple[float, float]] = []
    second = 0
    while machine.alarm_code != MODES[BEARING].fault_code:
        second += 1
        plant.step(float(second))
        damage.append(machine.damage[BEARING])
        if _cutting(machine):
            v, d = machine.values(), machine.damage[BEARING]
            hf.append((d, v["vibration_hf"] / (machine.speed / 3000)))
            rms.append((d, v["vibration_rms"] / (machine.speed / 3000)))
            current.append((d, v["motor_current"]))
            bearing_temperature.append((d, v["bearing_temperature"]))
        assert second < failure_at + 2, "no failure at the ground-truth time"

    # The breakdown comes at the first step at or after the true failure time, with the bearing's code.
    assert failure_at <= second < failure_at + 1
    assert machine.state == MachineState.DOWN
    # Damage only grows, and faster near the end: the last fifth of the life adds more than the first half.
    assert all(b >= a for a, b in itertools.pairwise(damage))
    n = len(damage)
    assert damage[-1] == 1.0
    assert damage[-1] - damage[4 * n // 5] > 3 * (damage[n // 2] - damage[0])
    # The signals follow the damage: their means while cutting, first half of the life against its last tenth.
    for series, rise in ((hf, 2.0), (rms, 2.0), (current, 1.5), (bearing_temperature, 5.0)):
        early = statistics.fmean(v for d, v in series[: len(series) // 2])
        late = statistics.fmean(v for d, v in series[9 * len(series) // 10 :])
        assert late > early + rise, (early, late)


def test_the_repair_of_a_failure_fits_a_new_part_and_the_ground_truth_records_it() -> None:
    plant = _plant({"L1-M1": WearConfig(mode_rates={BEARING: 600.0}, initial_age={BEARING: 0.5})})
    machine = plant.machine(0, 0)
    first = plant.ground_truth().failure_at("L1-M1", BEARING)
    _run_to(plant, first - CLOCK + 1)
    assert machine.alarm_code == 715
    assert machine.command(MachineCommand.RESET_FAULT)  # the repair is done
    assert machine.damage[BEARING] < 0.05
    truth = plant.ground_truth()
    [failure] = [life for life in truth.failures if life.machine == "L1-M1"]
    assert (failure.mode, failure.failure_at, failure.ended_by) == (BEARING, first, "failure")
    assert failure.end == pytest.approx(plant.clock)
    assert truth.failure_at("L1-M1", BEARING) > plant.clock + 3600 * 0.1  # the new bearing's life


def test_tool_wear_creeps_into_load_and_cycle_time_and_fails_with_its_code() -> None:
    plant = _plant({"L1-M1": WearConfig(mode_rates={TOOL: 4.0}, initial_age=NEW)}, machines=1, seed=1)
    machine = plant.machine(0, 0)
    failure_at = plant.ground_truth().failure_at("L1-M1", TOOL) - CLOCK
    cycles: list[tuple[float, float]] = []
    loads: list[tuple[float, int]] = []
    last_count = machine.part_count
    second = 0
    while machine.alarm_code != 716:
        second += 1
        plant.step(float(second))
        if machine.alarm_code == 412:  # a random tool breakage fits a new tool: end the test's life there
            pytest.fail("a random tool breakage (likelier as the tool wears): this seed does not reach the failure")
        if machine.part_count != last_count:
            cycles.append((second / failure_at, machine.cycle_time / ideal_cycle_time(machine.product)))
            last_count = machine.part_count
        if _cutting(machine):
            loads.append((second / failure_at, machine.spindle_load))
        assert second < failure_at + 2
    assert failure_at <= second < failure_at + 1
    early_cycle = statistics.median(c for f, c in cycles if f < 0.5)
    late_cycle = statistics.median(c for f, c in cycles if f > 0.85)
    assert late_cycle > 1.05 * early_cycle
    assert statistics.fmean(v for f, v in loads if f > 0.85) > statistics.fmean(v for f, v in loads if f < 0.5) + 8


def test_a_worn_coolant_pump_loses_pressure_and_warms_the_coolant() -> None:
    new = _plant({"L1-M1": WearConfig(initial_age={PUMP: 0.0})}, machines=1)
    worn = _plant({"L1-M1": WearConfig(initial_age={PUMP: 0.95})}, machines=1)
    pressures: dict[str, list[float]] = {"new": [], "worn": []}
    for second in range(1, 1801):
        for name, plant in (("new", new), ("worn", worn)):
            plant.step(float(second))
            if second > 1200 and plant.machine(0, 0).state == MachineState.RUNNING:
                pressures[name].append(plant.machine(0, 0).values()["coolant_pressure"])
    assert statistics.fmean(pressures["worn"]) < 0.7 * statistics.fmean(pressures["new"])
    new_temperature = new.machine(0, 0).values()["coolant_temperature"]
    assert worn.machine(0, 0).values()["coolant_temperature"] > new_temperature + 4


def test_maintenance_resets_the_wear_by_command_and_by_the_python_api() -> None:
    plant = _plant({"L1-M1": WearConfig(initial_age=0.9), "L1-M2": WearConfig(initial_age=0.9)})
    _run_to(plant, 60)
    first, second = plant.machine(0, 0), plant.machine(0, 1)
    assert min(first.damage.values()) > 0.5

    assert first.write("command", MachineCommand.MAINTENANCE) == MachineCommand.MAINTENANCE
    plant.maintenance_done("L1-M2", [TOOL])

    assert max(first.damage.values()) < 0.05
    assert second.damage[TOOL] < 0.05 < 0.5 < second.damage[BEARING]
    maintained = [life for life in plant.ground_truth().lives if life.ended_by == "maintenance"]
    assert sorted((life.machine, life.mode) for life in maintained) == sorted(
        [("L1-M1", BEARING), ("L1-M1", TOOL), ("L1-M1", PUMP), ("L1-M2", TOOL)]
    )
    assert all(life.end == pytest.approx(CLOCK + 60) for life in maintained)


def test_maintenance_during_a_wear_failure_ends_its_repair() -> None:
    plant = _plant({"L1-M1": WearConfig(mode_rates={PUMP: 2000.0}, initial_age={PUMP: 0.5})})
    machine = plant.machine(0, 0)
    _run_to(plant, plant.ground_truth().failure_at("L1-M1", PUMP) - CLOCK + 120)
    assert machine.alarm_code == 717
    assert machine.command(MachineCommand.MAINTENANCE)
    assert machine.alarm_code == 0
    assert machine.state == MachineState.IDLE  # restarting
    ended = {life.mode: life.ended_by for life in plant.ground_truth().lives if life.end is not None}
    assert ended == {PUMP: "failure", BEARING: "maintenance", TOOL: "maintenance"}


FIRST_SECONDS = {300: {"bearing_temperature"}, 400: {"vibration_rms"}}


def test_sensor_faults_change_only_the_reading_and_are_flagged_in_the_ground_truth() -> None:
    faulty, twin = _plant({}), _plant({})
    machine = faulty.machine(0, 0)
    machine.sensor_fault_add("bearing_temperature", SensorFaultKind.STUCK, start=300, duration=600)
    machine.sensor_fault_add("vibration_rms", SensorFaultKind.DRIFT, start=400, duration=300, rate=6.0)
    machine.sensor_fault_add("coolant_pressure", SensorFaultKind.DROPOUT, start=500, duration=100)
    stuck: set[float] = set()
    for second in range(1, 1001):
        faulty.step(float(second))
        twin.step(float(second))
        seen, true = machine.values(), twin.machine(0, 0).values()
        assert machine._true_values() == true  # the machine itself is the same as without the faults
        changed = {name for name in seen if seen[name] != true[name]}  # (NaN != NaN)
        expected = set()
        if 300 <= second < 900:
            stuck.add(seen["bearing_temperature"])
            expected.add("bearing_temperature")
        if 400 <= second < 700:
            drift = seen["vibration_rms"] - true["vibration_rms"]
            assert drift == pytest.approx(6.0 * (second - 400) / 3600, abs=1e-9)
            expected.add("vibration_rms")
        if 500 <= second < 600:
            assert math.isnan(seen["coolant_pressure"])
            expected.add("coolant_pressure")
        assert changed <= expected, second
        # At its first second a stuck reading still is the true one, and a drift has not run away yet.
        assert expected - changed <= FIRST_SECONDS.get(second, set()), second
    assert len(stuck) == 1
    faults = sorted((f.signal, f.kind, f.start - CLOCK, f.end - CLOCK) for f in faulty.ground_truth().sensor_faults)
    assert faults == [
        ("bearing_temperature", SensorFaultKind.STUCK, 300, 900),
        ("coolant_pressure", SensorFaultKind.DROPOUT, 500, 600),
        ("vibration_rms", SensorFaultKind.DRIFT, 400, 700),
    ]
    assert not twin.ground_truth().sensor_faults


def test_random_sensor_faults_come_at_the_configured_rate_and_are_all_flagged() -> None:
    plant = _plant({"L1-M1": WearConfig(sensor_fault_rate=3.0)}, machines=1)
    machine = plant.machine(0, 0)
    for second in range(1, 4 * 3600 + 1):
        plant.step(float(second))
        seen, true = machine.values(), machine._true_values()
        at = plant.clock
        for name in seen:
            if seen[name] != true[name]:
                assert any(f.signal == name and f.start <= at < f.end for f in plant.ground_truth().sensor_faults), name
    faults = plant.ground_truth().sensor_faults
    assert 4 <= len(faults) <= 24  # 12 expected in 4 h
    assert {f.kind for f in faults} == set(SensorFaultKind)


def test_the_wear_is_reproducible_and_each_machine_has_its_own() -> None:
    def lives(plant: PlantSimulator, machine: str) -> list[tuple[str, float]]:
        return [(life.mode, life.failure_at) for life in plant.ground_truth().lives if life.machine == machine]

    assert lives(_plant({}), "L1-M1") == lives(_plant({}, lines=2, machines=3), "L1-M1")
    assert lives(_plant({}), "L1-M1") != lives(_plant({}), "L1-M2")
    assert lives(_plant({}), "L1-M1") != lives(_plant({}, seed=5), "L1-M1")
    seeded = {"L1-M1": WearConfig(seed=99)}
    assert lives(_plant(seeded), "L1-M1") == lives(_plant(seeded, seed=5), "L1-M1")
    with pytest.raises(ValueError, match="L9-M9"):
        _plant({"L9-M9": WearConfig()})


def test_the_demo_machine_fails_within_a_quarter_of_an_hour_and_alarms_before() -> None:
    plant = PlantSimulator(seed=1, start=0.0, clock=CLOCK, wear=DEMO_WEAR)
    machine = plant.machine_named("L1-M2")
    failure_at = plant.ground_truth().failure_at("L1-M2", BEARING) - CLOCK
    assert 8 * 60 < failure_at < 20 * 60
    above = 0  # seconds with vibration above the demo's 6 mm/s alarm limit, in the first 10 minutes
    for second in range(1, 601):
        plant.step(float(second))
        above += machine.values()["vibration_rms"] > 6.0
    assert above > 10


def _point(machine: int, signal: str) -> PointRequest:
    spec = SIGNALS_BY_NAME[signal]
    return PointRequest(1, address(machine, spec), spec.data_type)


WEAR_SIGNALS = ("vibration_rms", "vibration_hf", "bearing_temperature", "motor_current", "coolant_pressure")


def test_over_modbus_the_signals_show_the_wear_and_a_maintenance_command_resets_it() -> None:
    # Two plants alike but for the age of one machine's bearing and pump: the same states at the same times.
    new = _plant({"L1-M1": WearConfig(initial_age={BEARING: 0.0, PUMP: 0.0})})
    worn = _plant({"L1-M1": WearConfig(initial_age={BEARING: 0.9, PUMP: 0.9})})
    _run_to(new, 1200)
    while not (_cutting(new.machine(0, 0)) and new.machine(0, 0).speed > 0.99 * new.machine(0, 0).setpoint):
        _run_to(new, new.time + 1)
    _run_to(worn, new.time)
    assert worn.machine(0, 0).state == MachineState.RUNNING
    now = worn.time
    readings: dict[str, dict[str, float]] = {}
    for name, plant in (("new", new), ("worn", worn)):
        # The plant's own clock stands still while served: the registers hold this instant.
        server = PlantServerThread(plant, tick_seconds=0.05, clock=lambda: now)
        with server, ModbusTcpDriver(server.host, server.port, 1) as driver:
            got = driver.read([_point(0, signal) for signal in WEAR_SIGNALS])
            assert all(r.quality == Quality.GOOD for r in got)
            readings[name] = {s: r.value for s, r in zip(WEAR_SIGNALS, got, strict=True)}  # type: ignore[misc]
            if name == "worn":
                done = driver.write(_point(0, "command"), MachineCommand.MAINTENANCE, timeout=2.0)
                assert done.status == WriteStatus.CONFIRMED, done
    w, n = readings["worn"], readings["new"]
    assert w["vibration_hf"] > 3 * n["vibration_hf"]
    assert w["vibration_rms"] > n["vibration_rms"] + 2
    assert w["bearing_temperature"] > n["bearing_temperature"] + 8
    assert w["motor_current"] > n["motor_current"] + 1
    assert w["coolant_pressure"] < 0.75 * n["coolant_pressure"]
    assert max(worn.machine(0, 0).damage.values()) < 0.05
    assert {life.ended_by for life in worn.ground_truth().lives if life.machine == "L1-M1"} == {"maintenance", None}


def test_over_modbus_a_sensor_dropout_reads_as_bad_quality() -> None:
    plant = _plant({}, machines=1)
    plant.machine(0, 0).sensor_fault_add("vibration_hf", SensorFaultKind.DROPOUT, start=10, duration=60)
    _run_to(plant, 20)
    server = PlantServerThread(plant, tick_seconds=0.05, clock=lambda: 20.0)
    with server, ModbusTcpDriver(server.host, server.port, 1) as driver:
        dropout, fine = driver.read([_point(0, "vibration_hf"), _point(0, "vibration_rms")])
    assert dropout.quality != Quality.GOOD
    assert fine.quality == Quality.GOOD
