"""Applying a checked plan in bulk, and tag_import_csv: read, check and (unless a dry run) apply in one transaction."""

from __future__ import annotations

import contextlib
import uuid
from typing import IO, TypeVar

from auditlog.context import set_actor
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models, transaction

from historian.models import Device, Machine, ScanClass, Tag
from historian.services.tag_csv.audit import AuditBatch
from historian.services.tag_csv.plan import Plan, PlannedRelated, RelatedModel, machine_label, read_rows, snapshot
from historian.services.tag_csv.report import ImportReport, Progress
from historian.signals import tag_csv_applied, tags_imported

PROGRESS_EVERY = 500

_M = TypeVar("_M", bound=models.Model)


def plan_apply(plan: Plan, *, actor: AbstractBaseUser | None, progress: Progress | None) -> str:
    cid = f"tag-csv-{uuid.uuid4()}"
    audit = AuditBatch(actor=actor, cid=cid)
    for kind in ("site", "area", "line", "machine"):
        objs = [obj for k, obj, _ in plan.new_hierarchy if k == kind]
        if objs:
            _bulk_create_same_model(objs)
        for obj in objs:
            audit.add(None, obj, repr_=machine_label(obj))
    _related_apply(plan.related_devices, Device, audit)
    _related_apply(plan.related_scan_classes, ScanClass, audit)

    total = len(plan.tags_create) + sum(1 for u in plan.tags_update if u[2])
    done = 0
    for start in range(0, len(plan.tags_create), 1000):
        Tag.objects.bulk_create(plan.tags_create[start : start + 1000])
        done += len(plan.tags_create[start : start + 1000])
        if progress:
            progress("writing", done, total)
    field_updates = [u for u in plan.tags_update if u[2]]  # not only a machine_state change
    if field_updates:
        update_fields = sorted({f for _, _, fields in field_updates for f in fields})
        for start in range(0, len(field_updates), 1000):
            chunk = field_updates[start : start + 1000]
            Tag.objects.bulk_update([after for _, after, _ in chunk], update_fields)
            done += len(chunk)
            if progress:
                progress("writing", done, total)
    for tag in plan.tags_create:
        audit.add(None, tag)
    for before, after, _ in plan.tags_update:
        audit.add(before, after)

    machines: dict[int, tuple[Machine, Machine]] = {}
    for machine, _tag in plan.state_unset:
        machines.setdefault(machine.pk, (snapshot(machine), machine))
        machine.state_tag = None
    for key, (tag, _line) in plan.state_wanted.items():
        machine = plan.machines[key]
        if machine.state_tag_id != tag.pk:
            machines.setdefault(machine.pk, (snapshot(machine), machine))
            machine.state_tag = tag
    if machines:
        Machine.objects.bulk_update([m for _, m in machines.values()], ["state_tag"])
        for machine_before, machine_after in machines.values():
            audit.add(machine_before, machine_after, repr_=machine_label(machine_after))
    for extension in plan.extensions:
        extension.apply(audit=audit)
    audit.write(progress)
    return cid


def _bulk_create_same_model(objs: list[_M]) -> None:
    """Objects all of one model (the first one's), created in one statement."""
    type(objs[0])._default_manager.bulk_create(objs)


def _related_apply(
    related: dict[str, PlannedRelated[RelatedModel]], model: type[RelatedModel], audit: AuditBatch
) -> None:
    new = [r.obj for r in related.values() if r.before is None]
    model._default_manager.bulk_create(new)
    changed = [r for r in related.values() if r.before is not None and r.changes]
    if changed:
        fields = sorted({c.removeprefix("device_").removeprefix("scan_class_") for r in changed for c in r.changes})
        model._default_manager.bulk_update([r.obj for r in changed], fields)
    for r in related.values():
        if r.before is None or r.changes:
            audit.add(r.before, r.obj)


def tag_import_csv(
    *,
    file: IO[bytes] | IO[str] | bytes | str,
    dry_run: bool,
    actor: AbstractBaseUser | AnonymousUser | None,
    filename: str = "",
    progress: Progress | None = None,
) -> ImportReport:
    """Read a tag CSV (format: the docstring of historian.services.tag_csv) and report what it changes; unless
    `dry_run`, apply it.

    The diff is computed the same way for both, inside one transaction that the apply commits: a file with any
    error writes nothing. Raises TagCsvFormatError when the file as a whole is unreadable or has the wrong columns.
    """
    header, rows = read_rows(file)
    user = actor if isinstance(actor, AbstractBaseUser) else None  # an AnonymousUser is nobody to audit
    with transaction.atomic():
        plan = Plan(lock=not dry_run)
        plan.report.total = len(rows)
        plan.report.dry_run = dry_run
        for index, (line, cells) in enumerate(rows, start=1):
            plan.add_row(line, header, cells)
            if progress and (index % PROGRESS_EVERY == 0 or index == len(rows)):
                progress("checking", index, len(rows))
        plan.finish()
        report = plan.report
        if dry_run or report.errors:
            return report
        # set_actor: deletions an extension makes through the ORM are logged by auditlog's signals, with the actor.
        with set_actor(user) if user is not None else contextlib.nullcontext():
            cid = plan_apply(plan, actor=user, progress=progress)
        # In this transaction: the audit app records it (audit/receivers.py), or the import rolls back.
        tag_csv_applied.send(
            sender=Tag, actor=user, filename=filename, details={**report.summary(), "auditlog_cid": cid}
        )
        report.applied = True
        created_ids = [t.pk for t in plan.tags_create]
        updated_ids = [after.pk for _, after, _ in plan.tags_update]
        # Pollers re-read their tags now (ingest/signals.py).
        transaction.on_commit(lambda: tags_imported.send(sender=Tag, created_ids=created_ids, updated_ids=updated_ids))
    return report
