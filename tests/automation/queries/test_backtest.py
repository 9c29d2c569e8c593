"""A backtest over engineered history finds exactly the firings computed by hand, with their values."""

from datetime import timedelta

import pytest

from automation.models import Rule
from automation.queries.backtest import BacktestUnsupported, rule_backtest
from tests.automation.conftest import EXPECTED, T0, engineered_samples
from tests.samples import write as samples_write


def test_a_backtest_finds_the_hand_computed_firings_with_their_values(vibration, vibration_rule):
    samples_write(vibration, engineered_samples())

    result = rule_backtest(rule=vibration_rule, start=T0, end=T0 + timedelta(hours=1))

    assert result.values == 1000
    got = [((f.time - T0).total_seconds(), f.values["value"], f.values["held_since"]) for f in result.firings]
    assert got == [(s, v, (T0 + timedelta(seconds=since)).isoformat()) for s, v, since in EXPECTED]
    assert all(f.values["threshold"] == 9.0 and f.values["comparison"] == ">" for f in result.firings)


def test_a_backtest_sees_only_its_range(vibration, vibration_rule):
    samples_write(vibration, engineered_samples())
    result = rule_backtest(rule=vibration_rule, start=T0 + timedelta(seconds=500), end=T0 + timedelta(hours=1))
    # Fresh at 500: no cooldown from 130; 546 fires, 730 is within the cooldown of 546, 930 fires.
    assert [(f.time - T0).total_seconds() for f in result.firings] == [546, 930]


def test_a_schedule_backtests_its_due_times_in_the_plant_time_zone(vibration_rule):
    vibration_rule.condition = {"type": "schedule", "daily": "09:30", "timezone": "Europe/Berlin"}
    vibration_rule.cooldown_seconds = 0
    result = rule_backtest(rule=vibration_rule, start=T0, end=T0 + timedelta(days=3))
    # 09:30 in Berlin in March (CET, UTC+1) is 08:30 UTC.
    assert [f.time for f in result.firings] == [T0 + timedelta(days=d, minutes=30) for d in range(3)]


def test_an_alarm_condition_is_not_backtested_and_a_range_is_checked(vibration_rule):
    with pytest.raises(ValueError, match="end after"):
        rule_backtest(rule=vibration_rule, start=T0, end=T0)
    with pytest.raises(ValueError, match="At most"):
        rule_backtest(rule=vibration_rule, start=T0, end=T0 + timedelta(days=400))
    Rule.objects.filter(pk=vibration_rule.pk)  # the rule itself is not changed by a backtest
    vibration_rule.condition = {"type": "kpi", "line": "x/y/z", "kpi": "oee", "below": 0.5}
    with pytest.raises(Exception, match="No line"):
        rule_backtest(rule=vibration_rule, start=T0, end=T0 + timedelta(hours=1))
    assert BacktestUnsupported.__mro__[1] is ValueError
