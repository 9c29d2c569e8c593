"""Cache invalidation only: the evaluation keeps alarm definitions in memory per process (see definitions.py)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from alarms.models import AlarmDefinition
from alarms.services.definitions import definitions_invalidate
from historian.models import Area, Line, Machine, Tag


@receiver([post_save, post_delete], sender=AlarmDefinition)
@receiver([post_save, post_delete], sender=Tag)
@receiver([post_save, post_delete], sender=Machine)
@receiver([post_save, post_delete], sender=Line)
@receiver([post_save, post_delete], sender=Area)
def _definitions_changed(**kwargs) -> None:
    # Now, for this connection (it sees its own uncommitted change), and again after commit, so that another
    # process cannot reload between the two and keep the old definitions under the new token.
    definitions_invalidate()
    transaction.on_commit(definitions_invalidate)
