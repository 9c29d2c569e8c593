from celery import shared_task
from django.conf import settings

from historian.services.samples import sample_partitions_create_ahead


@shared_task(ignore_result=True)
def sample_partitions_maintain() -> list[str]:
    return sample_partitions_create_ahead(days=settings.HISTORIAN_PARTITION_DAYS_AHEAD)
