"""The PCA health model on small synthetic series with known answers: a step, a drift, a stuck sensor, correlated
signals broken apart; its limits, its JSON round trip and its refusals of bad training data."""

import json

import numpy as np
import pytest

from maintenance.health.errors import HealthModelError
from maintenance.health.pca import PcaModel, pca_fit, pca_score

SIGNALS = ("vibration_rms", "bearing_temperature", "motor_current", "coolant_pressure")


def normal_running(n: int, seed: int = 1) -> np.ndarray:
    """Four signals: the first three driven by one load (correlated), the fourth independent."""
    rng = np.random.default_rng(seed)
    load = rng.normal(0.0, 1.0, n)
    return np.column_stack(
        [
            2.0 + 0.5 * load + rng.normal(0.0, 0.1, n),
            40.0 + 3.0 * load + rng.normal(0.0, 0.5, n),
            20.0 + 2.0 * load + rng.normal(0.0, 0.4, n),
            6.0 + rng.normal(0.0, 0.05, n),
        ]
    )


@pytest.fixture(scope="module")
def model() -> PcaModel:
    return pca_fit(normal_running(2000), SIGNALS)


def test_normal_rows_stay_under_the_limits_about_as_often_as_alpha_says(model):
    scores = pca_score(model, normal_running(5000, seed=2))
    assert model.n_train == 2000
    assert 1 <= model.n_components <= 3
    assert np.mean(scores.t2 > model.t2_limit) < 0.03
    assert np.mean(scores.q > model.q_limit) < 0.03
    assert np.mean(scores.health > 1.0) < 0.05
    assert np.median(scores.health) < 0.5


def test_a_step_in_one_signal_is_flagged_and_pinned_on_that_signal(model):
    rows = normal_running(200, seed=3)
    rows[100:, 3] -= 1.0  # coolant pressure drops by 20 standard deviations
    scores = pca_score(model, rows)
    assert np.mean(scores.health[:100] > 1) < 0.1
    assert (scores.health[100:] > 1).all()
    assert (scores.contributions[100:].argmax(axis=1) == 3).all()
    assert np.allclose(scores.contributions.sum(axis=1), scores.health)
    assert (scores.contributions >= 0).all()
    assert np.median(scores.deviations[100:, 3]) == pytest.approx(-20.0, abs=1.0)


def test_a_drift_grows_the_score_monotonically_on_average(model):
    rows = normal_running(400, seed=4)
    rows[:, 1] += np.linspace(0.0, 10.0, 400)  # bearing temperature runs away without the load behind it
    health = pca_score(model, rows).health
    quarters = [np.median(part) for part in np.array_split(health, 4)]
    assert quarters == sorted(quarters)
    assert quarters[-1] > 3 * quarters[0]
    assert quarters[-1] > 1


def test_correlated_signals_moving_apart_break_the_correlation_structure(model):
    """Each value inside its training range, but vibration up while current is down: Q sees it, T² hardly."""
    row = np.array([[2.5, 40.0, 19.0, 6.0]])
    scores = pca_score(model, row)
    assert scores.q[0] > model.q_limit
    assert scores.health[0] > 1


def test_a_stuck_sensor_in_training_is_refused_by_name_or_dropped_on_request():
    rows = normal_running(500)
    rows[:, 2] = 21.0
    with pytest.raises(HealthModelError, match=r"flat signal\(s\) in the training data: motor_current"):
        pca_fit(rows, SIGNALS)
    model = pca_fit(rows, SIGNALS, drop_flat=True)
    assert model.signals == ("vibration_rms", "bearing_temperature", "coolant_pressure")
    assert model.dropped == ("motor_current",)
    assert pca_score(model, rows[:, [0, 1, 3]]).health.shape == (500,)


