"""The conditions no stored value brings: an alarm's state, a KPI, a schedule. A beat task evaluates them every few
seconds (automation.tasks.rules_tick) through the same state machine as the tag rules (automation/evaluator.py);
what a rule's machine remembers between ticks is kept on the rule (`Rule.tick_state`), so any worker may run the
next tick."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.db import transaction

from alarms.models import Alarm
from alarms.state_machine import UNACKNOWLEDGED, State
from automation.evaluator import Firing, RuleMachine
from automation.models import Rule, RuleFiring
from automation.services.firings import firing_record
from automation.services.rules import CompiledRule, rules_load
from automation.specs import AlarmCondition, KpiCondition, ScheduleCondition, TagCondition
from historian.sample_types import datetime_to_us, us_to_datetime
from production.queries.kpis import line_shift_kpis

ACTIVE = frozenset({State.UNACK_ACTIVE, State.ACK_ACTIVE, State.LATCHED})
MINUTE_US = 60_000_000
STATE_FIELDS = ("since_us", "fired_episode", "last_fired_us", "last_time_us")


def rules_tick(*, now: datetime) -> list[RuleFiring]:
    """Evaluate every enabled alarm, KPI and schedule rule at `now`; the firings journalled."""
    recorded = []
    for rule in rules_load().rules:
        if isinstance(rule.condition, TagCondition):
            continue
        with transaction.atomic():
            row = Rule.objects.select_for_update().filter(pk=rule.id, version=rule.version).first()
            if row is None:
                continue
            state = row.tick_state if row.tick_state.get("version") == rule.version else {}
            machine = RuleMachine(cooldown_seconds=rule.cooldown_seconds)
            for name in STATE_FIELDS:
                if name in state:
                    setattr(machine, name, state[name])
            firings, state = _evaluate(rule, machine, state, now)
            for firing in firings:
                recorded.append(firing_record(rule=rule, firing=firing))
            state |= {name: getattr(machine, name) for name in STATE_FIELDS} | {"version": rule.version}
            Rule.objects.filter(pk=rule.id).update(tick_state=state)
    return recorded


def _evaluate(rule: CompiledRule, machine: RuleMachine, state: dict, now: datetime) -> tuple[list[Firing], dict]:
    condition = rule.condition
    now_us = datetime_to_us(now)
    if isinstance(condition, ScheduleCondition):
        minute = now_us - now_us % MINUTE_US
        last = state.get("minute_us")
        state = state | {"minute_us": minute}
        if last is None:  # a rule just enabled does not catch up on the times it missed
            first = machine.due(minute) if condition.matches(us_to_datetime(minute)) else None
            return ([first] if first is not None else []), state
        firings = []
        for t in range(last + MINUTE_US, minute + 1, MINUTE_US):
            if condition.matches(us_to_datetime(t)):
                firing = machine.due(t)
                if firing is not None:
                    firings.append(firing)
        return firings, state
    holds, values = condition_now(condition, now)
    return machine.truths(np.array([now_us]), np.array([holds]), values), state


def condition_now(condition: AlarmCondition | KpiCondition | TagCondition, now: datetime) -> tuple[bool, dict]:
    """Does an alarm or KPI condition hold now, and with which values."""
    if isinstance(condition, AlarmCondition):
        state = Alarm.objects.filter(definition_id=condition.definition_id).values_list("state", flat=True).first()
        wanted = ACTIVE if condition.state == "active" else UNACKNOWLEDGED
        return (state is not None and State(state) in wanted), {"alarm": condition.label, "state": state}
    assert isinstance(condition, KpiCondition)
    shift = line_shift_kpis(line_id=condition.line_id, now=now)
    if shift is None:
        return False, {"kpi": condition.kpi, "value": None, "shift": None}
    figures = shift.kpis if condition.machine_id is None else shift.machines.get(condition.machine_id)
    value = getattr(figures, condition.kpi) if figures is not None else None
    holds = value is not None and value < condition.below
    return holds, {"kpi": condition.kpi, "of": condition.label, "value": value, "below": condition.below,
                   "shift": shift.shift.name}  # fmt: skip


def schedule_due_times(condition: ScheduleCondition, *, start: datetime, end: datetime) -> list[int]:
    """The due minutes of a schedule in [start, end), in microseconds (the backtest)."""
    first = datetime_to_us(start)
    first += -first % MINUTE_US
    last = datetime_to_us(end)
    return [t for t in range(first, last, MINUTE_US) if condition.matches(us_to_datetime(t))]
