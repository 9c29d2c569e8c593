from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MaintenanceConfig(AppConfig):
    """Predictive maintenance: health models per machine, their scores as derived tags, and work requests."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "maintenance"
    verbose_name = _("Maintenance")

    def ready(self) -> None:
        from historian.addresses import address_parser_register
        from ingest.pipeline.hooks import register_after_store
        from maintenance.derived import DERIVED_PROTOCOL, parse_derived_address
        from maintenance.services.scoring import HealthScoring

        # Derived tags (the health score, its top contribution, the RUL) live on a device of protocol "derived":
        # nobody polls it, maintenance writes its values through the normal store.
        address_parser_register(DERIVED_PROTOCOL, parse_derived_address)
        # Like alarms and production: the store knows nothing of maintenance; each writer of values makes its own
        # scoring (what it remembers of each machine between scores) from this factory.
        register_after_store(HealthScoring)
