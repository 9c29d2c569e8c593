from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


def _site_zones_changed(sender: Any, **kwargs: Any) -> None:
    from historian.queries.time_zone import SITE_ZONES_TOKEN

    SITE_ZONES_TOKEN.bump()


class HistorianConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "historian"
    verbose_name = _("Historian")

    def ready(self) -> None:
        from historian.models import Site

        # The pages' default time zone is the sites' (historian.queries.time_zone), kept in memory per process.
        post_save.connect(_site_zones_changed, sender=Site, dispatch_uid="historian.site_zones_save")
        post_delete.connect(_site_zones_changed, sender=Site, dispatch_uid="historian.site_zones_delete")
