from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProductionConfig(AppConfig):
    """Production performance: machine states, downtime with reasons, shift calendars and OEE (ISO 22400-2)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "production"
    verbose_name = _("Production performance")

    def ready(self) -> None:
        from ingest.pipeline.hooks import register_after_store
        from production import signals  # noqa: F401  (configuration cache invalidation)
        from production.services.intervals import intervals_hook
        from production.services.summaries import summaries_hook

        # Like alarms: the store knows nothing of production, it hands each stored batch to the hooks each writer
        # of values makes from the registered factories.
        register_after_store(intervals_hook)
        # After the derivation: late values delete the KPI summaries they change (summaries are a cache).
        register_after_store(summaries_hook)