def test_nan_rows_are_refused_with_where_they_are_or_left_out_on_request():
    rows = normal_running(500)
    rows[7, 1] = np.nan
    rows[9, 1] = np.inf
    with pytest.raises(HealthModelError, match=r"2 row\(s\) with NaN or inf \(first: row 7; signals: bearing_temp"):
        pca_fit(rows, SIGNALS)
    assert pca_fit(rows, SIGNALS, drop_nonfinite=True).n_train == 498


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (normal_running(19), r"too little training data: 19 usable row\(s\) for 4 signal\(s\), at least 20 needed"),
        (normal_running(50)[:, :3], r"expected rows of 4 signal values, got an array of shape \(50, 3\)"),
    ],
)
def test_too_little_or_misshapen_training_data_is_refused(rows, message):
    with pytest.raises(HealthModelError, match=message):
        pca_fit(rows, SIGNALS)


def test_bad_settings_are_refused():
    rows = normal_running(100)
    with pytest.raises(HealthModelError, match="variance"):
        pca_fit(rows, SIGNALS, variance=1.5)
    with pytest.raises(HealthModelError, match="alpha"):
        pca_fit(rows, SIGNALS, alpha=1.0)
    with pytest.raises(HealthModelError, match="signals named twice"):
        pca_fit(rows, ("a", "a", "b", "c"))


def test_nan_in_a_scored_row_scores_nan_not_healthy(model):
    rows = normal_running(3, seed=5)
    rows[1, 0] = np.nan
    health = pca_score(model, rows).health
    assert np.isnan(health[1])
    assert np.isfinite(health[[0, 2]]).all()


def test_the_model_survives_a_json_round_trip_and_scores_the_same(model):
    again = PcaModel.from_json(json.loads(json.dumps(model.to_json())))
    rows = normal_running(50, seed=6)
    assert again.signals == model.signals
    assert again.t2_limit == model.t2_limit
    np.testing.assert_allclose(pca_score(again, rows).health, pca_score(model, rows).health)
    with pytest.raises(HealthModelError, match="not a PCA health model"):
        PcaModel.from_json({"format": "other"})


def test_the_same_data_give_the_same_model():
    rows = normal_running(300)
    assert pca_fit(rows, SIGNALS).to_json() == pca_fit(rows, SIGNALS).to_json()


def test_one_signal_off_is_not_corroborated_several_are(model):
    """A sensor fault moves one signal: reconstructed from the others, the score falls back; wear moves several."""
    rows = normal_running(200, seed=7)
    one = rows.copy()
    one[:, 1] += 5.0  # bearing temperature alone +10σ
    several = rows.copy()
    several[:, :3] += np.array([0.5, 3.0, 2.0]) * 5  # vibration, bearing temperature and current: the load +5σ
    two = rows.copy()
    two[:, 0] += 1.0  # vibration and coolant pressure, each independently off
    two[:, 3] -= 0.5
    one_scores = pca_score(model, one)
    assert np.median(one_scores.health) > 3
    assert np.median(one_scores.health_corroborated) < 1
    for scores in (pca_score(model, several), pca_score(model, two)):
        assert np.median(scores.health) > 1.5
        assert np.median(scores.health_corroborated) > 1


def test_a_missing_or_masked_signal_is_reconstructed_from_the_others(model):
    from maintenance.health.pca import pca_reconstruct

    rows = normal_running(300, seed=8)
    holed = rows.copy()
    holed[:, 1] = np.nan  # bearing temperature dropped out: the load seen in vibration and current tells it
    mask = np.zeros(rows.shape, dtype=bool)
    mask[:, 2] = True
    filled = pca_reconstruct(model, holed)
    assert np.isfinite(filled).all()
    assert np.corrcoef(filled[:, 1], rows[:, 1])[0, 1] > 0.9
    np.testing.assert_array_equal(filled[:, [0, 2, 3]], rows[:, [0, 2, 3]])
    masked = pca_reconstruct(model, rows, mask)
    assert np.corrcoef(masked[:, 2], rows[:, 2])[0, 1] > 0.9
    assert np.median(pca_score(model, filled).health) < 0.5
    assert np.isnan(pca_reconstruct(model, np.full((1, 4), np.nan))).all()
