"""Admin of the metrics Sparkplug B births announced: filter the ones not stored yet, turn chosen ones into tags.

Imported by ingest/admin.py (the admin autodiscovers only `admin` modules).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from historian.models import DiscoveredMetric, Machine, ScanClass
from ingest.protocols.sparkplug.discovery import sparkplug_tags_create


class SparkplugTagsForm(forms.Form):
    machine = forms.ModelChoiceField(queryset=Machine.objects.select_related("line__area__site"))
    scan_class = forms.ModelChoiceField(
        queryset=ScanClass.objects.all(), help_text="Groups the tags (edge nodes push their values, nothing is polled)"
    )


@admin.register(DiscoveredMetric)
class DiscoveredMetricAdmin(admin.ModelAdmin):
    list_display = ["name", "device", "sparkplug_type", "data_type", "alias", "last_birth_at", "tag"]
    list_filter = [("tag", admin.EmptyFieldListFilter), "device__discovered", "device__enabled", "device"]
    list_select_related = ["device", "tag"]
    search_fields = ["name", "device__name"]
    readonly_fields = ["device", "name", "sparkplug_type", "data_type", "alias", "first_seen_at", "last_birth_at"]
    actions = ["create_tags"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # metrics come from births

    @admin.action(description="Store as tags on a machine (enables their devices)")
    def create_tags(self, request: HttpRequest, queryset) -> HttpResponse | None:
        if not request.user.has_perm("historian.add_tag"):
            self.message_user(request, _("Creating tags needs the permission to add tags."), messages.ERROR)
            return None
        form = SparkplugTagsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            result = sparkplug_tags_create(
                metrics=list(queryset.select_related("device", "tag")),
                machine=form.cleaned_data["machine"],
                scan_class=form.cleaned_data["scan_class"],
            )
            if result.created:
                self.message_user(
                    request, _("Created %(n)s tags; their devices are enabled.") % {"n": len(result.created)}
                )
            for reason in result.skipped:
                self.message_user(request, _("Not created: %(reason)s") % {"reason": reason}, messages.WARNING)
            return HttpResponseRedirect(reverse("admin:historian_tag_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Store discovered metrics as tags",
            "form": form,
            "metrics": queryset.select_related("device"),
            "action": "create_tags",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/ingest/sparkplug_create_tags.html", context)
