"""django-auditlog rows for the import's bulk writes, written by hand (bulk_create / bulk_update send no signals)."""

from __future__ import annotations

from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import models

from historian.services.tag_csv.report import Progress


class AuditBatch:
    """django-auditlog entries for bulk writes (bulk_create / bulk_update send no signals), written in bulk."""

    def __init__(self, *, actor: AbstractBaseUser | None, cid: str) -> None:
        self.actor, self.cid = actor, cid
        self.entries: list[LogEntry] = []
        self.json_changes = settings.AUDITLOG_STORE_JSON_CHANGES

    def add(self, before: models.Model | None, after: models.Model, *, repr_: str | None = None) -> None:
        changes = model_instance_diff(before, after, use_json_for_changes=self.json_changes)
        if not changes:
            return
        self.entries.append(
            LogEntry(
                content_type=ContentType.objects.get_for_model(after),
                object_pk=str(after.pk),
                object_id=after.pk,
                object_repr=repr_ or str(after),
                action=LogEntry.Action.CREATE if before is None else LogEntry.Action.UPDATE,
                changes=changes,
                actor=self.actor,
                actor_email=getattr(self.actor, "email", None) or None,
                cid=self.cid,
                additional_data={"source": "tag_csv_import"},
            )
        )

    def write(self, progress: Progress | None) -> None:
        for start in range(0, len(self.entries), 1000):
            LogEntry.objects.bulk_create(self.entries[start : start + 1000])
            if progress:
                progress("auditing", min(start + 1000, len(self.entries)), len(self.entries))
