"""The demo plant as production machines (issue 13): states, counters, products and changeovers, starving and
blocking along a line, the shift calendar's breaks; and the OEE that `production.kpis` computes from one simulated
shift of it. The plant runs on its own clock (`step`), served through the real Modbus driver where it is read."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from demo.simulator.modbus_server import PlantServerThread
from demo.simulator.plant import (
    PRODUCTION_STATES,
    SETUP_SECONDS,
    SIGNALS_BY_NAME,
    MachineState,
    PlantSimulator,
    machine_tag_address,
)
from demo.simulator.production import (
    DEMO_CALENDAR,
    FAULT_CODES,
    LOCKOUT_CODES,
    PRODUCTS_BY_CODE,
    STARTUP_WINDOW_SECONDS,
    ideal_cycle_time,
)
from historian.quality import Quality
from ingest.protocols.base import PointRequest
from ingest.protocols.modbus.driver import ModbusTcpDriver
from production.calendar import Shift, calendar_shifts
from production.kpis import Kpis, Loss, ProductCount, Reason, StateInterval, kpis_sum, machine_kpis
from production.kpis import MachineState as ProductionState
from tests.waiting import wait_until

#: (state, fault code, product, production counter, reject counter, speed lowered) of one machine at one second.
Sample = tuple[MachineState, int, int, int, int, bool]
Run = tuple[MachineState, int, int]  # state, first second, end second (exclusive)
DOWN_STATES = (MachineState.DOWN, MachineState.OFF)


def _early_shift() -> Shift:
    """The early shift of Monday 2 March 2026 in the plant (06:00-14:00 Europe/Berlin, breaks 08:00 and 10:30)."""
    start = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)
    [shift] = calendar_shifts(DEMO_CALENDAR, start=start, end=start + timedelta(seconds=1))
    return shift


def _sample(plant: PlantSimulator) -> list[Sample]:
    return [
        (m.state, m.alarm_code, m.product, m.produced_count, m.reject_count, m.setpoint < m.base_setpoint)
        for m in plant.all_machines()
    ]


@pytest.fixture(scope="module")
def shift_series() -> tuple[Shift, list[list[Sample]]]:
    """One simulated shift of the 3 x 3 demo plant (seed 1, what `make demo` runs), sampled every second:
    series[machine][second since the shift's start]."""
    shift = _early_shift()
    plant = PlantSimulator(seed=1, start=0.0, clock=shift.start.timestamp())
    snapshots = [_sample(plant)]
    for second in range(1, int(shift.seconds) + 1):
        plant.step(float(second))
        snapshots.append(_sample(plant))
    return shift, [list(column) for column in zip(*snapshots, strict=True)]


def _runs(samples: list[Sample]) -> list[Run]:
    runs: list[Run] = []
    second = 0
    for state, group in itertools.groupby(samples, key=lambda sample: sample[0]):
        length = len(list(group))
        runs.append((state, second, second + length))
        second += length
    return runs


def _stops(runs: list[Run]) -> list[tuple[int, int]]:
    """Breakdowns: runs of down and off (a lockout follows the fault that caused it) merged, (start, end)."""
    merged: list[tuple[int, int]] = []
    for state, start, end in runs:
        if state in DOWN_STATES:
            if merged and merged[-1][1] == start:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
    return merged


def test_state_codes_map_onto_every_production_state() -> None:
    assert set(PRODUCTION_STATES) == set(MachineState)
    assert sorted(PRODUCTION_STATES.values()) == sorted(ProductionState)
    assert (MachineState.IDLE, MachineState.RUNNING, MachineState.DOWN) == (0, 1, 2)  # as before issue 13
    for name in ("state", "product", "produced_count", "reject_count", "alarm_code"):
        assert SIGNALS_BY_NAME[name].data_type == "uint16", name
    assert SIGNALS_BY_NAME["produced_count"].rollover == SIGNALS_BY_NAME["reject_count"].rollover == 65536


def test_every_state_occurs_in_a_shift_and_breaks_stop_every_machine(shift_series) -> None:
    shift, series = shift_series
    seen = Counter(sample[0] for samples in series for sample in samples)
    assert set(seen) == set(MachineState), seen
    for samples in series:
        for pause in shift.planned_breaks:
            first = int((pause.start - shift.start).total_seconds())
            last = int((pause.end - shift.start).total_seconds())
            inside = Counter(sample[0] for sample in samples[first + 1 : last])
            # A machine stops for the break as soon as it is free: a repair or a setup runs on into it.
            assert inside[MachineState.PLANNED_STOP] > 0.5 * (last - first - 1), inside
            assert inside[MachineState.RUNNING] == 0, inside
        outside = {sample[0] for second, sample in enumerate(samples) if not _in_break(shift, second)}
        assert MachineState.PLANNED_STOP not in outside


def _in_break(shift: Shift, second: int) -> bool:
    at = shift.start + timedelta(seconds=second)
    return any(pause.start <= at <= pause.end for pause in shift.planned_breaks)


def test_counters_count_each_part_once_while_running_and_wrap_at_16_bits(shift_series) -> None:
    _, series = shift_series
    wrapped = 0
    for samples in series:
        produced = rejects = 0
        for before, after in itertools.pairwise(samples):
            step, reject_step = (after[3] - before[3]) % 65536, (after[4] - before[4]) % 65536
            assert step in (0, 1)
            assert reject_step <= step  # a reject is a part made
            if step:
                assert after[0] == MachineState.RUNNING
            wrapped += after[3] < before[3]
            produced, rejects = produced + step, rejects + reject_step
        assert 200 < produced < 900  # 32-56 s parts, most of 7 h 15 min of planned busy time
        assert 0 < rejects < 0.1 * produced
    assert wrapped >= 1  # the counters start near their top so that a demo sees them wrap


def test_products_change_through_a_setup_and_ripple_down_the_line(shift_series) -> None:
    _, series = shift_series
    for index, samples in enumerate(series):
        runs = _runs(samples)
        changes = [s for s in range(1, len(samples)) if samples[s][2] != samples[s - 1][2]]
        setups = [(start, end) for state, start, end in runs if state == MachineState.SETUP]
        assert 5 <= len(changes) <= 16, index  # the line changes product every 30-60 minutes
        # The product register changes exactly when a setup starts, to a known product, and only then.
        assert changes == [start for start, _ in setups if start > 0]
        assert {samples[s][2] for s in changes} <= set(PRODUCTS_BY_CODE)
        for state, start, end in runs:
            if state == MachineState.SETUP and end < len(samples):
                assert SETUP_SECONDS[0] - 1 <= end - start <= SETUP_SECONDS[1] + 1
                assert samples[end][0] in (MachineState.RUNNING, MachineState.PLANNED_STOP)
    # A machine changes over when the first part of the new product reaches it: after the one before it did.
    for line in range(3):
        first, second = series[3 * line], series[3 * line + 1]
        for s in range(1, len(second)):
            if second[s][2] != second[s - 1][2]:
                assert first[s][2] == second[s][2]  # the machine before already makes the new product


def test_a_machine_down_starves_the_next_one_and_blocks_the_one_before(shift_series) -> None:
    _, series = shift_series
    long_stops = starved = blocked = 0
    for line in range(3):
        machines = series[3 * line : 3 * line + 3]
        for index, samples in enumerate(machines):
            for start, end in _stops(_runs(samples)):
                if end - start < 300:
                    continue  # the buffer of 4 parts bridges a short stop
                long_stops += 1
                window = range(start, end)
                if index < 2:  # the next one runs out of parts while this one is down
                    starved += any(machines[index + 1][s][0] == MachineState.IDLE for s in window)
                if index > 0:  # the one before fills the buffer and cannot unload
                    blocked += any(machines[index - 1][s][0] == MachineState.BLOCKED for s in window)
    assert long_stops >= 6
    assert starved >= 3
    assert blocked >= 3
    # A starved machine waits for parts: while it is starved the machine before it is not running.
    for line in range(3):
        machines = series[3 * line : 3 * line + 3]
        for before, after in itertools.pairwise(machines):
            for state, start, end in _runs(after):
                if state == MachineState.IDLE and end - start > 150:  # longer than any operator stop
                    assert any(before[s][0] != MachineState.RUNNING for s in range(start - 60, end))


def _seen(series: list[list[Sample]]) -> dict[str, list[bool]]:
    """Per second of the shift, whether some machine shows each loss to a visitor."""
    seconds = len(series[0])
    seen = {kind: [False] * seconds for kind in VISIBLE_LOSSES}

    def mark(kind: str, start: int, end: int) -> None:
        seen[kind][start:end] = [True] * (end - start)

    for samples in series:
        runs = _runs(samples)
        for start, end in _stops(runs):
            mark("breakdown" if end - start >= 120 else "micro-stop", start, end)
        for state, start, end in runs:
            if state == MachineState.SETUP:
                mark("setup", start, end)
            elif state in (MachineState.IDLE, MachineState.BLOCKED):
                mark("micro-stop" if end - start < 120 else "starved or blocked", start, end)
        for second, (before, after) in enumerate(itertools.pairwise(samples), start=1):
            if after[5]:
                mark("reduced speed", second, second + 1)
            if after[4] != before[4]:
                mark("reject", second, second + 1)
    return seen


VISIBLE_LOSSES = ("breakdown", "micro-stop", "setup", "starved or blocked", "reduced speed", "reject")


def test_a_visitor_sees_each_loss_within_a_quarter_of_an_hour(shift_series) -> None:
    """Real time (the demo does not compress it): the rates are such that the nine machines show each loss in most
    quarters of an hour (a loss going on counts: the visitor sees the machine in it), and all or all but one in
    nearly every quarter of an hour outside the breaks."""
    shift, series = shift_series
    seen = _seen(series)
    windows = [
        start
        for start in range(0, len(series[0]) - 900, 60)
        if not any(_in_break(shift, second) for second in (start, start + 450, start + 899))
    ]
    shares = {kind: sum(any(seen[kind][w : w + 900]) for w in windows) / len(windows) for kind in VISIBLE_LOSSES}
    assert all(share >= 0.85 for share in shares.values()), shares
    most = [sum(any(seen[kind][w : w + 900]) for kind in VISIBLE_LOSSES) for w in windows]
    assert sum(count >= len(VISIBLE_LOSSES) - 1 for count in most) / len(windows) >= 0.95
    assert sum(count == len(VISIBLE_LOSSES) for count in most) / len(windows) >= 0.7


# -- OEE ---------------------------------------------------------------------------------------------------------

CHANGEOVER = Reason("Changeover", planned=False, loss=Loss.SETUP_ADJUSTMENT)


def _intervals(shift: Shift, samples: list[Sample]) -> list[StateInterval]:
    """The state intervals the production layer derives from the state register, classified as the demo's reason
    mapping would: a stop with a fault code by its code, a setup as a changeover, starved and blocked not at all."""
    intervals = []
    for state, start, end in _runs(samples):
        code = samples[start][1]
        reason = None
        if state in DOWN_STATES and code:
            name, loss = FAULT_CODES[code]
            reason = Reason(name, planned=False, loss=loss)
        elif state == MachineState.SETUP:
            reason = CHANGEOVER
        intervals.append(
            StateInterval(
                start=shift.start + timedelta(seconds=start),
                end=shift.start + timedelta(seconds=min(end, len(samples) - 1)),
                state=PRODUCTION_STATES[state],
                reason=reason,
                product=str(samples[start][2]),
            )
        )
    return [interval for interval in intervals if interval.end and interval.end > interval.start]


def _counts(samples: list[Sample]) -> list[ProductCount]:
    """Counter increases (modulo 16 bits) per product; rejects within STARTUP_WINDOW_SECONDS of a setup's end are
    startup rejects."""
    totals: dict[int, list[int]] = {}
    setup_ended = None
    for second, (before, after) in enumerate(itertools.pairwise(samples), start=1):
        if before[0] == MachineState.SETUP and after[0] != MachineState.SETUP:
            setup_ended = second
        product = totals.setdefault(after[2], [0, 0, 0])
        produced, rejects = (after[3] - before[3]) % 65536, (after[4] - before[4]) % 65536
        product[0] += produced
        product[1] += rejects
        if setup_ended is not None and second - setup_ended <= STARTUP_WINDOW_SECONDS:
            product[2] += rejects
    return [
        ProductCount.from_counters(str(code), produced=p, rejects=r, startup_rejects=s)
        for code, (p, r, s) in totals.items()
    ]


def _shift_kpis(shift: Shift, series: list[list[Sample]]) -> list[Kpis]:
    ideal = {str(code): ideal_cycle_time(code) for code in PRODUCTS_BY_CODE}
    return [
        machine_kpis(
            intervals=_intervals(shift, samples),
            counts=_counts(samples),
            ideal_cycle_times=ideal,
            calendar=DEMO_CALENDAR,
            start=shift.start,
            end=shift.end,
        )
        for samples in series
    ]


def test_one_shift_has_a_believable_oee_with_every_loss(shift_series) -> None:
    shift, series = shift_series
    machines = _shift_kpis(shift, series)
    plant = kpis_sum(machines)

    assert plant.oee is not None
    assert 0.55 <= plant.oee <= 0.85, plant.oee
    for six_big_loss in Loss:
        assert plant.losses[six_big_loss] > 0, six_big_loss
    assert plant.no_data == 0
    assert plant.planned_downtime == 9 * 45 * 60  # the two breaks, 15 and 30 minutes, on nine machines
    assert plant.micro_stops > 50  # operator stops, e-stops, short waits
    assert plant.failure_events > 10
    for kpis in machines:
        assert kpis.oee is not None
        assert 0.45 <= kpis.oee <= 0.9  # no machine is implausibly good or bad
        assert kpis.availability is not None
        assert 0.6 < kpis.availability < 0.95
        assert kpis.performance is not None
        assert 0.7 < kpis.performance < 0.97
        assert kpis.quality is not None
        assert 0.9 < kpis.quality < 1.0
        assert kpis.setup_adjustments > 0
        assert kpis.breakdowns > 0


# -- through the real server and driver --------------------------------------------------------------------------

PRODUCTION_SIGNALS = ("state", "alarm_code", "product", "produced_count", "reject_count")


def test_the_production_registers_over_modbus_on_the_plants_own_clock() -> None:
    """Four hours (07:30-11:30 in the plant, both breaks of the early shift) of a 3 x 3 plant served over Modbus
    TCP on a test clock, read every 30 simulated seconds through the real driver."""
    start = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
    plant = PlantSimulator(seed=3, start=0.0, clock=start.timestamp())
    now = [0.0]
    points = [
        PointRequest(
            tag_id=machine * 100 + i,
            address=machine_tag_address(machine, SIGNALS_BY_NAME[name]),
            data_type=SIGNALS_BY_NAME[name].data_type,
        )
        for machine in range(3)
        for i, name in enumerate(PRODUCTION_SIGNALS)
    ]
    series: list[list[list[int]]] = [[] for _ in range(9)]  # [machine][reading] = the production signals
    with PlantServerThread(plant, tick_seconds=0.01, clock=lambda: now[0]) as server:
        drivers = [ModbusTcpDriver(server.host, server.port, line.unit_id) for line in plant.lines]
        try:
            for _ in range(4 * 120):
                now[0] += 30.0
                wait_until(lambda: plant.time >= now[0], timeout=10, what="the server to step the plant")
                expected = [[int(m.values()[name]) for name in PRODUCTION_SIGNALS] for m in plant.all_machines()]

                def read_all(expected: list[list[int]] = expected) -> list[list[int]] | None:
                    readings: list[list[int]] = []
                    for driver in drivers:
                        values = {r.tag_id: r for r in driver.read(points)}
                        assert all(r.quality == Quality.GOOD for r in values.values())
                        for machine in range(3):
                            readings.append([int(values[machine * 100 + i].value) for i in range(5)])
                    return readings if readings == expected else None

                for machine, reading in enumerate(wait_until(read_all, timeout=10, what="the served registers")):
                    series[machine].append(reading)
        finally:
            for driver in drivers:
                driver.close()

    states = Counter(MachineState(reading[0]) for readings in series for reading in readings)
    assert set(states) == set(MachineState), states
    for readings in series:
        codes = {reading[1] for reading in readings if reading[0] in DOWN_STATES} - {0}
        assert codes <= set(FAULT_CODES)
        assert all(reading[1] == 0 for reading in readings if reading[0] not in DOWN_STATES)
        assert all(reading[1] in LOCKOUT_CODES for reading in readings if reading[0] == MachineState.OFF)
        made = sum((after[3] - before[3]) % 65536 for before, after in itertools.pairwise(readings))
        assert 150 < made < 500
        changes = [i for i in range(1, len(readings)) if readings[i][2] != readings[i - 1][2]]
        assert changes
        for i in changes:  # read 30 s apart: the setup is seen (2-5 minutes) in the reading of the change
            assert readings[i][0] == MachineState.SETUP
