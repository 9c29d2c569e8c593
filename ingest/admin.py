"""The Device admin with its OPC UA parts: connection and security fields, certificate uploads, a write-only
password, and the "Browse OPC UA server" page that creates tags from the variables a person ticks.

It extends historian.admin.DeviceAdminBase and takes over its registration, so that the historian app does not import
ingest (acquisition depends on the historian, never the other way round).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services.events import audit_record
from historian.addresses import InvalidTagAddress
from historian.admin import DeviceAdminBase
from historian.models import Device, Machine, Protocol, ScanClass
from ingest.protocols.base import DeviceUnreachable
from ingest.protocols.opcua.configure import (
    MAX_BROWSE_DEPTH,
    certificate_thumbprint,
    device_opcua_client_certificate_generate,
    device_opcua_pki_check,
    device_opcua_pki_store,
    opcua_browse,
    opcua_server_certificate_unpin,
    opcua_tags_create,
)
from ingest.services.devices import device_enabled_set
from ingest.services.quarantine import MAX_REASON_CHARS, device_quarantine_set
from ingest.services.writes import PERM_ENABLE_DEVICE_WRITES, device_writes_set

OPCUA_FIELDS = [
    "endpoint_url",
    "security_policy",
    "security_mode",
    "client_certificate",
    "client_certificate_upload",
    "client_private_key",
    "client_private_key_upload",
    "server_certificate",
    "server_certificate_upload",
    "username",
    "password",
    "timestamp_source",
    "publishing_interval_ms",
    "use_subscriptions",
]
_UPLOADS = {
    "client_certificate_upload": "client_certificate",
    "client_private_key_upload": "client_private_key",
    "server_certificate_upload": "server_certificate",
}
_MAX_UPLOAD_BYTES = 64 * 1024


class DeviceOpcUaForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="OPC UA: never shown again; leave empty to keep the stored password.",
    )
    clear_password = forms.BooleanField(required=False, help_text="Remove the stored password.")
    client_certificate_upload = forms.FileField(
        required=False, help_text="…or upload it (PEM or DER): kept under MILLWRIGHT_STATE_DIR"
    )
    client_private_key_upload = forms.FileField(required=False, help_text="…or upload it (PEM or DER, unencrypted)")
    server_certificate_upload = forms.FileField(required=False, help_text="…or upload it (PEM or DER)")

    class Meta:
        model = Device
        fields = "__all__"  # noqa: DJ007  (the admin's fieldsets choose what is shown)

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if not password and self.instance.pk and not self.data.get("clear_password"):
            return self.instance.password  # empty: keep what is stored
        return password

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean returns (its stub says None)
        self.pki_files: dict[str, bytes] = {}
        for upload, field in _UPLOADS.items():
            file = cleaned.get(upload)
            if file is None:
                continue
            if file.size > _MAX_UPLOAD_BYTES:
                self.add_error(upload, "A certificate or key file is a few kilobytes; this one is too large.")
                continue
            self.pki_files[field] = file.read()
        try:
            device_opcua_pki_check(**self.pki_files)
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                self.add_error(f"{field}_upload", problems)
        return cleaned

    def _post_clean(self) -> None:
        # A file uploaded now stands in for the path "a secure connection needs" in Device.clean(); the real path
        # is set when the file is stored, right after the device is saved.
        for field in getattr(self, "pki_files", {}):
            self.cleaned_data[field] = self.cleaned_data.get(field) or "(uploaded)"
        super()._post_clean()  # type: ignore[misc]  # django-stubs leave out BaseModelForm._post_clean (private)


class QuarantineForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_REASON_CHARS,
        help_text="Shown on every page that shows the device, e.g. 'unexpected firmware change, under investigation'",
    )


class DeviceAdmin(DeviceAdminBase):
    """The admin of every device (Modbus, OPC UA, Sparkplug B): the historian's, plus OPC UA and service actions."""

    form = DeviceOpcUaForm
    actions = [
        "browse_opcua_server",
        "generate_opcua_client_certificate",
        "trust_opcua_server_certificate_anew",
        "take_out_of_service",
        "put_in_service",
        "quarantine",
        "release_quarantine",
        "enable_writes",
        "disable_writes",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Device | None = None):
        fieldsets = list(super().get_fieldsets(request, obj))
        fields: list[str | list[str] | tuple[str, ...] | tuple[()]] = [*OPCUA_FIELDS, "clear_password"]
        if obj is not None and obj.protocol == Protocol.OPCUA:
            fields[0:0] = ["opcua_browse_link", "opcua_certificates"]
        status = next((i for i, (name, _) in enumerate(fieldsets) if name == "Status"), len(fieldsets))
        fieldsets.insert(status, ("OPC UA", {"fields": fields}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Device | None = None):
        return [*super().get_readonly_fields(request, obj), "opcua_browse_link", "opcua_certificates"]

    @admin.display(description="Certificates (SHA-256)")
    def opcua_certificates(self, obj: Device) -> str:
        if obj.pk is None or obj.protocol != Protocol.OPCUA:
            return "-"
        client = certificate_thumbprint(obj.client_certificate)
        server = certificate_thumbprint(obj.server_certificate)
        url = reverse("admin:historian_device_opcua_client_certificate", args=[obj.pk])
        download = format_html(' <a href="{}">download, for the server to trust</a>', url) if client else ""
        return format_html(
            "client: <code>{}</code>{}<br>trusted server: <code>{}</code>",
            client or "none (the list's action generates one)",
            download,
            server or "none yet: the first secure connection trusts (pins) the certificate the server offers",
        )

    @admin.display(description="Address space")
    def opcua_browse_link(self, obj: Device) -> str:
        if obj.pk is None or obj.protocol != Protocol.OPCUA:
            return "-"
        url = reverse("admin:historian_device_opcua_browse", args=[obj.pk])
        return format_html('<a class="button" href="{}">Browse OPC UA server</a>', url)

    def save_model(self, request: HttpRequest, obj: Device, form: forms.ModelForm, change: bool) -> None:
        enabled = obj.enabled
        if change and "enabled" in form.changed_data:
            obj.enabled = form.initial["enabled"]  # device_enabled_set makes that change, with what goes with it
        super().save_model(request, obj, form, change)
        if obj.enabled != enabled:
            device_enabled_set(device=obj, enabled=enabled, user=request.user, remote_addr=_remote_addr(request))
        files = getattr(form, "pki_files", {})
        if files:  # checked by the form already
            device_opcua_pki_store(device=obj, **files)

    @admin.action(description="Take out of service (tags show bad: out of service)", permissions=["change"])
    def take_out_of_service(self, request: HttpRequest, queryset) -> None:
        self._enabled_set(request, queryset, enabled=False)

    @admin.action(description="Put back in service", permissions=["change"])
    def put_in_service(self, request: HttpRequest, queryset) -> None:
        self._enabled_set(request, queryset, enabled=True)

    def _enabled_set(self, request: HttpRequest, queryset, *, enabled: bool) -> None:
        changed = [
            device
            for device in queryset.order_by("pk")
            if device_enabled_set(device=device, enabled=enabled, user=request.user, remote_addr=_remote_addr(request))
            is not None
        ]
        text = (
            _("%(n)s devices put back in service: %(names)s.")
            if enabled
            else _("%(n)s devices taken out of service: %(names)s.")
        )
        self.message_user(request, text % {"n": len(changed), "names": ", ".join(d.name for d in changed) or "-"})

    @admin.action(description="Quarantine (keep reading, mark values, write nothing)", permissions=["change"])
    def quarantine(self, request: HttpRequest, queryset) -> HttpResponse | None:
        form = QuarantineForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = []
            for device in queryset.order_by("pk"):
                if device_quarantine_set(
                    device=device,
                    quarantined=True,
                    reason=form.cleaned_data["reason"],
                    user=request.user,
                    remote_addr=_remote_addr(request),
                ):
                    done.append(device.name)
            self.message_user(
                request, _("%(n)s devices quarantined: %(names)s.") % {"n": len(done), "names": ", ".join(done) or "-"}
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Quarantine devices",
            "form": form,
            "devices": queryset.order_by("name"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/ingest/device_quarantine.html", context)

    @admin.action(description="Release from quarantine", permissions=["change"])
    def release_quarantine(self, request: HttpRequest, queryset) -> None:
        done = [
            device.name
            for device in queryset.order_by("pk")
            if device_quarantine_set(
                device=device, quarantined=False, user=request.user, remote_addr=_remote_addr(request)
            )
        ]
        self.message_user(
            request,
            _("%(n)s devices released from quarantine: %(names)s.") % {"n": len(done), "names": ", ".join(done) or "-"},
        )

    def has_enable_device_writes_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERM_ENABLE_DEVICE_WRITES)

    @admin.action(
        description="Enable writes (to writable tags, under their write policies)", permissions=["enable_device_writes"]
    )
    def enable_writes(self, request: HttpRequest, queryset) -> None:
        self._writes_set(request, queryset, enabled=True)

    @admin.action(description="Disable writes", permissions=["enable_device_writes"])
    def disable_writes(self, request: HttpRequest, queryset) -> None:
        self._writes_set(request, queryset, enabled=False)

    def _writes_set(self, request: HttpRequest, queryset, *, enabled: bool) -> None:
        done = [
            device.name
            for device in queryset.order_by("pk")
            if device_writes_set(device=device, enabled=enabled, user=request.user, remote_addr=_remote_addr(request))
        ]
        text = (
            _("Writes enabled on %(n)s devices: %(names)s.")
            if enabled
            else _("Writes disabled on %(n)s devices: %(names)s.")
        )
        self.message_user(request, text % {"n": len(done), "names": ", ".join(done) or "-"})

    @admin.action(
        description="Generate an OPC UA client certificate (replaces the device's own)", permissions=["change"]
    )
    def generate_opcua_client_certificate(self, request: HttpRequest, queryset) -> None:
        done = []
        for device in queryset.filter(protocol=Protocol.OPCUA).order_by("pk"):
            thumbprint = device_opcua_client_certificate_generate(device=device)
            _device_audit(request, device, AuditAction.OPCUA_CLIENT_CERTIFICATE, sha256=thumbprint)
            done.append(f"{device.name} (SHA-256 {thumbprint})")
        skipped = queryset.exclude(protocol=Protocol.OPCUA).count()
        self.message_user(
            request,
            f"New client certificates: {'; '.join(done) or '-'}. The servers must trust them before a secure link works"
            + (f"; {skipped} devices that are not OPC UA were left alone." if skipped else "."),
        )

    @admin.action(
        description="Trust the OPC UA server's certificate anew (the next secure connection pins what it offers)",
        permissions=["change"],
    )
    def trust_opcua_server_certificate_anew(self, request: HttpRequest, queryset) -> None:
        done = []
        for device in queryset.filter(protocol=Protocol.OPCUA).exclude(server_certificate="").order_by("pk"):
            previous = opcua_server_certificate_unpin(device=device)
            _device_audit(request, device, AuditAction.OPCUA_SERVER_CERTIFICATE_UNPINNED, previous_sha256=previous)
            done.append(device.name)
        self.message_user(
            request,
            f"{len(done)} devices will trust the certificate their server offers at the next connection: "
            f"{', '.join(done) or '-'}. Check its thumbprint on the device page afterwards.",
        )

    def opcua_client_certificate_view(self, request: HttpRequest, object_id: int) -> FileResponse:
        """The device's client certificate (public, never the key), for the server's administrator to trust."""
        device = get_object_or_404(Device, pk=object_id, protocol=Protocol.OPCUA)
        if not self.has_view_permission(request, device):
            raise PermissionDenied
        path = Path(device.client_certificate) if device.client_certificate else None
        if path is None or not path.is_file():
            raise Http404("This device has no client certificate")
        suffix = path.suffix if path.suffix in (".der", ".pem") else ".der"
        return FileResponse(path.open("rb"), as_attachment=True, filename=f"millwright-{device.pk}-client{suffix}")

    @admin.action(description="Browse OPC UA server (create tags from its variables)")
    def browse_opcua_server(self, request: HttpRequest, queryset) -> HttpResponse | None:
        devices = list(queryset[:2])
        if len(devices) != 1 or devices[0].protocol != Protocol.OPCUA:
            self.message_user(request, _("Choose exactly one OPC UA device to browse."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:historian_device_opcua_browse", args=[devices[0].pk]))

    def get_urls(self):
        urls = [
            path(
                "<int:object_id>/opcua-browse/",
                self.admin_site.admin_view(self.opcua_browse_view),
                name="historian_device_opcua_browse",
            ),
            path(
                "<int:object_id>/opcua-client-certificate/",
                self.admin_site.admin_view(self.opcua_client_certificate_view),
                name="historian_device_opcua_client_certificate",
            ),
        ]
        return urls + super().get_urls()

    def opcua_browse_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=object_id, protocol=Protocol.OPCUA)
        if not (self.has_view_permission(request, device) and request.user.has_perm("historian.add_tag")):
            raise PermissionDenied
        params = request.POST if request.method == "POST" else request.GET
        root = (params.get("node") or "").strip() or None
        try:
            depth = max(1, min(int(params.get("depth") or 4), MAX_BROWSE_DEPTH))
        except ValueError:
            depth = 4
        error = ""
        try:
            tree = opcua_browse(device=device, node_id=root, depth=depth)
        except (DeviceUnreachable, InvalidTagAddress) as exc:
            tree, error = [], str(exc)
        variables = {n.node_id: n for top in tree for n in top.walk() if n.node_class == "Variable"}
        form = OpcUaTagsForm(request.POST if request.method == "POST" else None, choices=variables)
        if request.method == "POST" and form.is_valid():
            chosen = [variables[node_id] for node_id in form.cleaned_data["node_ids"]]
            result = opcua_tags_create(
                device=device,
                machine=form.cleaned_data["machine"],
                scan_class=form.cleaned_data["scan_class"],
                nodes=chosen,
            )
            if result.created:
                messages.success(
                    request, _("Created %(n)s tags from %(device)s.") % {"n": len(result.created), "device": device}
                )
            for reason in result.skipped:
                messages.warning(request, _("Not created: %(reason)s") % {"reason": reason})
            url = reverse("admin:historian_tag_changelist") + f"?device__id__exact={device.pk}"
            return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Browse OPC UA server: {device}",
            "device": device,
            "tree": tree,
            "error": error,
            "form": form,
            "root": root or "",
            "depth": depth,
            "max_depth": MAX_BROWSE_DEPTH,
        }
        return TemplateResponse(request, "admin/ingest/opcua_browse.html", context)


def _remote_addr(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _device_audit(request: HttpRequest, device: Device, action: AuditAction, **details: object) -> None:
    """The audit row of an admin action on one device: who, from where, which device, and `details`."""
    audit_record(
        actor=request.user,
        action=action,
        target=device.name,
        details={"device": device.pk, **details},
        remote_addr=_remote_addr(request),
    )


class OpcUaTagsForm(forms.Form):
    machine = forms.ModelChoiceField(queryset=Machine.objects.select_related("line__area__site"))
    scan_class = forms.ModelChoiceField(queryset=ScanClass.objects.all(), help_text="Sampling interval of the tags")
    node_ids = forms.MultipleChoiceField(label="Variables", error_messages={"required": "Tick at least one variable."})

    def __init__(self, *args, choices: dict, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # cast: node_ids is the MultipleChoiceField declared above; self.fields types it as any Field.
        cast(forms.MultipleChoiceField, self.fields["node_ids"]).choices = [(node_id, node_id) for node_id in choices]


admin.site.unregister(Device)
admin.site.register(Device, DeviceAdmin)

from ingest.protocols.sparkplug import admin as sparkplug_admin  # noqa: E402, F401  (registers the Sparkplug admin)
