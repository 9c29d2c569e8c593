"""Explanations: the signal that moved comes first, with its deviation in σ, and reads as the alert's message."""

import numpy as np
import pytest

from maintenance.health.errors import HealthModelError
from maintenance.health.explain import Contribution, explain, explanation_text
from maintenance.health.pca import pca_fit

SIGNALS = ("vibration_rms", "bearing_temperature", "motor_current")


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(1)
    rows = np.column_stack([rng.normal(2.0, 0.1, 1000), rng.normal(40.0, 0.5, 1000), rng.normal(20.0, 0.4, 1000)])
    return pca_fit(rows, SIGNALS)


def test_the_signals_that_moved_lead_the_explanation_with_their_sigma(model):
    contributions = explain(model, [2.0 + 0.41, 40.0 + 0.5 * 2.3, 20.0])
    assert [c.signal for c in contributions[:2]] == ["vibration_rms", "bearing_temperature"]
    assert contributions[0].sigma == pytest.approx(4.1, abs=0.3)
    assert contributions[1].sigma == pytest.approx(2.3, abs=0.3)
    assert sum(c.share for c in contributions) == pytest.approx(1.0)
    assert contributions[0].share > contributions[1].share > contributions[2].share
    text = explanation_text(contributions, top=2)
    assert text.startswith("vibration rms +4.")
    assert ", bearing temperature +2." in text


def test_a_drop_reads_negative_and_labels_replace_names(model):
    contributions = explain(model, [2.0, 40.0, 20.0 - 0.4 * 5])
    assert contributions[0].signal == "motor_current"
    assert explanation_text(contributions, top=1, labels={"motor_current": "Spindle current"}).startswith(
        "Spindle current -5."
    )


def test_explanation_text_takes_the_top_entries_in_order():
    contributions = [
        Contribution("a_b", 4.06, 0.6, 1.2),
        Contribution("c", -2.34, 0.3, 0.6),
        Contribution("d", 1, 0.1, 0),
    ]
    assert explanation_text(contributions) == "a b +4.1σ, c -2.3σ, d +1.0σ"
    assert explanation_text(contributions, top=1) == "a b +4.1σ"
    assert explanation_text([]) == ""


def test_a_row_with_a_missing_value_or_the_wrong_width_is_refused(model):
    with pytest.raises(HealthModelError, match="missing values: bearing_temperature"):
        explain(model, [2.0, float("nan"), 20.0])
    with pytest.raises(HealthModelError, match="a row of 3 signal values expected, got 2"):
        explain(model, [2.0, 40.0])
