"""Cache invalidation only: the state derivation keeps the production configuration in memory per process
(services/sources.py)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from historian.models import Area, Line, Machine, Tag
from production.models import FaultCode, MachineProduction, Product, StateMapping
from production.services.sources import production_sources_invalidate


@receiver([post_save, post_delete], sender=MachineProduction)
@receiver([post_save, post_delete], sender=StateMapping)
@receiver([post_save, post_delete], sender=Product)
@receiver([post_save, post_delete], sender=FaultCode)
@receiver([post_save, post_delete], sender=Tag)
@receiver([post_save, post_delete], sender=Machine)
@receiver([post_save, post_delete], sender=Line)
@receiver([post_save, post_delete], sender=Area)
def _sources_changed(**kwargs) -> None:
    # Now, for this connection (it sees its own uncommitted change), and again after commit, so that another
    # process cannot reload between the two and keep the old configuration under the new token.
    production_sources_invalidate()
    transaction.on_commit(production_sources_invalidate)
