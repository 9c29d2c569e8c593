"""Saving rules: validated, each change a new immutable version, audited. The cache of the enabled rules that the
evaluations (live hook, beat tick) keep in memory, behind a version token."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import AuditAction
from audit.services.events import audit_record
from automation.models import Rule, RuleVersion
from automation.specs import Action, Condition, TagCondition, actions_resolve, condition_resolve
from common.version_token import TokenCached, VersionToken

logger = logging.getLogger(__name__)

RULES_TOKEN = VersionToken("automation:rules:version")
DOCUMENT_FIELDS = ("description", "enabled", "dry_run", "cooldown_seconds", "condition", "actions")
Actor = User | AnonymousUser | None


def rule_document(rule: Rule) -> dict[str, Any]:
    """A rule's file form (what a version keeps, what the export writes)."""
    return {"name": rule.name, **{f: getattr(rule, f) for f in DOCUMENT_FIELDS}}


def rule_validate(rule: Rule) -> tuple[Condition, list[Action]]:
    """The rule's condition and actions resolved; ValidationError (by field) saying what is wrong."""
    errors: dict[str, list[str]] = {}
    condition: Condition | None = None
    actions: list[Action] = []
    try:
        condition = condition_resolve(rule.condition)
    except ValidationError as error:
        errors["condition"] = error.messages
    try:
        actions = actions_resolve(rule.actions)
    except ValidationError as error:
        errors["actions"] = error.messages
    if rule.enabled and not rule.dry_run and rule.run_as is None and any(a.kind == "write" for a in actions):
        errors["run_as"] = ["A rule that writes runs on behalf of a person allowed to operate there: choose one."]
    if errors:
        raise ValidationError(errors)
    assert condition is not None
    return condition, actions


def rule_save(*, rule: Rule, user: Actor, comment: str = "", remote_addr: str | None = None) -> RuleVersion | None:
    """Validate and save `rule`; a new version when its document changed (None when nothing did). Audited."""
    rule_validate(rule)
    with transaction.atomic():
        previous = None
        if rule.pk is not None:
            previous = RuleVersion.objects.filter(rule_id=rule.pk).order_by("-number").first()
        document = rule_document(rule)
        if previous is not None and previous.document == document:
            rule.save()
            return None
        rule.version = max(previous.number if previous else 0, rule.version) + 1
        rule.save()
        who = user if isinstance(user, User) else None
        version = RuleVersion.objects.create(
            rule=rule,
            number=rule.version,
            document=document,
            saved_by=who,
            saved_by_name=who.get_username() if who else "",
            comment=comment[:300],
        )
        audit_record(
            actor=user,
            action=AuditAction.RULE_SAVE,
            target=rule.name,
            details={"rule": rule.pk, "version": rule.version, "before": previous.document if previous else None,
                     "after": document, "comment": comment[:300]},
            remote_addr=remote_addr,
        )  # fmt: skip
        transaction.on_commit(rules_invalidate)
    rules_invalidate()
    return version


def rules_invalidate() -> None:
    RULES_TOKEN.bump()


# -- what the evaluations keep in memory -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: int
    name: str
    version: int
    dry_run: bool
    cooldown_seconds: float
    condition: Condition
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    by_tag: dict[int, tuple[CompiledRule, ...]]
    tag_ids: np.ndarray  # the tags some rule watches, sorted (for np.isin on a batch)


def rule_compile(rule: Rule) -> CompiledRule:
    condition, actions = rule_validate(rule)
    return CompiledRule(
        rule.pk, rule.name, rule.version, rule.dry_run, float(rule.cooldown_seconds), condition, tuple(actions)
    )


def rules_load() -> RuleSet:
    """The enabled rules, compiled; a rule that no longer resolves (a tag deleted) is logged and left out."""
    compiled = []
    for rule in Rule.objects.filter(enabled=True).select_related("run_as"):
        try:
            compiled.append(rule_compile(rule))
        except ValidationError as error:
            logger.error("rule %s v%s is not evaluated: %s", rule.name, rule.version, error.messages)
    by_tag: dict[int, list[CompiledRule]] = {}
    for item in compiled:
        if isinstance(item.condition, TagCondition):
            by_tag.setdefault(item.condition.tag_id, []).append(item)
    return RuleSet(
        tuple(compiled),
        {tag: tuple(rules) for tag, rules in by_tag.items()},
        np.array(sorted(by_tag), dtype=np.int32),
    )


def rules_cached() -> TokenCached[RuleSet]:
    """A cache of the enabled rules for one evaluation (the token is read at most once a second)."""
    return TokenCached(RULES_TOKEN, rules_load, check_seconds=1.0)
