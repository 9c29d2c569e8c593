"""Backtest: a rule over a range of history, through the same state machine as the live rule
(automation/evaluator.py), fed the tag's stored values (historian.queries.raw.raw_columns) or a schedule's due
times. Returns every time it would have fired, with the values. Nothing is journalled, nothing is done.

Alarm and KPI conditions are evaluated live by the beat tick; their history is not replayed here (yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from automation.evaluator import Firing, RuleMachine
from automation.models import Rule
from automation.services.evaluation import tag_machine
from automation.services.rules import CompiledRule, rule_compile
from automation.services.ticks import schedule_due_times
from automation.specs import ScheduleCondition, TagCondition
from historian.quality import quality_is_good
from historian.queries.raw import raw_columns

MAX_RANGE = timedelta(days=92)


class BacktestUnsupported(ValueError):
    """The rule's condition cannot be replayed from history."""


@dataclass(frozen=True, slots=True)
class Backtest:
    rule: CompiledRule
    start: datetime
    end: datetime
    values: int  # how many values (or due times) were evaluated
    firings: list[Firing]


def rule_backtest(*, rule: Rule, start: datetime, end: datetime) -> Backtest:
    """Every time `rule` (as it is now, enabled or not) would have fired between `start` and `end`."""
    if not start < end:
        raise ValueError("The range must end after it starts.")
    if end - start > MAX_RANGE:
        raise ValueError(f"At most {MAX_RANGE.days} days at once.")
    compiled = rule_compile(rule)
    condition = compiled.condition
    if isinstance(condition, TagCondition):
        machine = tag_machine(compiled)
        columns = raw_columns(tag_id=condition.tag_id, start=start, end=end)
        good = quality_is_good(columns.quality)
        firings = machine.values(columns.time_us, columns.value, good)
        return Backtest(compiled, start, end, len(columns.time_us), firings)
    if isinstance(condition, ScheduleCondition):
        machine = RuleMachine(cooldown_seconds=compiled.cooldown_seconds)
        due = schedule_due_times(condition, start=start, end=end)
        firings = [f for f in (machine.due(t) for t in due) if f is not None]
        return Backtest(compiled, start, end, len(due), firings)
    raise BacktestUnsupported("Alarm-state and KPI conditions cannot be replayed from history yet.")
