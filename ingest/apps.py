from django.apps import AppConfig


class IngestConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ingest"
    verbose_name = "Acquisition"

    def ready(self) -> None:
        from ingest import signals  # noqa: F401
        from ingest.protocols import protocols_register

        protocols_register()
