"""Saving a rule: validated with clear errors, each change a new immutable version, audited."""

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditAction, AuditEvent
from automation.models import Rule, RuleVersion
from automation.services.rules import rule_save, rule_validate


def test_each_saved_change_is_a_new_version_audited_and_an_unchanged_save_is_none(vibration, route, admin):
    rule = Rule(
        name="Hot spindle",
        condition={"type": "tag", "tag": vibration.path, "comparison": ">=", "value": 7, "for_seconds": 5},
        actions=[{"type": "notify", "route": route.name, "message": "hot"}],
    )
    first = rule_save(rule=rule, user=admin, comment="first")
    assert (first.number, rule.version, rule.dry_run) == (1, 1, True)
    assert rule_save(rule=rule, user=admin) is None
    rule.cooldown_seconds = 60
    second = rule_save(rule=rule, user=admin, comment="shorter cooldown")
    assert second.number == 2
    assert list(RuleVersion.objects.filter(rule=rule).values_list("number", flat=True)) == [2, 1]
    assert first.document["cooldown_seconds"] == 300
    event = AuditEvent.objects.filter(action=AuditAction.RULE_SAVE).order_by("-id").first()
    assert (event.actor, event.target, event.details["version"]) == (admin, "Hot spindle", 2)
    assert event.details["before"]["cooldown_seconds"] == 300
    assert event.details["after"]["cooldown_seconds"] == 60


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"type": "tag", "tag": "nowhere.x", "comparison": ">", "value": 1}, "no tag 'nowhere.x'"),
        ({"type": "tag", "tag": "<tag>", "comparison": "=>", "value": 1}, "comparison '=>' is not one of"),
        ({"type": "tag", "tag": "<tag>", "comparison": ">", "value": "high"}, "'value' must be a number"),
        ({"type": "alarm", "tag": "<tag>", "alarm": "Nope"}, "has no alarm 'Nope'"),
        ({"type": "kpi", "line": "a/b/c", "kpi": "oee", "below": 0.6}, "No line 'a/b/c'"),
        ({"type": "kpi", "line": "a/b/c", "kpi": "oee", "below": 60}, "ratio between 0 and 1"),
        ({"type": "schedule", "daily": "25:00"}, "is not HH:MM"),
        ({"type": "schedule", "cron": "*/5 * * *"}, "five fields"),
        ({"type": "schedule", "cron": "61 * * * *"}, "outside 0..59"),
        ({"type": "acknowledge"}, "Unknown condition type 'acknowledge'"),
    ],
)
def test_a_wrong_condition_says_what_is_wrong(vibration, route, condition, message):
    condition = {k: vibration.path if v == "<tag>" else v for k, v in condition.items()}
    rule = Rule(name="r", condition=condition, actions=[{"type": "notify", "route": route.name, "message": "m"}])
    with pytest.raises(ValidationError) as error:
        rule_validate(rule)
    assert message in " ".join(error.value.message_dict["condition"])


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ([], "non-empty list"),
        ([{"type": "acknowledge_alarm"}], "unknown type 'acknowledge_alarm'"),
        ([{"type": "write", "tag": "<tag>", "value": 1}], "is read-only"),
        ([{"type": "device_out_of_service", "device": "nope"}], "no device 'nope'"),
        ([{"type": "notify", "route": "nope", "message": "m"}], "no notification route 'nope'"),
    ],
)
def test_a_wrong_action_says_what_is_wrong_and_rules_never_touch_alarms(vibration, actions, message):
    actions = [{k: vibration.path if v == "<tag>" else v for k, v in a.items()} for a in actions]
    condition = {"type": "tag", "tag": vibration.path, "comparison": ">", "value": 1}
    with pytest.raises(ValidationError) as error:
        rule_validate(Rule(name="r", condition=condition, actions=actions))
    assert message in " ".join(error.value.message_dict["actions"])


def test_a_live_rule_that_writes_needs_someone_to_run_as(vibration, admin):
    vibration.writable = True
    vibration.save()
    rule = Rule(
        name="w",
        enabled=True,
        dry_run=False,
        condition={"type": "tag", "tag": vibration.path, "comparison": ">", "value": 1},
        actions=[{"type": "write", "tag": vibration.path, "value": 0}],
    )
    with pytest.raises(ValidationError) as error:
        rule_save(rule=rule, user=admin)
    assert "run_as" in error.value.message_dict
    rule.run_as = admin
    assert rule_save(rule=rule, user=admin).number == 1
