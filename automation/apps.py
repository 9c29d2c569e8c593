from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "automation"
    verbose_name = _("Rules and automated responses")

    def ready(self) -> None:
        from automation import signals  # noqa: F401  (the rule cache's version token)
        from automation.services.evaluation import RuleEvaluation
        from ingest.pipeline.hooks import register_after_store

        # Like alarms, rules sit above ingest: each writer of values makes its own evaluation (its own rules in
        # memory and their held-for-duration state).
        register_after_store(RuleEvaluation)
