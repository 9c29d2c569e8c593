import pytest
from django.core.exceptions import ValidationError

from historian.models import Tag


def _errors(tag: Tag) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as excinfo:
        tag.full_clean()
    return excinfo.value.message_dict


def test_an_analog_tag_takes_compression_a_maximum_interval_and_a_stale_time(unsaved_tag):
    unsaved_tag(
        compression_deviation=0.5,
        deviation_unit="percent",
        max_store_interval_seconds=600,
        stale_after_seconds=300,
    ).full_clean()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"data_type": "uint32", "address": "HR10"}, "counts, states and booleans"),
        ({"value_labels": {"0": "Idle"}, "data_type": "float32"}, "counts, states and booleans"),
        ({"deadband": 1.0}, "not both"),
        ({"compression_deviation": -1.0}, "cannot be negative"),
    ],
)
def test_compression_that_cannot_keep_its_promise_is_refused_with_the_reason(overrides, reason, unsaved_tag):
    overrides.setdefault("compression_deviation", 1.0)
    errors = _errors(unsaved_tag(**overrides))
    assert reason in " ".join(errors["compression_deviation"])


def test_negative_intervals_are_refused(unsaved_tag):
    errors = _errors(unsaved_tag(max_store_interval_seconds=-1, stale_after_seconds=-5))
    assert "cannot be negative" in errors["max_store_interval_seconds"][0]
    assert "cannot be negative" in errors["stale_after_seconds"][0]


@pytest.mark.parametrize(
    ("overrides", "drawn"),
    [
        ({}, "linear"),  # an analog value
        ({"data_type": "float64", "interpolation": "step"}, "step"),  # a float whose interpolation is step
        ({"data_type": "uint32"}, "step"),  # a count
        ({"data_type": "uint16", "interpolation": "linear"}, "linear"),  # an integer said to be linear
        ({"value_labels": {"0": "Idle", "1": "Running"}}, "step"),  # a state, even stored as a float
        ({"data_type": "bool", "interpolation": "linear"}, "step"),  # a boolean never ramps
        ({"data_type": "float64", "counter_rollover": 1e6}, "step"),  # a counter that wraps
    ],
)
def test_a_chart_draws_steps_unless_a_ramp_between_samples_is_true(overrides, drawn, unsaved_tag):
    assert unsaved_tag(**overrides).plot_interpolation == drawn
