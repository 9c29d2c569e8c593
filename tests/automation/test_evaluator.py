"""The rule state machine, database-free: held for a duration, once per episode, cooldown, bad values, late values,
and the same firings however the values are cut into batches."""

from datetime import UTC, datetime

import numpy as np
import pytest

from automation.evaluator import RuleMachine
from historian.sample_types import datetime_to_us

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
S = 1_000_000


def feed(machine: RuleMachine, samples, chunk: int | None = None):
    """samples: (second, value[, good]); returns the firings' (second, value)."""
    times = np.array([datetime_to_us(T0) + int(s[0] * S) for s in samples], dtype=np.int64)
    values = np.array([s[1] for s in samples], dtype=float)
    good = np.array([s[2] if len(s) > 2 else True for s in samples])
    chunk = chunk or len(samples)
    out = []
    for low in range(0, len(samples), chunk):
        part = slice(low, low + chunk)
        out += machine.values(times[part], values[part], good[part])
    return [((f.time_us - datetime_to_us(T0)) / S, f.values["value"]) for f in out]


def gt(hold=30, cooldown=0, threshold=9.0, comparison=">"):
    return RuleMachine(hold_seconds=hold, cooldown_seconds=cooldown, comparison=comparison, threshold=threshold)


def test_fires_at_the_first_value_once_the_condition_held_for_its_duration():
    samples = [(0, 5), (10, 9.5), (20, 10), (39, 11), (40, 12), (50, 12)]
    assert feed(gt(), samples) == [(40, 12)]


def test_a_value_that_compares_false_or_is_bad_starts_the_hold_again():
    samples = [(0, 10), (20, 8), (25, 10), (50, 10, False), (55, 10), (84, 10), (85, 10)]
    assert feed(gt(), samples) == [(85, 10)]


def test_fires_once_per_episode_and_again_after_the_condition_cleared():
    samples = [(0, 10), (30, 10), (60, 10), (90, 10), (100, 1), (110, 10), (140, 10)]
    assert feed(gt(), samples) == [(30, 10), (140, 10)]


def test_an_episode_within_the_cooldown_is_not_fired():
    samples = [(0, 10), (30, 10), (40, 1), (50, 10), (80, 10), (90, 1), (400, 10), (430, 10)]
    assert feed(gt(cooldown=300), samples) == [(30, 10), (430, 10)]


@pytest.mark.parametrize(
    ("comparison", "fires"),
    [(">", []), (">=", [(0, 9.0)]), ("<", []), ("<=", [(0, 9.0)]), ("==", [(0, 9.0)]), ("!=", [])],
)
def test_each_comparison(comparison, fires):
    assert feed(gt(hold=0, comparison=comparison), [(0, 9.0)]) == fires


def test_nan_never_holds_even_for_not_equal():
    assert feed(gt(hold=0, comparison="!="), [(0, float("nan"))]) == []


def test_late_values_are_ignored():
    machine = gt(hold=10)
    assert feed(machine, [(100, 10)]) == []
    assert feed(machine, [(50, 10), (60, 10)]) == []  # older than what was seen
    assert feed(machine, [(110, 10)]) == [(110, 10)]


def test_the_same_firings_whatever_the_batches():
    rng = np.random.default_rng(7)
    samples = [(i, float(v)) for i, v in enumerate(rng.normal(8, 2, 5000))]
    whole = feed(gt(hold=3, cooldown=20), samples)
    assert whole  # the data does fire
    for chunk in (1, 7, 100, 999):
        assert feed(gt(hold=3, cooldown=20), samples, chunk=chunk) == whole
    one_by_one = gt(hold=3, cooldown=20)  # the live path: one value at a time
    stepped = [one_by_one.value(datetime_to_us(T0) + s * S, v, True) for s, v in samples]
    assert [((f.time_us - datetime_to_us(T0)) / S, f.values["value"]) for f in stepped if f] == whole


def test_truths_and_schedule_due_times():
    machine = RuleMachine(hold_seconds=0, cooldown_seconds=60)
    t = datetime_to_us(T0)
    assert len(machine.truths(np.array([t, t + S, t + 2 * S]), np.array([False, True, True]), {"kpi": "oee"})) == 1
    schedule = RuleMachine(cooldown_seconds=120)
    assert [schedule.due(t + m * 60 * S) is not None for m in range(5)] == [True, False, True, False, True]
