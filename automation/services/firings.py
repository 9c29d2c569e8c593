"""A rule fired: journal it (with the values that made it fire), then run its actions off the ingest thread.

In dry run the journal says what each action would have done and nothing is done. Otherwise the firing is queued
(automation.tasks.rule_firing_run, after commit) and its actions run in a Celery worker, one after the other, each
outcome kept in the journal: ingest never waits for a PLC.
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django.utils import timezone

from automation.actions import action_kinds
from automation.evaluator import Firing
from automation.models import Rule, RuleFiring
from automation.services.rules import CompiledRule, rule_compile

logger = logging.getLogger(__name__)


def firing_record(*, rule: CompiledRule, firing: Firing) -> RuleFiring:
    """Journal one firing; queue its actions (unless dry run)."""
    from automation.tasks import rule_firing_run

    now = timezone.now()
    record = RuleFiring.objects.create(
        rule_id=rule.id,
        version=rule.version,
        time=firing.time,
        dry_run=rule.dry_run,
        values=firing.values,
        outcomes=[
            {"action": a.kind, "label": a.label, "state": "dry_run", "message": f"would {a.label}"}
            for a in rule.actions
        ]
        if rule.dry_run
        else [],
        done_at=now if rule.dry_run else None,
    )
    if not rule.dry_run:
        transaction.on_commit(partial(rule_firing_run.delay, record.pk))
    return record


def firing_run(*, firing_id: int) -> list[dict]:
    """Run the actions of a queued firing, once (a firing already done is left as it is); their outcomes."""
    with transaction.atomic():
        firing = RuleFiring.objects.select_for_update().filter(pk=firing_id, done_at__isnull=True).first()
        if firing is None:
            return []
        # Claimed: a second delivery of the task finds it done.
        RuleFiring.objects.filter(pk=firing_id).update(done_at=timezone.now())
    rule = Rule.objects.select_related("run_as").get(pk=firing.rule_id)
    outcomes = []
    try:
        actions = rule_compile(rule).actions
    except Exception as error:  # the rule changed into something invalid meanwhile: nothing is done
        outcomes.append({"action": "", "label": "", "state": "failed", "message": f"rule invalid: {error}"})
        actions = ()
    kinds = action_kinds()
    for action in actions:
        try:
            outcome = kinds[action.kind].run(action=action, rule=rule, firing=firing)
        except Exception as error:
            logger.exception("rule %s: action %s failed", rule.name, action.label)
            outcome = {"state": "failed", "message": str(error)[:500]}
        outcomes.append({"action": action.kind, "label": action.label, **outcome})
    RuleFiring.objects.filter(pk=firing_id).update(outcomes=outcomes, done_at=timezone.now())
    return outcomes
