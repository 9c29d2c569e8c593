"""Cache invalidation only: the state derivation keeps the production configuration in memory per process
(services/sources.py), and the KPI summaries are a cache of figures (services/summaries.py)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from historian.models import Area, Line, Machine, Site, Tag
from production.models import (
    Break,
    DowntimeReason,
    FaultCode,
    Holiday,
    MachineProduction,
    Product,
    ProductCycleTime,
    ShiftCalendar,
    ShiftPattern,
    StateInterval,
    StateMapping,
)
from production.queries.kpis import kpi_configuration_invalidate
from production.services.sources import production_sources_invalidate
from production.services.summaries import summaries_clear, summaries_invalidate


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


# KPI summaries (services/summaries.py): deleted when what they were computed from changes.


@receiver([post_save, post_delete], sender=StateInterval)
def _interval_changed(instance: StateInterval, **kwargs) -> None:
    summaries_invalidate(machine_id=instance.machine_id, start=instance.start, end=instance.end)


@receiver([post_save, post_delete], sender=MachineProduction)
@receiver([post_save, post_delete], sender=ProductCycleTime)
@receiver([post_save, post_delete], sender=ShiftCalendar)
@receiver([post_save, post_delete], sender=ShiftPattern)
@receiver([post_save, post_delete], sender=Break)
@receiver([post_save, post_delete], sender=Holiday)
@receiver([post_save, post_delete], sender=DowntimeReason)
def _kpi_configuration_changed(**kwargs) -> None:
    summaries_clear()
    _kpi_configuration_moved()


@receiver([post_save, post_delete], sender=Product)
@receiver([post_save, post_delete], sender=Machine)
@receiver([post_save, post_delete], sender=Line)
@receiver([post_save, post_delete], sender=Area)
@receiver([post_save, post_delete], sender=Site)
def _kpi_configuration_moved(**kwargs) -> None:
    # The KPI queries keep the configuration in memory (queries/kpis.py): now and after commit, as above.
    kpi_configuration_invalidate()
    transaction.on_commit(kpi_configuration_invalidate)
