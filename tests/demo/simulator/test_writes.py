"""The simulated machines accept writes: a speed setpoint they follow, a feed override, start / stop / reset fault;
in the plant itself and over its Modbus TCP gateway (written with the Modbus driver, read back)."""

from __future__ import annotations

import pytest

from demo.simulator.modbus_server import PlantServerThread
from demo.simulator.plant import (
    SIGNALS_BY_NAME,
    WRITABLE_SIGNALS,
    Machine,
    MachineCommand,
    MachineState,
    PlantSimulator,
    machine_tag_address,
)
from ingest.protocols.base import PointRequest, WriteStatus
from ingest.protocols.modbus.driver import ModbusTcpDriver
from tests.simulated_plant import plant_simulator
from tests.waiting import wait_until


def _run(plant: PlantSimulator, start: float, seconds: int) -> float:
    for t in range(1, seconds + 1):
        plant.step(start + t)
    return start + seconds


def _running_machine(plant: PlantSimulator) -> Machine:
    return next(m for m in plant.all_machines() if m.state == MachineState.RUNNING)


def test_the_writable_signals_are_the_setpoint_the_override_and_the_command() -> None:
    assert {s.name for s in WRITABLE_SIGNALS} == {"speed_setpoint", "feed_override", "command"}


def test_the_spindle_ramps_to_a_written_setpoint_up_and_down() -> None:
    plant = plant_simulator(seed=3, start=0.0)
    machine = _running_machine(plant)
    target = machine.setpoint + 400

    assert machine.write("speed_setpoint", target) == target
    plant.step(0.5)
    assert machine.setpoint < machine.speed + 400 < target + 400  # ramping, not jumping
    t = _run(plant, 0.5, 5)
    assert machine.speed == pytest.approx(target, rel=0.01)

    lower = target - 900
    machine.write("speed_setpoint", lower)
    _run(plant, t, 5)
    assert machine.speed == pytest.approx(lower, rel=0.01)


def test_a_setpoint_outside_the_drive_range_is_clamped() -> None:
    machine = plant_simulator(seed=3).all_machines()[0]

    assert machine.write("speed_setpoint", 9000) == 3600
    assert machine.write("speed_setpoint", -5) == 0
    assert machine.write("feed_override", 400) == 150


def test_the_feed_rate_follows_the_override() -> None:
    plant = plant_simulator(seed=5, start=0.0)
    machine = _running_machine(plant)
    machine.write("feed_override", 50)

    ratios = []  # feed rate / what it would be at 100 %
    for t in range(1, 120):
        plant.step(float(t))
        if machine.feed_rate > 0:
            ratios.append(machine.feed_rate / (machine.setpoint * machine.feed_per_rev))

    assert ratios
    assert all(0.45 < r < 0.55 for r in ratios)


def test_stop_holds_the_machine_idle_until_start() -> None:
    plant = plant_simulator(lines=1, machines_per_line=1, seed=7, start=0.0)  # raw stock in, unlimited outfeed
    machine = _running_machine(plant)

    assert machine.command(MachineCommand.STOP)
    t = _run(plant, 0.0, 600)  # longer than any idle of its own
    assert machine.state == MachineState.IDLE
    assert machine.speed == 0.0
    assert machine.values()["command"] == MachineCommand.STOP

    assert machine.command(MachineCommand.START)
    plant.step(t + 1)
    assert machine.state == MachineState.RUNNING


def test_start_is_refused_while_down_and_reset_fault_clears_the_fault() -> None:
    plant = plant_simulator(lines=1, machines_per_line=1, seed=7, start=0.0)
    machine = _running_machine(plant)
    machine._go_down(205, 1000.0)

    assert not machine.command(MachineCommand.START)
    assert machine.write("command", MachineCommand.START) == MachineCommand.NONE  # the last accepted stays
    assert machine.command(MachineCommand.RESET_FAULT)
    assert machine.state == MachineState.IDLE  # restarting: reset, homing
    assert machine.alarm_code == 0
    _run(plant, 0.0, 30)
    assert machine.state == MachineState.RUNNING


def test_a_stop_during_a_fault_takes_effect_when_it_is_reset() -> None:
    plant = plant_simulator(lines=1, machines_per_line=1, seed=7, start=0.0)
    machine = _running_machine(plant)
    machine._go_down(412, 1000.0)

    assert machine.command(MachineCommand.STOP)
    assert machine.state == MachineState.DOWN
    assert machine.command(MachineCommand.RESET_FAULT)
    _run(plant, 0.0, 60)
    assert machine.state == MachineState.IDLE
    assert machine.speed == 0.0


def test_a_signal_that_is_not_writable_is_refused() -> None:
    with pytest.raises(ValueError, match="not writable"):
        plant_simulator().all_machines()[0].write("part_count", 0)


def _point(machine_index: int, signal: str) -> PointRequest:
    spec = SIGNALS_BY_NAME[signal]
    return PointRequest(1, machine_tag_address(machine_index, spec), spec.data_type)


def test_over_modbus_a_setpoint_is_followed_and_commands_drive_the_state() -> None:
    plant = plant_simulator(lines=1, machines_per_line=2, seed=4)
    with PlantServerThread(plant, tick_seconds=0.1) as server, ModbusTcpDriver(server.host, server.port, 1) as driver:
        reset = driver.write(_point(1, "command"), MachineCommand.RESET_FAULT, timeout=1.0)  # in case it broke down
        assert reset.status in (WriteStatus.CONFIRMED, WriteStatus.MISMATCHED)
        assert driver.write(_point(1, "command"), MachineCommand.START, timeout=1.0).confirmed

        setpoint = driver.write(_point(1, "speed_setpoint"), 2345.5, timeout=1.0)
        assert setpoint.status == WriteStatus.CONFIRMED, setpoint
        wait_until(
            lambda: abs(driver.read([_point(1, "spindle_speed")])[0].value - 2345.5) < 25,  # type: ignore[operator]
            timeout=15,
            what="the spindle at its new setpoint",
        )

        assert driver.write(_point(1, "feed_override"), 80, timeout=1.0).confirmed
        assert driver.write(_point(1, "command"), MachineCommand.STOP, timeout=1.0).confirmed
        wait_until(
            lambda: driver.read([_point(1, "state")])[0].value == MachineState.IDLE,
            timeout=5,
            what="the machine idle",
        )

        clamped = driver.write(_point(1, "speed_setpoint"), 5000.0, timeout=0.3)
        assert clamped.status == WriteStatus.MISMATCHED
        assert clamped.read_back == 3600.0

        refused = driver.write(_point(1, "part_count"), 0, timeout=1.0)
        assert refused.status == WriteStatus.FAILED
        assert "exception 2" in refused.error
    assert plant.machine(0, 1).feed_override == 80
