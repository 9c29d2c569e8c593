"""The simulated plant: physics sanity, reproducibility, and serving it over real Modbus TCP."""

from __future__ import annotations

import itertools
import re
import signal
import socket
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from demo.simulator.modbus_server import PlantServerThread, ServerBindError
from demo.simulator.plant import (
    MACHINE_BLOCK_SIZE,
    MACHINE_SIGNALS,
    SIGNALS_BY_NAME,
    MachineState,
    PlantSimulator,
    machine_tag_address,
)
from historian.quality import Quality
from ingest.protocols.base import DeviceUnreachable, PointRequest
from ingest.protocols.modbus.address import parse_modbus_address
from ingest.protocols.modbus.driver import ModbusTcpDriver
from tests.waiting import wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[3]
COUNTERS = ("part_count", "good_parts", "reject_parts", "energy_total")
History = tuple[PlantSimulator, list[list[dict[str, float]]]]


@pytest.fixture(scope="module")
def hour_of_history() -> History:
    """One simulated hour of a 3 x 3 plant in 1 s steps: history[t][machine] = values. It starts at 07:30 in the
    plant (Europe/Berlin), so the early shift's 15-minute break at 08:00 falls in it."""
    plant = PlantSimulator(seed=11, start=0.0, clock=datetime(2026, 3, 2, 6, 30, tzinfo=UTC).timestamp())
    history = [[m.values() for m in plant.all_machines()]]
    for t in range(1, 3601):
        plant.step(float(t))
        history.append([m.values() for m in plant.all_machines()])
    return plant, history


def test_layout_is_consistent() -> None:
    used: dict[int, str] = {}
    for spec in MACHINE_SIGNALS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.name)
        assert spec.span[0] < spec.span[1]
        if spec.bit is not None:
            assert spec.data_type == "bool"
            assert 0 <= spec.bit <= 15
            continue
        for reg in range(spec.offset, spec.offset + spec.register_count):
            assert reg not in used, f"{spec.name} overlaps {used.get(reg)}"
            used[reg] = spec.name
    assert max(used) < MACHINE_BLOCK_SIZE
    assert len(MACHINE_SIGNALS) >= 18
    keys = [s.name for s in MACHINE_SIGNALS if s.key]
    assert 4 <= len(keys) <= 5
    assert {"state", "spindle_speed", "vibration_rms", "part_count"} <= set(keys)
    assert SIGNALS_BY_NAME["part_count"].data_type == "uint32"


def test_machine_tag_addresses_use_the_historian_grammar() -> None:
    assert machine_tag_address(0, SIGNALS_BY_NAME["state"]) == "HR0"
    assert machine_tag_address(1, SIGNALS_BY_NAME["spindle_speed"]) == "HR104"
    assert machine_tag_address(2, SIGNALS_BY_NAME["door_open"]) == "HR201.2"
    for machine in range(3):
        for spec in MACHINE_SIGNALS:
            parsed = parse_modbus_address(machine_tag_address(machine, spec), spec.data_type)
            assert parsed.table == "hr"
            assert machine * MACHINE_BLOCK_SIZE <= parsed.offset < (machine + 1) * MACHINE_BLOCK_SIZE


def test_signals_stay_in_physical_ranges_for_an_hour(hour_of_history: History) -> None:
    _, history = hour_of_history
    for before, snapshot in zip([history[0], *history], history, strict=False):
        for was, v in zip(before, snapshot, strict=True):
            for spec in MACHINE_SIGNALS:
                if spec.name not in COUNTERS:
                    lo, hi = spec.span
                    assert lo <= v[spec.name] <= hi, (spec.name, v[spec.name])
            # Above the setpoint only while braking down to a lowered one.
            assert v["spindle_speed"] <= v["speed_setpoint"] * 1.01 or v["spindle_speed"] < was["spindle_speed"]
            assert v["motor_temperature"] > 15.0
            assert v["bearing_temperature"] > 15.0
            assert v["part_count"] == v["good_parts"] + v["reject_parts"]
            assert 0 <= v["reject_parts"] <= v["part_count"]
            state = MachineState(int(v["state"]))
            assert v["running"] == (state == MachineState.RUNNING)
            # The fault code stays latched while the machine is locked out (off) for its repair.
            assert v["fault"] == (v["alarm_code"] != 0)
            assert (v["alarm_code"] != 0) == (state in (MachineState.DOWN, MachineState.OFF))
            if state == MachineState.RUNNING:
                assert not v["door_open"]
            else:
                assert v["feed_rate"] == 0.0


def test_counters_only_increase_and_only_while_running(hour_of_history: History) -> None:
    _, history = hour_of_history
    produced = 0
    for before, after in itertools.pairwise(history):
        for b, a in zip(before, after, strict=True):
            for name in COUNTERS:
                assert a[name] >= b[name], name
            if a["part_count"] != b["part_count"]:
                assert a["state"] == MachineState.RUNNING
                assert a["part_count"] == b["part_count"] + 1
                produced += 1
    # 9 machines, ~25-90 s cycles, mostly running: a few hundred parts per hour.
    assert 200 < produced < 2000


