from django.db import models


class AccountPermissions(models.Model):
    """No table: holds the account permissions that belong to no model (Django ties each permission to one)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("manage_api_tokens", "Can create and revoke API tokens")]

    def __str__(self) -> str:
        return "account permissions"
