"""The storage rules: every stored series stays within the configured error of the polled one."""

import itertools
import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from historian.models import Tag
from historian.quality import Quality
from historian.sample_types import SampleRow, datetime_to_us
from ingest.pipeline.compression import CompressionFilter, PolicyArrays, StoragePolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TAG = 1


def _row(second: float, value: float | None, quality: int = Quality.GOOD) -> SampleRow:
    return SampleRow(T0 + timedelta(seconds=second), TAG, value, quality)


def _run(policy: StoragePolicy, rows: list[SampleRow]) -> tuple[list[SampleRow], list[SampleRow], CompressionFilter]:
    """Feed `rows`; returns (rows as shown, rows stored, with the pending candidate flushed at the end)."""
    compression = CompressionFilter()
    shown, stored = [], []
    for row in rows:
        seen, out = compression.admit(row, policy)
        shown.append(seen)
        stored.extend(out)
    stored.extend(compression.flush([TAG]))
    return shown, stored, compression


def _linear(stored: list[SampleRow], t: datetime) -> float:
    times = [r.time for r in stored]
    assert times == sorted(times), "stored rows must come out in time order"
    for a, b in itertools.pairwise(stored):
        if a.time <= t <= b.time:
            span = (b.time - a.time).total_seconds()
            return a.value + (b.value - a.value) * ((t - a.time).total_seconds() / span)
    raise AssertionError(f"{t} is outside the stored series")


def _step(stored: list[SampleRow], t: datetime) -> float:
    return [r for r in stored if r.time <= t][-1].value


