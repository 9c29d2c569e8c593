from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "alarms"
    verbose_name = "Alarms"

    def ready(self) -> None:
        from alarms import signals  # noqa: F401  (definition cache invalidation)
        from alarms.services.evaluation import AlarmEvaluation
        from ingest.pipeline.hooks import register_after_store

        # Alarms sit above ingest: the store knows no alarm, it hands each stored batch to its hooks. The class is
        # the hook factory: each writer of values makes its own evaluation (its own definitions and rate memory).
        register_after_store(AlarmEvaluation)
