"""Who may see what a rule would do: backtesting a rule needs `automation.backtest_rule` and the right to operate
in every area the rule watches or acts on (historian.operate there, or historian.operate_any_area)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from automation.models import Rule
from automation.services.rules import rule_compile
from automation.specs import AlarmCondition, KpiCondition, TagCondition
from historian.models import Line, OperateArea, Tag

PERM_BACKTEST = "automation.backtest_rule"


def rule_areas(rule: Rule) -> set[int]:
    """The areas a rule watches (its condition's tag, alarm, machine or line) and writes in."""
    compiled = rule_compile(rule)
    condition = compiled.condition
    tag_ids = [a.params["tag_id"] for a in compiled.actions if a.kind == "write"]
    areas: set[int] = set()
    if isinstance(condition, TagCondition):
        tag_ids.append(condition.tag_id)
    elif isinstance(condition, AlarmCondition):
        from alarms.models import AlarmDefinition

        tag_id = AlarmDefinition.objects.filter(pk=condition.definition_id).values_list("tag_id", flat=True).first()
        if tag_id is not None:
            tag_ids.append(tag_id)
    elif isinstance(condition, KpiCondition):
        areas.update(Line.objects.filter(pk=condition.line_id).values_list("area_id", flat=True))
    areas.update(Tag.objects.filter(pk__in=tag_ids).values_list("machine__line__area_id", flat=True))
    return areas


def rule_may_backtest(*, user: User | AnonymousUser, rule: Rule) -> bool:
    if not user.is_authenticated or not user.is_active or not user.has_perm(PERM_BACKTEST):
        return False
    if user.has_perm("historian.operate_any_area"):
        return True
    if not user.has_perm("historian.operate"):
        return False
    return rule_areas(rule) <= OperateArea.area_ids(user)
