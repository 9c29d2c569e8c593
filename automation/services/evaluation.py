"""Rule evaluation at ingest: the after-store hook AutomationConfig.ready() registers (one per writer of values).

Cost per batch: one look at the rules in memory (a cache GET at most once a second), one np.isin of the batch's
tags against the watched tags; then, only for the rules whose tag is in the batch, their state machines
(automation/evaluator.py) over their values. A firing is journalled here (one INSERT); its actions run in a Celery
worker, never on the ingest thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from automation.evaluator import RuleMachine
from automation.models import RuleFiring
from automation.services.firings import firing_record
from automation.services.rules import CompiledRule, rules_cached
from automation.specs import TagCondition
from historian.quality import quality_is_good
from historian.sample_types import SampleBatch, SampleRow

logger = logging.getLogger(__name__)


def tag_machine(rule: CompiledRule) -> RuleMachine:
    assert isinstance(rule.condition, TagCondition)
    return RuleMachine(
        hold_seconds=rule.condition.hold_seconds,
        cooldown_seconds=rule.cooldown_seconds,
        comparison=rule.condition.comparison,
        threshold=rule.condition.threshold,
    )


class RuleEvaluation:
    """The after-store hook of one writer: each tag rule's state machine, kept while the rule's version stays."""

    def __init__(self) -> None:
        self.rules = rules_cached()
        self.machines: dict[int, tuple[int, RuleMachine]] = {}

    def __call__(self, *, rows: Sequence[SampleRow] | SampleBatch, now: datetime) -> list[RuleFiring]:
        """Never raises (the ingest path): a failure is logged."""
        try:
            return self.strict(rows=rows, now=now)
        except Exception:
            logger.exception("rule evaluation failed for %d rows", len(rows))
            return []

    def strict(self, *, rows: Sequence[SampleRow] | SampleBatch, now: datetime) -> list[RuleFiring]:
        ruleset = self.rules.get()
        if not len(ruleset.tag_ids):
            return []
        batch = rows if isinstance(rows, SampleBatch) else SampleBatch.from_rows(rows)
        mask = np.isin(batch.tag_id, ruleset.tag_ids)
        if not mask.any():
            return []
        batch = batch.take(mask)
        if len(batch) > 1 and (np.diff(batch.time_us) < 0).any():
            batch = batch.take(np.argsort(batch.time_us, kind="stable"))
        good = quality_is_good(batch.quality).tolist()
        recorded = []
        by_tag = ruleset.by_tag
        # One Python step per (value, rule) of a watched tag: a poll brings one value per tag, so this is the rules'
        # count at most; the state machine is the same as the backtest's (RuleMachine.event).
        for t, tag_id, value, ok in zip(
            batch.time_us.tolist(), batch.tag_id.tolist(), batch.value.tolist(), good, strict=True
        ):
            for rule in by_tag[tag_id]:
                firing = self.machine(rule).value(t, value, ok)
                if firing is not None:
                    recorded.append(firing_record(rule=rule, firing=firing))
        return recorded

    def machine(self, rule: CompiledRule) -> RuleMachine:
        """The rule's state machine; a new one when the rule changed (a new version starts afresh)."""
        held = self.machines.get(rule.id)
        if held is None or held[0] != rule.version:
            held = (rule.version, tag_machine(rule))
            self.machines[rule.id] = held
        return held[1]
