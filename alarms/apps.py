from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlarmsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "alarms"
    verbose_name = _("Alarms")

    def ready(self) -> None:
        from alarms import signals  # noqa: F401  (definition cache invalidation)
        from alarms.services.evaluation import AlarmEvaluation
        from ingest.pipeline.hooks import register_after_store

        # Alarms sit above ingest: the store knows no alarm, it hands each stored batch to its hooks. The class is
        # the hook factory: each writer of values makes its own evaluation (its own definitions and rate memory).
        register_after_store(AlarmEvaluation)

        # Security alarms: detectors below report security events; alarms raise them (services/security.py).
        from django.db.models.signals import post_save

        from alarms.services.login_bursts import failed_login_recorded
        from alarms.services.security import security_event_received
        from audit.models import AuditEvent
        from inventory.security_events import security_event

        security_event.connect(security_event_received, dispatch_uid="alarms.security_event")
        post_save.connect(failed_login_recorded, sender=AuditEvent, dispatch_uid="alarms.failed_login_burst")
