from django.apps import AppConfig


class ProductionConfig(AppConfig):
    """Production performance: machine states, downtime with reasons, shift calendars and OEE (ISO 22400-2)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "production"
    verbose_name = "Production performance"
