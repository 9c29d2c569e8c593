"""The live hook journals the same firings as the backtest, whatever the batches, and costs nothing for a batch
of tags no rule watches."""

import numpy as np
import pytest

from automation.models import RuleFiring
from automation.services.evaluation import RuleEvaluation
from automation.services.rules import rule_save
from historian.sample_types import SampleBatch, SampleRow
from tests.automation.conftest import EXPECTED, T0, engineered_samples


def _rows(tag_id: int) -> list[SampleRow]:
    return [SampleRow(t, tag_id, v, q) for t, v, q in engineered_samples()]


@pytest.mark.parametrize("batch", [1, 10, 333])
def test_the_hook_journals_the_hand_computed_firings_in_dry_run(vibration, vibration_rule, batch):
    evaluation = RuleEvaluation()
    rows = _rows(vibration.pk)
    for low in range(0, len(rows), batch):
        part = rows[low : low + batch]
        # Another tag's values in the same batch are not the rule's.
        part = [*part, SampleRow(part[0].time, vibration.pk + 1000, 50.0, 192)]
        evaluation(rows=SampleBatch.from_rows(part) if batch != 10 else part, now=part[-1].time)

    firings = list(RuleFiring.objects.filter(rule=vibration_rule).order_by("time"))
    assert [((f.time - T0).total_seconds(), f.values["value"]) for f in firings] == [(s, v) for s, v, _ in EXPECTED]
    first = firings[0]
    assert (first.dry_run, first.version, first.done_at is not None) == (True, 1, True)
    assert first.outcomes == [
        {"action": "notify", "label": "notify Maintenance", "state": "dry_run", "message": "would notify Maintenance"}
    ]


def test_a_batch_of_tags_no_rule_watches_journals_nothing(vibration, vibration_rule):
    evaluation = RuleEvaluation()
    rows = SampleBatch.of(np.arange(100), np.full(100, vibration.pk + 1), np.full(100, 50.0), np.full(100, 192))
    assert evaluation(rows=rows, now=T0) == []
    assert not RuleFiring.objects.exists()


def test_a_new_version_starts_its_hold_afresh_and_a_disabled_rule_is_not_evaluated(vibration, vibration_rule, admin):
    evaluation = RuleEvaluation()
    rows = _rows(vibration.pk)
    evaluation(rows=rows[100:120], now=T0)  # 20 s above the threshold
    vibration_rule.condition = vibration_rule.condition | {"for_seconds": 15}
    rule_save(rule=vibration_rule, user=admin)
    evaluation(rows=rows[120:140], now=T0)  # the new version holds from 120: fires at 135
    assert [(f.time - T0).total_seconds() for f in RuleFiring.objects.all()] == [135]
    vibration_rule.enabled = False
    rule_save(rule=vibration_rule, user=admin)
    evaluation(rows=rows[900:960], now=T0)
    assert RuleFiring.objects.count() == 1