def test_machines_change_state(hour_of_history: History) -> None:
    _, history = hour_of_history
    seen: Counter[MachineState] = Counter()
    transitions = 0
    for before, after in itertools.pairwise(history):
        for b, a in zip(before, after, strict=True):
            seen[MachineState(int(a["state"]))] += 1
            transitions += a["state"] != b["state"]
    assert set(seen) == set(MachineState)
    total = sum(seen.values()) - seen[MachineState.PLANNED_STOP]
    assert seen[MachineState.RUNNING] / total > 0.6  # mostly running outside the break
    assert seen[MachineState.DOWN] / total < 0.25
    assert transitions >= 20


def test_running_machine_physics(hour_of_history: History) -> None:
    _, history = hour_of_history
    # Whenever a machine has been running at speed, current, power and temperature follow the load.
    for snapshot in history[600:]:
        for v in snapshot:
            if v["state"] == MachineState.RUNNING and v["spindle_speed"] > 0.97 * v["speed_setpoint"]:
                assert v["motor_current"] > 5.0
                assert v["power"] == pytest.approx(v["motor_current"] * 0.4 * 0.85 * 3**0.5, rel=1e-9)
                assert v["hydraulic_pressure"] > 80.0
                assert v["vibration_rms"] > 0.2
            if v["state"] == MachineState.DOWN:
                assert v["motor_current"] < 2.0


def test_reproducible_with_a_seed() -> None:
    def run(seed: int) -> list[list[int]]:
        plant = PlantSimulator(2, 2, seed=seed, clock=1_772_430_000.0)
        for t in range(0, 900, 3):
            plant.step(1000.0 + t * 0.7)
        return [line.registers() for line in plant.lines]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_step_uses_elapsed_time() -> None:
    plant = PlantSimulator(1, 1, seed=2)
    plant.step(100.0)  # sets the origin only
    assert plant.time == 0.0
    plant.step(102.5)
    assert plant.time == pytest.approx(2.5)
    plant.step(101.0)  # clock went backwards: ignored
    assert plant.time == pytest.approx(2.5)


def _points(machines: int) -> list[PointRequest]:
    return [
        PointRequest(tag_id=m * 1000 + i, address=machine_tag_address(m, spec), data_type=spec.data_type)
        for m in range(machines)
        for i, spec in enumerate(MACHINE_SIGNALS)
    ]


def test_server_serves_simulator_values() -> None:
    plant = PlantSimulator(lines=2, machines_per_line=2, seed=5)
    # A long tick: the registers are published once, so they can be compared with the plant.
    with PlantServerThread(plant, tick_seconds=60) as server:
        for line in plant.lines:
            with ModbusTcpDriver(server.host, server.port, line.unit_id) as driver:
                readings = driver.read(_points(2))
            for reading in readings:
                machine, index = divmod(reading.tag_id, 1000)
                spec = MACHINE_SIGNALS[index]
                expected = line.machines[machine].values()[spec.name]
                assert reading.quality == Quality.GOOD
                if spec.data_type == "float32":
                    assert reading.value == pytest.approx(expected, rel=1e-6, abs=1e-6), spec.name
                else:
                    assert reading.value == expected, spec.name


def test_server_refreshes_registers_and_answers_unknown_units_like_a_gateway() -> None:
    with PlantServerThread(PlantSimulator(lines=1, machines_per_line=1, seed=9), tick_seconds=0.05) as server:
        energy = [PointRequest(1, machine_tag_address(0, SIGNALS_BY_NAME["energy_total"]), "float64")]
        with ModbusTcpDriver(server.host, server.port, 1) as driver:
            first = driver.read(energy)[0].value
            assert first is not None
            wait_until(
                lambda: (driver.read(energy)[0].value or 0) > first, timeout=10, what="a refreshed energy register"
            )
        unreachable = pytest.raises(DeviceUnreachable, match="Modbus exception 11 \\(gateway target device failed")
        with ModbusTcpDriver(server.host, server.port, 7) as driver, unreachable:
            driver.read(energy)


def test_port_in_use_is_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(ServerBindError, match=f"cannot listen on 127.0.0.1:{port}: .*in use"):
            PlantServerThread(PlantSimulator(1, 1), port=port).start()


def test_command_line_runs_until_sigterm(simulator) -> None:
    proc = simulator("--port", "0", "--lines", "2", "--machines-per-line", "2", "--seed", "3")
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"simulated plant: 2 lines x 2 machines on 127\.0\.0\.1:(\d+), unit ids 1\.\.2$", line)
    assert match, line
    port = int(match[1])
    with ModbusTcpDriver("127.0.0.1", port, 2) as driver:
        [reading] = driver.read([PointRequest(1, "HR100", "uint16")])
    assert reading.quality == Quality.GOOD
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_command_line_port_in_use_exits_2(simulator) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        proc = simulator("--port", str(port))
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert stdout == ""
    assert stderr.strip().splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]
