"""The user admin, with the grant rules of accounts.services.grants (no escalation through admin)."""

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import ManyToManyField
from django.forms import ModelForm, ModelMultipleChoiceField
from django.http import HttpRequest

from accounts.services.grants import groups_grantable_by, permissions_grantable_by, user_editable_by

User = get_user_model()


class UserAdmin(DjangoUserAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ("is_superuser",)
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Also guards the password form: Django's user_change_password asks this for the target user.
        if obj is not None and not user_editable_by(request.user, obj):
            return False
        return super().has_change_permission(request, obj)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField, request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField | None:
        if db_field.name == "user_permissions":
            kwargs["queryset"] = permissions_grantable_by(request.user).select_related("content_type")
        elif db_field.name == "groups":
            kwargs["queryset"] = groups_grantable_by(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        # The form offers only what the editor may grant; what the user holds beyond that is kept, not dropped.
        user = form.instance
        kept_permissions = kept_groups = []
        if change:
            kept_permissions = list(
                user.user_permissions.exclude(pk__in=permissions_grantable_by(request.user).values("pk"))
            )
            kept_groups = list(user.groups.exclude(pk__in=groups_grantable_by(request.user).values("pk")))
        super().save_related(request, form, formsets, change)
        if kept_permissions:
            user.user_permissions.add(*kept_permissions)
        if kept_groups:
            user.groups.add(*kept_groups)


admin.site.unregister(User)
admin.site.register(User, UserAdmin)
