"""The wear index: signals' departures from normal running as fractions of their departures at past failures."""

import numpy as np
import pytest

from maintenance.health.errors import HealthModelError
from maintenance.health.index import relative_deviation, wear_index, wear_index_learn
from maintenance.health.pca import pca_fit

SIGNALS = ("vibration_rms", "bearing_temperature", "motor_current")


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(1)
    rows = np.column_stack([rng.normal(2.0, 0.1, 400), rng.normal(50.0, 0.5, 400), rng.normal(20.0, 0.4, 400)])
    return pca_fit(rows, SIGNALS)


def test_relative_deviation_is_the_departure_over_the_training_mean(model):
    row = model.mean * np.array([1.5, 0.9, 1.0])
    assert relative_deviation(model, row.reshape(1, -1))[0] == pytest.approx([0.5, -0.1, 0.0], abs=1e-12)


def test_learning_keeps_the_signals_that_moved_the_same_way_at_every_failure():
    history = [[3.0, 0.60, 0.01], [4.0, 0.62, -0.01], [3.5, 0.58, 0.02]]  # motor current did not move
    index = wear_index_learn(SIGNALS, history)
    assert index.signals == ("vibration_rms", "bearing_temperature")
    assert index.at_failure == pytest.approx([3.5, 0.60])


def test_a_signal_that_spreads_widely_between_failures_is_left_out():
    history = [[3.0, 0.60, 0.1], [3.1, 0.62, 0.5], [2.9, 0.58, 0.05]]
    assert wear_index_learn(SIGNALS, history).signals == ("vibration_rms", "bearing_temperature")


def test_the_index_is_the_fraction_of_the_way_to_failure_and_a_lone_drift_does_not_move_it():
    index = wear_index_learn(SIGNALS, [[4.0, 0.6, 0.2], [4.0, 0.6, 0.2]])
    halfway = np.array([[2.0, 0.3, 0.1]])
    assert wear_index(index, SIGNALS, halfway) == pytest.approx([0.5])
    drifting = np.array([[0.0, 0.6, 0.0]])  # bearing temperature drifted by its whole departure at failure
    assert wear_index(index, SIGNALS, drifting) == pytest.approx([0.0])
    missing = np.array([[np.nan, 0.3, 0.1], [np.nan, np.nan, np.nan]])
    out = wear_index(index, SIGNALS, missing)
    assert out[0] == pytest.approx(0.5)
    assert np.isnan(out[1])


def test_bad_histories_and_inputs_are_refused(model):
    with pytest.raises(HealthModelError, match="no failure in the maintenance history"):
        wear_index_learn(SIGNALS, np.empty((0, 3)))
    with pytest.raises(HealthModelError, match="no signal moved the same way"):
        wear_index_learn(SIGNALS, [[1.0, 0.5, 0.3], [-1.0, -0.5, -0.3]])
    with pytest.raises(HealthModelError, match="one row of 3 departures per failure"):
        wear_index_learn(SIGNALS, [[1.0, 0.5]])
    index = wear_index_learn(SIGNALS, [[4.0, 0.6, 0.2]])
    with pytest.raises(HealthModelError, match="needs the signals vibration_rms"):
        wear_index(index, ("bearing_temperature",), [[0.1]])
    with pytest.raises(HealthModelError, match="rows of 3 signal values"):
        relative_deviation(model, [[1.0, 2.0]])


def test_a_zero_training_mean_is_refused_for_a_relative_departure():
    rng = np.random.default_rng(2)
    centred = pca_fit(rng.normal(0.0, 1.0, (200, 2)) - [[0.0, 0.0]], ("a", "b"))
    zeroed = type(centred)(**{**centred.__dict__, "mean": np.array([0.0, 1.0])})
    with pytest.raises(HealthModelError, match="non-zero training mean: a"):
        relative_deviation(zeroed, [[1.0, 1.0]])
