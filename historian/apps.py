from django.apps import AppConfig


class HistorianConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "historian"
    verbose_name = "Historian"
