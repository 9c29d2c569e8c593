from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo plant: `manage.py demo`, the plant simulator it serves over every protocol, its alarm definitions."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "demo"
    verbose_name = "Demo plant"
