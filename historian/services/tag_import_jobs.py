"""Tag CSV imports run by a Celery worker, so a 10,000-tag file shows its progress instead of a spinning request.

The file and the job's status live in the cache (not the database): the import runs in one transaction, and its
progress must be visible to the page that polls it before that transaction commits.
"""

import uuid
from dataclasses import asdict
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import DatabaseError, transaction

from historian.services.tag_csv import TagCsvFormatError, tag_import_csv

JOB_TTL_SECONDS = 6 * 3600
MAX_FILE_BYTES = 50 * 1024 * 1024


def _key(job_id: str, part: str) -> str:
    return f"historian:tag-import:{job_id}:{part}"


def tag_import_job_start(*, content: bytes, filename: str, dry_run: bool, actor_id: int) -> str:
    """Keep the file and queue its import (after the current transaction commits); returns the job id."""
    from historian.tasks import tag_import_run

    if len(content) > MAX_FILE_BYTES:
        raise TagCsvFormatError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    job_id = uuid.uuid4().hex
    cache.set(_key(job_id, "file"), content, JOB_TTL_SECONDS)
    cache.set(
        _key(job_id, "job"),
        {"filename": filename, "dry_run": dry_run, "actor_id": actor_id},
        JOB_TTL_SECONDS,
    )
    _status_set(job_id, state="queued", stage="waiting for a worker", done=0, total=0)
    transaction.on_commit(lambda: tag_import_run.delay(job_id))
    return job_id


def tag_import_job_run(*, job_id: str) -> str:
    """Run a queued import; the outcome (report or error) is kept with the job. Returns the final state."""
    job = cache.get(_key(job_id, "job"))
    content = cache.get(_key(job_id, "file"))
    if job is None or content is None:
        return "expired"
    actor = get_user_model().objects.filter(pk=job["actor_id"], is_active=True).first()
    _status_set(job_id, state="running", stage="reading", done=0, total=0)

    def progress(stage: str, done: int, total: int) -> None:
        _status_set(job_id, state="running", stage=stage, done=done, total=total)

    try:
        report = tag_import_csv(
            file=content, dry_run=job["dry_run"], actor=actor, filename=job["filename"], progress=progress
        )
    except TagCsvFormatError as exc:
        _status_set(job_id, state="failed", stage="", done=0, total=0, error=str(exc))
        return "failed"
    except DatabaseError as exc:  # e.g. a tag of the file created meanwhile by someone else
        message = f"The database refused the changes, so nothing was written ({exc}). Check the file again."
        _status_set(job_id, state="failed", stage="", done=0, total=0, error=message)
        return "failed"
    cache.set(_key(job_id, "report"), asdict(report), JOB_TTL_SECONDS)
    _status_set(job_id, state="done", stage="", done=report.total, total=report.total)
    return "done"


def _status_set(job_id: str, **status: Any) -> None:
    cache.set(_key(job_id, "status"), status, JOB_TTL_SECONDS)


def tag_import_job(*, job_id: str) -> dict[str, Any] | None:
    """The job as the page shows it: its settings, status and, once done, its report (as a dict)."""
    job = cache.get(_key(job_id, "job"))
    if job is None:
        return None
    return {
        **job,
        "id": job_id,
        "status": cache.get(_key(job_id, "status")) or {"state": "expired"},
        "report": cache.get(_key(job_id, "report")),
    }


def tag_import_job_file(*, job_id: str) -> bytes | None:
    return cache.get(_key(job_id, "file"))
