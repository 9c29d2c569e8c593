"""The maintenance pages: the plant's health, a machine's health (trends, contributions, model, retrain), the work
requests (list, new, one request with its actions). Thin: read through maintenance.queries, act through
maintenance.services, which check the permission per area (requests) and per role (retraining)."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import AuthenticatedHttpRequest
from historian.models import Machine
from maintenance.health.errors import HealthModelError
from maintenance.models import HealthModel, MaintenanceRequest, RequestStatus
from maintenance.queries.health import machine_health, plant_health
from maintenance.queries.requests import request_downtime, requests_list
from maintenance.services.health import PERM_FIT, health_model_retrain
from maintenance.services.requests import (
    RequestError,
    request_assign,
    request_close,
    request_comment,
    request_may_work,
    request_open,
    request_plan,
)

VIEW_PLANT = "historian.view_plant"
PLOTLY_CSP = {"script-src": ["'unsafe-eval'"]}  # Plotly's code needs it (config/middleware.py), as dashboards'


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
def health_overview(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "maintenance/health_overview.html", {"rows": plant_health()})


class RetrainForm(forms.Form):
    start = forms.DateTimeField(required=False, help_text="Empty (both): proposed from normal running")
    end = forms.DateTimeField(required=False)


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def machine_health_page(request: AuthenticatedHttpRequest, machine_id: int) -> HttpResponse:
    model = get_object_or_404(
        HealthModel.objects.select_related("machine__line__area", "current_version__fitted_by"), machine_id=machine_id
    )
    form = RetrainForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not request.user.has_perm(PERM_FIT):
            return HttpResponse("You may not retrain health models.", status=403)
        if form.is_valid():
            try:
                version = health_model_retrain(
                    model=model, user=request.user, start=form.cleaned_data["start"], end=form.cleaned_data["end"]
                )
            except HealthModelError as exc:
                messages.error(request, _("Not retrained: %(error)s") % {"error": exc})
            else:
                messages.success(
                    request,
                    _("Retrained: version %(version)s on %(rows)s rows.")
                    % {"version": version.version, "rows": version.samples},
                )
                return redirect("maintenance:machine_health", machine_id=machine_id)
    response = render(
        request,
        "maintenance/machine_health.html",
        {
            "model": model,
            "machine": model.machine,
            "version": model.current_version,
            "versions": model.versions.order_by("-version")[:10],
            "form": form,
            "can_retrain": request.user.has_perm(PERM_FIT),
            "requests": requests_list(machine_id=machine_id)[:10],
            "health": machine_health(model=model, now=timezone.now()),
            "row": plant_health(machine_ids=[machine_id])[0],
        },
    )
    response.csp_extra = PLOTLY_CSP  # type: ignore[attr-defined]
    return response


class NewRequestForm(forms.Form):
    machine = forms.ModelChoiceField(queryset=Machine.objects.order_by("line__name", "name"))
    component = forms.CharField(max_length=100)
    title = forms.CharField(max_length=200)


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def requests_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    status = request.GET.get("status") or ""
    form = NewRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            created = request_open(
                machine=form.cleaned_data["machine"],
                component=form.cleaned_data["component"],
                title=form.cleaned_data["title"],
                user=request.user,
                remote_addr=request.META.get("REMOTE_ADDR"),
            )
        except PermissionError as exc:
            return HttpResponse(str(exc), status=403)
        except RequestError as exc:
            messages.error(request, str(exc))
        else:
            return redirect("maintenance:request_detail", request_id=created.pk)
    return render(
        request,
        "maintenance/requests.html",
        {
            "requests": requests_list(status=status or None)[:500],
            "status": status,
            "statuses": RequestStatus.choices,
            "form": form,
        },
    )


class RequestActionForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a) for a in ("plan", "assign", "comment", "close")])
    planned_for = forms.DateTimeField(required=False)
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"), required=False
    )
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
def request_detail(request: AuthenticatedHttpRequest, request_id: int) -> HttpResponse:
    work = get_object_or_404(
        MaintenanceRequest.objects.select_related("machine__line__area", "assignee", "created_by", "closed_by"),
        pk=request_id,
    )
    return render(
        request,
        "maintenance/request_detail.html",
        {
            "work": work,
            "comments": work.comments.select_related("author"),
            "downtime": request_downtime(request=work),
            "can_work": request_may_work(user=request.user, area_id=work.machine.line.area_id),
            "form": RequestActionForm(),
        },
    )


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_POST
def request_action(request: AuthenticatedHttpRequest, request_id: int) -> HttpResponse:
    form = RequestActionForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            _("Not done: %(errors)s")
            % {"errors": "; ".join(str(e) for errors in form.errors.values() for e in errors)},
        )
        return redirect("maintenance:request_detail", request_id=request_id)
    data, remote = form.cleaned_data, request.META.get("REMOTE_ADDR")
    planned_for: datetime | None = data["planned_for"]
    try:
        match data["action"]:
            case "plan":
                request_plan(
                    request_id=request_id,
                    user=request.user,
                    planned_for=planned_for,
                    assignee=data["assignee"],
                    remote_addr=remote,
                )
            case "assign":
                request_assign(request_id=request_id, user=request.user, assignee=data["assignee"], remote_addr=remote)
            case "comment":
                request_comment(request_id=request_id, user=request.user, text=data["text"], remote_addr=remote)
            case _:
                request_close(request_id=request_id, user=request.user, note=data["text"], remote_addr=remote)
    except PermissionError as exc:
        return HttpResponse(str(exc), status=403)
    except RequestError as exc:
        messages.error(request, str(exc))
    return redirect("maintenance:request_detail", request_id=request_id)
