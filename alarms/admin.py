from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext as _

from alarms.models import Alarm, AlarmCategory, AlarmDefinition, NotificationDelivery, NotificationRoute
from alarms.services.actions import alarm_definition_disable, alarms_set_out_of_service, may_see_security

# The journal is not in admin: it is append-only and read on the alarm history page.
# Security alarms, their runtime, security routes and their deliveries (which carry evidence) are listed only for
# holders of alarms.view_security_alarms.


class SecurityHiddenMixin:
    security_lookup = "category"

    def get_queryset(self, request):
        qs = super().get_queryset(request)  # type: ignore[misc]
        if may_see_security(request.user):
            return qs
        return qs.filter(**{self.security_lookup: AlarmCategory.PROCESS})


@admin.register(AlarmDefinition)
class AlarmDefinitionAdmin(SecurityHiddenMixin, admin.ModelAdmin):
    list_display = ["tag", "name", "category", "kind", "limit", "priority", "deadband", "on_delay_seconds", "enabled"]
    list_filter = ["enabled", "category", "priority", "kind", "tag__machine__line__area", "tag__machine__line"]
    search_fields = ["name", "tag__path", "message", "source"]
    list_select_related = ["tag"]
    autocomplete_fields = ["tag", "setpoint_tag", "suppress_tag"]
    list_per_page = 100
    fieldsets = [
        (None, {"fields": ["tag", "name", "category", "source", "priority", "message", "enabled", "description"]}),
        (
            "Condition",
            {"fields": ["kind", "limit", "setpoint_tag", "deadband", "on_delay_seconds", "off_delay_seconds"]},
        ),
        ("Lifecycle", {"fields": ["latching", "suppress_tag", "suppress_when", "suppress_value"]}),
    ]
    actions = ["take_out_of_service", "return_to_service"]

    def get_readonly_fields(self, request, obj=None):
        # Security alarms are raised by detectors: their category, source, kind and (absent) tag are theirs.
        if obj is not None and obj.category == AlarmCategory.SECURITY:
            return ["category", "source", "tag", "kind", "limit", "setpoint_tag", "suppress_tag"]
        return ["category", "source"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "enabled" in form.changed_data and not obj.enabled:
            alarm_definition_disable(definition=obj, user=request.user, now=timezone.now())

    def _set_service(self, request, queryset, *, out_of_service: bool) -> None:
        result = alarms_set_out_of_service(
            alarm_ids=list(queryset.values_list("pk", flat=True)),
            user=request.user,
            out_of_service=out_of_service,
            comment="from Configure",
            now=timezone.now(),
        )
        self.message_user(
            request,
            _("%(done)s alarms changed, %(refused)s left as they were.")
            % {"done": len(result.done), "refused": len(result.refused)},
        )

    @admin.action(description="Take the selected alarms out of service", permissions=["out_of_service"])
    def take_out_of_service(self, request, queryset) -> None:
        self._set_service(request, queryset, out_of_service=True)

    @admin.action(description="Return the selected alarms to service", permissions=["out_of_service"])
    def return_to_service(self, request, queryset) -> None:
        self._set_service(request, queryset, out_of_service=False)

    def has_out_of_service_permission(self, request) -> bool:
        return request.user.has_perm("alarms.set_alarm_out_of_service")


@admin.register(Alarm)
class AlarmAdmin(SecurityHiddenMixin, admin.ModelAdmin):
    """Runtime state: read-only here (operators work alarms from the alarm list)."""

    security_lookup = "definition__category"
    list_display = ["definition", "state", "condition", "shelved_until", "suppressed", "out_of_service", "changed_at"]
    list_filter = ["state", "suppressed", "out_of_service", "definition__priority"]
    search_fields = ["definition__name", "definition__tag__path"]
    list_select_related = ["definition__tag"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(NotificationRoute)
class NotificationRouteAdmin(SecurityHiddenMixin, admin.ModelAdmin):
    list_display = [
        "name", "channel", "category", "target", "min_priority", "area", "escalate_after_minutes", "enabled"
    ]  # fmt: skip
    list_filter = ["channel", "category", "enabled", "min_priority"]
    search_fields = ["name", "target"]

    def get_readonly_fields(self, request, obj=None):
        # Only who may see security alarms may send them (and their evidence) somewhere.
        return [] if may_see_security(request.user) else ["category"]


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(SecurityHiddenMixin, admin.ModelAdmin):
    security_lookup = "route__category"

    list_display = ["created_at", "route", "alarm", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "route"]
    list_select_related = ["route", "alarm__tag"]
    readonly_fields = [f.name for f in NotificationDelivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
