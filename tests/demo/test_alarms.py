"""The demo scenario: the simulated plant, run for an hour of plant time through the demo's own alarm definitions
and the real state machine, raises real alarms of several kinds (no value is forced)."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from alarms import state_machine as sm
from demo.alarms import DEMO_ALARMS
from tests.simulated_plant import plant_simulator

pytestmark = pytest.mark.slow


def _run_shift(*, seconds: int, seed: int) -> Counter:
    """Annunciations per demo alarm over `seconds` of the 3 x 3 demo plant, sampled every second as the demo polls.

    The operator acknowledges an alarm that returned to normal at once (so that the next one annunciates again).
    """
    start = datetime(2026, 1, 1, tzinfo=UTC)  # 01:00 in the plant: the night shift, between its breaks
    plant = plant_simulator(lines=3, machines_per_line=3, seed=seed, start=0.0, clock=start.timestamp())
    configs = [
        (spec, sm.Config(sm.Kind(spec.kind), spec.limit, spec.deadband, spec.on_delay, spec.off_delay, spec.latching))
        for spec in DEMO_ALARMS
        if spec.kind != sm.Kind.BAD_QUALITY
    ]
    runtimes: dict = {}
    annunciated: Counter = Counter()
    for s in range(1, seconds + 1):
        plant.step(float(s))
        now = start + timedelta(seconds=s)
        for machine in plant.all_machines():
            values = machine.values()
            for spec, config in configs:
                suppressed = None
                if spec.suppress_when:
                    op, target = spec.suppress_when
                    suppressed = (values["state"] == target) == (op == "eq")
                step = sm.evaluate(
                    config,
                    runtimes.get((machine.name, spec.name), sm.Runtime()),
                    now=now,
                    value=values[spec.signal],
                    quality_bad=False,
                    reference=values[spec.setpoint_signal] if spec.setpoint_signal else None,
                    suppressed=suppressed,
                )
                annunciated[spec.name] += sum(1 for t in step.transitions if t.after == sm.State.UNACK_ACTIVE)
                runtime = step.runtime
                if runtime.state == sm.State.UNACK_RTN:
                    runtime = sm.acknowledge(runtime).runtime
                runtimes[(machine.name, spec.name)] = runtime
    return annunciated


def test_an_hour_of_the_demo_plant_raises_real_alarms():
    annunciated = _run_shift(seconds=3600, seed=1)  # seed 1: what `make demo` runs

    assert annunciated["Machine fault"] >= 5  # breakdowns: alarm code != 0
    assert annunciated["Guard door open"] >= 5
    assert annunciated["Motor temperature high"] >= 1  # hot, worn spindles
    assert annunciated["Spindle vibration high"] >= 1  # chatter spikes
    assert annunciated["Spindle speed deviation"] == 0  # suppressed while not running; on-delay covers the ramp
