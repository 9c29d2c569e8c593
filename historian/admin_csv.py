"""Tag CSV import and export in admin: upload -> dry-run diff (with progress) -> confirm -> apply (with progress)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from historian.models import Tag
from historian.services.tag_csv import TagCsvFormatError, tag_export_csv
from historian.services.tag_import_jobs import tag_import_job, tag_import_job_file, tag_import_job_start

# The import creates and changes tags and whatever they name: machines (and their line, area, site), devices and
# scan classes.
IMPORT_PERMISSIONS = [
    f"historian.{action}_{model}"
    for model in ("tag", "device", "scanclass", "site", "area", "line", "machine")
    for action in ("add", "change")
]
SHOWN_PER_LIST = 500


class TagCsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="A file in the format of the tag export (UTF-8).")


def _tag_csv_response(queryset: QuerySet[Tag]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(tag_export_csv(queryset=queryset), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="tags-{stamp}.csv"'
    return response


@admin.action(description="Export selected tags as CSV", permissions=["view"])
def export_tags_csv(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Tag]
) -> StreamingHttpResponse:
    return _tag_csv_response(queryset)


class TagCsvAdminMixin(admin.ModelAdmin):
    """The tag admin's CSV export and import (the views, their URLs, the changelist's buttons)."""

    change_list_template = "admin/historian/tag/change_list.html"
    actions = [export_tags_csv]

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("export.csv", wrap(self.export_view), name="historian_tag_export_csv"),
            path("import/", wrap(self.import_view), name="historian_tag_import"),
            path("import/<str:job_id>/", wrap(self.import_job_view), name="historian_tag_import_job"),
            path("import/<str:job_id>/status.json", wrap(self.import_status_view), name="historian_tag_import_status"),
            path("import/<str:job_id>/apply/", wrap(self.import_apply_view), name="historian_tag_import_apply"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_import_csv": request.user.has_perms(IMPORT_PERMISSIONS)}
        return super().changelist_view(request, extra_context)

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """Every tag the changelist's current filters and search select."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return _tag_csv_response(self.get_changelist_instance(request).get_queryset(request))

    def _check_import(self, request: HttpRequest) -> int:
        """The id of the user, who may import (else PermissionDenied)."""
        user = request.user
        if isinstance(user, AnonymousUser) or not user.has_perms(IMPORT_PERMISSIONS):
            raise PermissionDenied
        return user.pk

    def _job(self, request: HttpRequest, job_id: str) -> tuple[dict[str, Any], int]:
        """The import job and the id of the user, who may see it."""
        actor_id = self._check_import(request)
        job = tag_import_job(job_id=job_id)
        if job is None or (job["actor_id"] != actor_id and not request.user.is_superuser):
            raise Http404("No such import (imports are kept for six hours).")
        return job, actor_id

    def _context(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": Tag._meta,
            "title": "Import tags from CSV",
            **extra,
        }

    def import_view(self, request: HttpRequest) -> HttpResponse:
        actor_id = self._check_import(request)
        form = TagCsvUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job_id = tag_import_job_start(
                    content=upload.read(), filename=upload.name, dry_run=True, actor_id=actor_id
                )
            except TagCsvFormatError as exc:
                form.add_error("file", str(exc))
            else:
                return HttpResponseRedirect(reverse("admin:historian_tag_import_job", args=[job_id]))
        return render(request, "admin/historian/tag/import.html", self._context(request, form=form))

    def import_job_view(self, request: HttpRequest, job_id: str) -> HttpResponse:
        job, _ = self._job(request, job_id)
        report = job["report"]
        lists = {}
        if report is not None:
            lists = {name: report[name][:SHOWN_PER_LIST] for name in ("created", "updated", "errors", "objects")}
            lists["more"] = {
                name: len(report[name]) - SHOWN_PER_LIST
                for name in ("created", "updated", "errors", "objects")
                if len(report[name]) > SHOWN_PER_LIST
            }
        can_apply = (
            report is not None
            and job["dry_run"]
            and not report["errors"]
            and bool(report["created"] or report["updated"] or report["objects"])
        )
        return render(
            request,
            "admin/historian/tag/import_job.html",
            self._context(request, job=job, report=report, lists=lists, can_apply=can_apply),
        )

    def import_status_view(self, request: HttpRequest, job_id: str) -> JsonResponse:
        job, _ = self._job(request, job_id)
        return JsonResponse(job["status"])

    def import_apply_view(self, request: HttpRequest, job_id: str) -> HttpResponse:
        return require_POST(self._import_apply)(request, job_id)

    def _import_apply(self, request: HttpRequest, job_id: str) -> HttpResponse:
        job, actor_id = self._job(request, job_id)
        content = tag_import_job_file(job_id=job_id)
        if not job["dry_run"] or content is None:
            messages.error(request, _("This import cannot be applied (it was applied already, or it expired)."))
            return HttpResponseRedirect(reverse("admin:historian_tag_import"))
        apply_id = tag_import_job_start(content=content, filename=job["filename"], dry_run=False, actor_id=actor_id)
        return HttpResponseRedirect(reverse("admin:historian_tag_import_job", args=[apply_id]))