def _signals() -> dict[str, list[SampleRow]]:
    rng = random.Random(42)
    walk, value = [], 50.0
    for i in range(3000):
        value += rng.gauss(0, 0.4)
        walk.append(_row(i, value))
    noisy_sine = [_row(i, 20 * math.sin(i / 40) + rng.uniform(-0.3, 0.3)) for i in range(3000)]
    steps = [_row(i, float((i // 250) % 3) * 10 + rng.uniform(-0.05, 0.05)) for i in range(3000)]
    irregular = []
    t = 0.0
    for _ in range(2000):
        t += rng.uniform(0.1, 5.0)  # polls late, early, missed
        irregular.append(_row(t, 5 * math.cos(t / 30) + rng.gauss(0, 0.2)))
    return {"random walk": walk, "noisy sine": noisy_sine, "steps": steps, "irregular polls": irregular}


@pytest.mark.parametrize("deviation", [0.05, 0.5, 2.0])
@pytest.mark.parametrize("signal", ["random walk", "noisy sine", "steps", "irregular polls"])
def test_swinging_door_keeps_every_polled_value_within_the_deviation(signal: str, deviation: float) -> None:
    polled = _signals()[signal]

    _, stored, _ = _run(StoragePolicy(deviation=deviation), polled)

    assert stored[0] == polled[0]
    assert stored[-1] == polled[-1]
    worst = max(abs(_linear(stored, row.time) - row.value) for row in polled)
    assert worst <= deviation + 1e-9
    assert set(stored) <= set(polled)  # every stored row is a real polled value
    assert len(stored) < len(polled)


def test_swinging_door_compresses_a_smooth_signal_hard() -> None:
    polled = [_row(i, 20 * math.sin(i / 200)) for i in range(3000)]

    _, stored, _ = _run(StoragePolicy(deviation=0.1), polled)

    assert len(stored) < len(polled) / 20


def test_swinging_door_does_not_miss_where_the_classic_algorithm_does() -> None:
    # Classic swinging door keeps (2, -0.9) as the end of a segment from (0, 0) and misses (1, 0.9) by 1.35.
    polled = [_row(0, 0.0), _row(1, 0.9), _row(2, -0.9), _row(3, 10.0)]

    _, stored, _ = _run(StoragePolicy(deviation=1.0), polled)

    assert max(abs(_linear(stored, r.time) - r.value) for r in polled) <= 1.0


@pytest.mark.parametrize("deadband", [0.1, 1.0, 5.0])
def test_deadband_keeps_every_polled_value_within_it_read_as_steps(deadband: float) -> None:
    polled = _signals()["random walk"]

    _, stored, _ = _run(StoragePolicy(deadband=deadband), polled)

    assert max(abs(_step(stored, row.time) - row.value) for row in polled) < deadband
    assert len(stored) < len(polled)


def test_deadband_in_percent_of_span_is_converted_to_engineering_units() -> None:
    tag = Tag(data_type="float32", deadband=1.0, deviation_unit="percent", span_low=0.0, span_high=200.0)
    assert StoragePolicy.for_tag(tag).deadband == 2.0
    tag = Tag(data_type="float32", compression_deviation=0.5, deviation_unit="percent", span_low=-50, span_high=50)
    assert StoragePolicy.for_tag(tag).deviation == 0.5


def test_counts_states_and_booleans_are_stored_on_change_only() -> None:
    counts = [_row(i, v) for i, v in enumerate([7, 7, 7, 8, 8, 9, 9, 9, 7])]
    tag = Tag(data_type="uint32")

    _, stored, _ = _run(StoragePolicy.for_tag(tag), counts)

    assert [r.value for r in stored] == [7, 8, 9, 7]
    assert [r.time for r in stored] == [counts[0].time, counts[3].time, counts[5].time, counts[8].time]


def test_an_analog_tag_with_neither_setting_stores_every_poll() -> None:
    polled = [_row(i, 1.0) for i in range(5)]
    _, stored, _ = _run(StoragePolicy(), polled)
    assert stored == polled


def test_the_maximum_interval_forces_a_stored_value() -> None:
    polled = [_row(i, 3.0) for i in range(36)]

    _, stored, _ = _run(StoragePolicy(discrete=True, max_interval=10), polled)

    assert [r.time.second for r in stored] == [0, 10, 20, 30]
    assert stored[-1] == polled[30]


def test_the_maximum_interval_with_swinging_door_keeps_the_error_bound() -> None:
    polled = _signals()["noisy sine"]

    _, stored, _ = _run(StoragePolicy(deviation=1.0, max_interval=30), polled)

    gaps = [(b.time - a.time).total_seconds() for a, b in itertools.pairwise(stored)]
    assert max(gaps) <= 30
    assert max(abs(_linear(stored, r.time) - r.value) for r in polled) <= 1.0


def test_a_quality_change_stores_the_pending_candidate_then_the_bad_value_then_the_recovery() -> None:
    polled = [_row(0, 0.0), _row(1, 1.0), _row(2, 2.0), _row(3, None, Quality.BAD_COMM_FAILURE)]
    polled += [_row(4, None, Quality.BAD_COMM_FAILURE), _row(5, 5.0), _row(6, 6.0)]

    compression = CompressionFilter()
    stored = [out for row in polled for out in compression.admit(row, StoragePolicy(deviation=0.1))[1]]

    assert stored == [polled[0], polled[2], polled[3], polled[5]]


def test_a_value_that_stops_changing_turns_uncertain_once_and_good_again_when_it_moves() -> None:
    polled = [_row(i, 4.0) for i in range(10)] + [_row(10, 4.5), _row(11, 4.5)]

    shown, stored, _ = _run(StoragePolicy(discrete=True, stale_after=5), polled)

    assert [r.quality for r in shown[:5]] == [Quality.GOOD] * 5
    assert [r.quality for r in shown[5:10]] == [Quality.UNCERTAIN_LAST_USABLE] * 5
    assert [r.quality for r in shown[10:]] == [Quality.GOOD] * 2
    assert [(r.time.second, r.value, r.quality) for r in stored] == [
        (0, 4.0, Quality.GOOD),
        (5, 4.0, Quality.UNCERTAIN_LAST_USABLE),
        (10, 4.5, Quality.GOOD),
    ]


def test_a_process_without_memory_stores_its_first_value() -> None:
    polled = _signals()["noisy sine"]
    first, second = CompressionFilter(), CompressionFilter()
    policy = StoragePolicy(deviation=0.5)
    stored = []
    for i, row in enumerate(polled):
        process = first if (i // 100) % 2 == 0 else second  # polls handed between two worker processes
        if i % 100 == 0 and i:
            # The poller notices the hand-over (ingest.acquisition.poll) and closes the other process's segments
            # when that process next polls; here it does so at once.
            stored.extend((second if process is first else first).flush([TAG]))
        stored.extend(process.admit(row, policy)[1])
    stored.extend(first.flush([TAG]) + second.flush([TAG]))
    stored.sort(key=lambda r: r.time)

    assert max(abs(_linear(stored, r.time) - r.value) for r in polled) <= 0.5


def _policy_mix(n: int, rng: random.Random) -> list[StoragePolicy]:
    choices = [
        StoragePolicy(),
        StoragePolicy(deadband=0.5),
        StoragePolicy(deviation=0.2),
        StoragePolicy(deviation=1.0, max_interval=20),
        StoragePolicy(discrete=True, stale_after=5),
        StoragePolicy(deadband=0.3, stale_after=8, max_interval=15),
    ]
    return [rng.choice(choices) for _ in range(n)]


def test_a_batch_of_many_tags_stores_what_each_tag_alone_would_and_keeps_each_within_its_bound() -> None:
    rng = random.Random(7)
    tags = 60
    policies = _policy_mix(tags, rng)
    walks = [[50.0] for _ in range(tags)]
    polled: list[list[SampleRow]] = [[] for _ in range(tags)]
    batch_filter = CompressionFilter()
    batch_stored: list[list[SampleRow]] = [[] for _ in range(tags)]
    t = 0.0
    for _ in range(600):
        t += rng.uniform(0.2, 3.0)
        values, qualities = [], []
        for i in range(tags):
            if policies[i].discrete:
                value = float(rng.choice([0, 0, 0, 1, 2])) if rng.random() < 0.1 else walks[i][-1]
            else:
                value = walks[i][-1] + rng.gauss(0, 0.4)
            walks[i].append(value)
            bad = rng.random() < 0.01
            values.append(None if bad else value)
            qualities.append(Quality.BAD_COMM_FAILURE if bad else Quality.GOOD)
            polled[i].append(SampleRow(T0 + timedelta(seconds=t), i + 1, values[-1], qualities[-1]))
        when = T0 + timedelta(seconds=t)
        result = batch_filter.admit_batch(
            np.arange(1, tags + 1, dtype=np.int32),
            datetime_to_us(when),
            np.array([np.nan if v is None else v for v in values]),
            np.array(qualities, dtype=np.int16),
            PolicyArrays.of(policies),
        )
        for row in result.stored(
            np.arange(1, tags + 1, dtype=np.int32),
            datetime_to_us(when),
            np.array([np.nan if v is None else v for v in values]),
        ).rows():
            batch_stored[row.tag_id - 1].append(row)
    for row in batch_filter.flush(range(1, tags + 1)):
        batch_stored[row.tag_id - 1].append(row)

    for i in range(tags):
        alone = CompressionFilter()
        stored_alone = [out for row in polled[i] for out in alone.admit(row, policies[i])[1]]
        stored_alone += alone.flush([i + 1])
        assert sorted(batch_stored[i]) == sorted(stored_alone), f"tag {i + 1}"
        good = [r for r in polled[i] if r.value is not None]
        series = sorted(batch_stored[i])
        if policies[i].deviation:
            # Linear between stored good points, within a good stretch (a bad value breaks the line).
            for a, b in itertools.pairwise(series):
                if a.value is None or b.value is None:
                    continue
                between = [r for r in good if a.time <= r.time <= b.time]
                if len(between) == sum(1 for r in polled[i] if a.time <= r.time <= b.time):
                    assert max(abs(_linear([a, b], r.time) - r.value) for r in between) <= policies[i].deviation + 1e-9
        elif policies[i].deadband:
            for r in good:
                assert abs(_step(series, r.time) - r.value) < policies[i].deadband
