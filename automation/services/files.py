"""Rules round-trip through a JSON file for review: export, then import as a plan (what each rule would become,
field by field) and apply it (each changed rule saved as a new version; one audit event for the import).

A file is `{"rules": [<rule document>, ...]}`, documents as `rule_document` writes them (by name; tags, devices
and routes by path or name). Importing never deletes a rule that is not in the file, and never changes whom a
rule runs as (`run_as` is set in admin by a person).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import AuditAction
from audit.services.events import audit_record
from automation.models import Rule
from automation.services.rules import DOCUMENT_FIELDS, Actor, rule_document, rule_save, rule_validate

FILE_VERSION = 1
MAX_FILE_BYTES = 2_000_000


def rules_export(*, rules: list[Rule] | None = None) -> str:
    """The rules (all by default) as a JSON file, sorted by name."""
    chosen = rules if rules is not None else list(Rule.objects.order_by("name"))
    documents = [rule_document(r) for r in sorted(chosen, key=lambda r: r.name)]
    return json.dumps({"format": FILE_VERSION, "rules": documents}, indent=2, sort_keys=True, ensure_ascii=False)


@dataclass
class RulePlan:
    name: str
    action: str  # create | update | unchanged | invalid
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (before, after)
    errors: list[str] = field(default_factory=list)


@dataclass
class ImportPlan:
    rules: list[RulePlan]
    documents: dict[str, dict]

    @property
    def valid(self) -> bool:
        return not any(p.action == "invalid" for p in self.rules)

    @property
    def changed(self) -> list[RulePlan]:
        return [p for p in self.rules if p.action in ("create", "update")]


def rules_import_plan(*, content: bytes | str) -> ImportPlan:
    """What importing `content` would do, rule by rule; nothing is saved. ValidationError for an unreadable file."""
    if len(content) > MAX_FILE_BYTES:
        raise ValidationError(f"The file is larger than {MAX_FILE_BYTES // 1_000_000} MB.")
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValidationError(f"Not a JSON file: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ValidationError('A rules file is an object with a "rules" list.')
    plans, documents = [], {}
    for index, document in enumerate(data["rules"], start=1):
        name = document.get("name") if isinstance(document, dict) else None
        if not isinstance(name, str) or not name.strip():
            plans.append(RulePlan(f"#{index}", "invalid", errors=["A rule needs a name."]))
            continue
        if name in documents:
            plans.append(RulePlan(name, "invalid", errors=["This name appears twice in the file."]))
            continue
        unknown = set(document) - {"name", *DOCUMENT_FIELDS}
        existing = Rule.objects.filter(name=name).first()
        rule = existing or Rule(name=name)
        before = rule_document(rule) if existing else {}
        for key in DOCUMENT_FIELDS:
            if key in document:
                setattr(rule, key, document[key])
        after = rule_document(rule)
        documents[name] = after
        plan = RulePlan(name, "create" if existing is None else "update")
        plan.changes = {k: (before.get(k), after[k]) for k in DOCUMENT_FIELDS if before.get(k) != after[k]}
        if existing is not None and not plan.changes:
            plan.action = "unchanged"
        if unknown:
            plan.errors.append(f"Unknown fields: {', '.join(sorted(unknown))}.")
        try:
            rule_validate(rule)
        except ValidationError as error:
            plan.errors += [f"{k}: {m}" for k, ms in error.message_dict.items() for m in ms]
        if plan.errors:
            plan.action = "invalid"
        plans.append(plan)
    return ImportPlan(plans, documents)


def rules_import_apply(*, plan: ImportPlan, user: Actor, remote_addr: str | None = None) -> list[str]:
    """Save every rule the plan creates or changes (a new version each), all or nothing; the names. Audited."""
    if not plan.valid:
        raise ValidationError("The file has invalid rules: nothing was imported.")
    with transaction.atomic():
        saved = []
        for item in plan.changed:
            document = plan.documents[item.name]
            rule = Rule.objects.select_for_update().filter(name=item.name).first() or Rule(name=item.name)
            for key in DOCUMENT_FIELDS:
                setattr(rule, key, document[key])
            rule_save(rule=rule, user=user, comment="imported from a file", remote_addr=remote_addr)
            saved.append(item.name)
        audit_record(
            actor=user,
            action=AuditAction.RULE_IMPORT,
            target=f"{len(saved)} rules",
            details={
                "created": [p.name for p in plan.changed if p.action == "create"],
                "updated": [p.name for p in plan.changed if p.action == "update"],
                "unchanged": [p.name for p in plan.rules if p.action == "unchanged"],
            },
            remote_addr=remote_addr,
        )
    return saved
