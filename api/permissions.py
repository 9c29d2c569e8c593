from rest_framework.permissions import BasePermission

VIEW_PLANT = "historian.view_plant"
EXPORT_DATA = "historian.export_data"
VIEW_ALARMS = "alarms.view_alarm"
MANAGE_API_TOKENS = "accounts.manage_api_tokens"


def has_perm(codename: str) -> type[BasePermission]:
    """A DRF permission: the user (session or token) holds `codename`."""

    class HasPerm(BasePermission):
        message = f"You lack the permission {codename}."

        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.is_authenticated and request.user.has_perm(codename))

    HasPerm.__name__ = f"HasPerm_{codename.replace('.', '_')}"
    return HasPerm


# The schema and its docs (Swagger UI, Redoc) are for those who may use the API, not for any signed-in account.
CanUseApi = has_perm(VIEW_PLANT)
