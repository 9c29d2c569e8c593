from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IngestConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ingest"
    verbose_name = _("Acquisition")

    def ready(self) -> None:
        from ingest import signals  # noqa: F401
        from ingest.pipeline.edge_outbox import edge_outbox_hook_make
        from ingest.pipeline.hooks import register_after_store
        from ingest.protocols import protocols_register

        protocols_register()
        register_after_store(edge_outbox_hook_make)  # this site's values for the central (issue 16)
