from django.conf import settings
from django.db import models


class AccountPermissions(models.Model):
    """No table: holds the account permissions that belong to no model (Django ties each permission to one)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("manage_api_tokens", "Can create and revoke API tokens")]

    def __str__(self) -> str:
        return "account permissions"


class Theme(models.TextChoices):
    """The pages' colour themes (static/css/tokens.css): dark for control rooms, light for bright floors."""

    DARK = "dark", "Dark"
    LIGHT = "light", "Light, high contrast"


class UserPreference(models.Model):
    """What one person chose for their pages; a missing row means the defaults."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    theme = models.CharField(max_length=16, choices=Theme.choices, default=Theme.DARK)
    # Blank: the browser's (Accept-Language). One of settings.LANGUAGES otherwise.
    language = models.CharField(max_length=8, blank=True, default="", choices=settings.LANGUAGES)
    # Blank: the plant's zone (historian.queries.time_zone). An IANA name otherwise: the user's own, on request.
    time_zone = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"preferences of {self.user}"
