"""The audit trail in admin: read-only for those with the view permission (administrators), exportable as CSV."""

from collections.abc import Callable, Iterator

from auditlog.admin import LogEntryAdmin
from auditlog.models import LogEntry
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone

from audit.models import AuditEvent
from audit.queries import audit_events_csv, log_entries_csv


class CsvExportMixin(admin.ModelAdmin):
    """An "Export CSV" button on the changelist: the rows the current filters and search select.

    A ModelAdmin itself (never registered), so the admin methods it calls are typed.
    """

    change_list_template = "admin/audit/change_list_export.html"
    csv_export: Callable[..., Iterator[str]]
    csv_filename: str

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        view = self.admin_site.admin_view(self.export_csv_view)
        name = f"{opts.app_label}_{opts.model_name}_export_csv"
        return [path("export.csv", view, name=name), *super().get_urls()]

    def export_csv_view(self, request: HttpRequest) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        queryset = self.get_changelist_instance(request).get_queryset(request)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(type(self).csv_export(queryset=queryset), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{self.csv_filename}-{stamp}.csv"'
        return response


@admin.register(AuditEvent)
class AuditEventAdmin(CsvExportMixin):
    csv_export = audit_events_csv
    csv_filename = "audit-events"
    list_display = ["timestamp", "actor_username", "action", "target", "remote_addr"]
    list_filter = ["action", "timestamp"]
    search_fields = ["actor_username", "target", "action"]
    date_hierarchy = "timestamp"
    readonly_fields = ["timestamp", "actor", "actor_username", "action", "target", "details", "remote_addr"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class ConfigurationChangeAdmin(CsvExportMixin, LogEntryAdmin):
    csv_export = log_entries_csv
    csv_filename = "configuration-changes"

    def has_delete_permission(self, request: HttpRequest, obj: LogEntry | None = None) -> bool:
        return False
