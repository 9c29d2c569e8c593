from celery import shared_task
from django.conf import settings

from historian.services.retention import retention_apply
from historian.services.rollups import rollups_refresh
from historian.services.samples import sample_partitions_create_ahead
from historian.services.tag_import_jobs import tag_import_job_run


@shared_task(ignore_result=True)
def sample_partitions_maintain() -> list[str]:
    return sample_partitions_create_ahead(days=settings.HISTORIAN_PARTITION_DAYS_AHEAD)


@shared_task(ignore_result=True)
def rollups_maintain() -> None:
    rollups_refresh()


@shared_task(ignore_result=True)
def retention_maintain() -> None:
    retention_apply()


@shared_task(ignore_result=True)
def tag_import_run(job_id: str) -> str:
    return tag_import_job_run(job_id=job_id)
