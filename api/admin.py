"""API tokens in admin: an administrator sees every token and gives or takes its write scope (`can_write`, off by
default: a token reads only). Created and revoked by their owners on the API tokens page; the scope's changes are
in the audit trail (django-auditlog)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "can_write", "created_at", "last_used_at", "revoked_at")
    list_filter = ("can_write", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "user__username")
    fields = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at", "can_write")
    readonly_fields = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is made by its owner, who sees it once

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked, not deleted: the audit trail names it
