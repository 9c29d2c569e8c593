from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "alarms"
    verbose_name = "Alarms"

    def ready(self) -> None:
        from alarms import signals  # noqa: F401  (definition cache invalidation)
        from alarms.services.evaluation import alarms_evaluate
        from ingest.pipeline.hooks import register_after_store

        # Alarms sit above ingest: the store knows no alarm, it hands each stored batch to its hooks.
        register_after_store(alarms_evaluate)
