"""Rules in admin: edited with their condition and actions as JSON (validated with clear errors), each save a new
version (read-only, listed under the rule), the firings journal read-only, and the rules' file (export, import)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from automation.models import Rule, RuleFiring, RuleVersion
from automation.services.files import rules_export, rules_import_apply, rules_import_plan
from automation.services.rules import rule_save, rule_validate


class RuleForm(forms.ModelForm):
    comment = forms.CharField(max_length=300, required=False, help_text="What this version changes (kept with it)")

    class Meta:
        model = Rule
        fields = ["name", "description", "enabled", "dry_run", "cooldown_seconds", "run_as", "condition", "actions"]

    def clean(self) -> dict:
        data = super().clean() or {}
        rule = self.instance
        for name in self.Meta.fields:
            if name in data:
                setattr(rule, name, data[name])
        try:
            rule_validate(rule)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                if field in self.fields and field not in self.errors:
                    self.add_error(field, messages)
        return data


class RuleVersionInline(admin.TabularInline):
    model = RuleVersion
    extra = 0
    can_delete = False
    fields = ("number", "saved_at", "saved_by_name", "comment", "document")
    readonly_fields = fields
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ["name", "enabled", "dry_run", "version", "cooldown_seconds", "updated_at", "links"]
    list_filter = ["enabled", "dry_run"]
    search_fields = ["name", "description"]
    readonly_fields = ["version"]
    autocomplete_fields = ["run_as"]
    inlines = [RuleVersionInline]
    actions = ["export_json"]
    change_list_template = "admin/automation/rule/change_list.html"
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled", "dry_run", "cooldown_seconds", "run_as", "version"]}),
        ("What it watches and does", {"fields": ["condition", "actions", "comment"]}),
    ]

    @admin.display(description="")
    def links(self, obj: Rule):
        firings = reverse("admin:automation_rulefiring_changelist") + f"?rule__id__exact={obj.pk}"
        backtest = reverse("automation:backtest", args=[obj.pk])
        return format_html('<a href="{}">firings</a> · <a href="{}">backtest</a>', firings, backtest)

    def save_model(self, request, obj, form, change) -> None:
        rule_save(rule=obj, user=request.user, comment=form.cleaned_data.get("comment", ""), remote_addr=None)

    def save_related(self, request, form, formsets, change) -> None:
        form.save_m2m()  # the versions are written by rule_save, never through the inline

    @admin.action(description="Export the selected rules as a JSON file")
    def export_json(self, request, queryset) -> HttpResponse:
        response = HttpResponse(rules_export(rules=list(queryset)), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="rules.json"'
        return response

    def get_urls(self):
        extra = [path("import/", self.admin_site.admin_view(self.import_view), name="automation_rule_import")]
        return extra + super().get_urls()

    def import_view(self, request):
        """Upload a rules file: its plan (each rule's changes, field by field), then apply it."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Import rules"}
        if request.method == "POST":
            content = request.FILES["file"].read() if "file" in request.FILES else request.POST.get("content", "")
            try:
                plan = rules_import_plan(content=content)
                if request.POST.get("apply") and plan.valid:
                    saved = rules_import_apply(
                        plan=plan, user=request.user, remote_addr=request.META.get("REMOTE_ADDR")
                    )
                    messages.success(request, _("%(n)s rules imported, each as a new version.") % {"n": len(saved)})
                    return redirect("admin:automation_rule_changelist")
            except ValidationError as error:
                messages.error(request, "; ".join(error.messages))
                return TemplateResponse(request, "admin/automation/rule/import.html", context)
            text = content.decode() if isinstance(content, bytes) else content
            context |= {"plan": plan, "content": text}
        return TemplateResponse(request, "admin/automation/rule/import.html", context)


@admin.register(RuleFiring)
class RuleFiringAdmin(admin.ModelAdmin):
    """The journal: read-only."""

    list_display = ["time", "rule", "version", "dry_run", "values", "outcomes", "done_at"]
    list_filter = ["dry_run", "rule"]
    date_hierarchy = "time"
    list_select_related = ["rule"]
    readonly_fields = ["rule", "version", "time", "dry_run", "values", "outcomes", "done_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
