"""Cache invalidation only: pollers keep their configuration in memory (see ingest.acquisition.poller)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from historian.models import Device, ScanClass, Tag
from historian.signals import tags_imported
from ingest.acquisition.config_token import acquisition_config_invalidate


@receiver([post_save, post_delete], sender=Device)
@receiver([post_save, post_delete], sender=Tag)
@receiver([post_save, post_delete], sender=ScanClass)
def _acquisition_config_changed(**kwargs) -> None:
    # After commit, so that a poller that reloads at once sees the change.
    transaction.on_commit(acquisition_config_invalidate)


@receiver(tags_imported, dispatch_uid="ingest.tags_imported")
def _tags_imported(**kwargs) -> None:
    # Sent on commit already: a tag CSV import's bulk writes, which send no post_save.
    acquisition_config_invalidate()
