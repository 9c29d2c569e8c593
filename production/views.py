"""The production pages of the floor: a line's downtime list (live, classified from a touch screen), a machine's
state timeline per shift, a line's OEE view and loss Pareto (live over the page's socket), a line's reports (list,
on demand, downloads). Views stay thin: read through production.queries, render; the downtime actions and the live
figures go through the page's socket (production/consumers.py) to production.services.downtime and
production.queries, the reports through production.services.reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import AuthenticatedHttpRequest
from common.replicas import replica_view
from historian.models import Line, Machine
from production.consumers import DEFAULT_HOURS
from production.models import ShiftReport
from production.queries.intervals import (
    STATE_LABELS,
    machine_timeline,
    machine_timeline_marks,
    reason_tree,
    timeline_window,
)
from production.queries.kpis import line_calendar
from production.queries.pages import ParetoRange, pareto_window
from production.services.downtime import downtime_may_classify
from production.services.reports import XLSX_TYPE, shift_report_create

VIEW_PLANT = "historian.view_plant"
# Plotly's code needs 'unsafe-eval' on the page that draws with it (config/middleware.py; as dashboards' pages).
PLOTLY_CSP = {"script-src": ["'unsafe-eval'"]}


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
def line_downtime_page(request: AuthenticatedHttpRequest, line_id: int) -> HttpResponse:
    line = get_object_or_404(Line.objects.select_related("area__site"), pk=line_id)
    return render(
        request,
        "production/line_downtime.html",
        {
            "line": line,
            "machines": Machine.objects.filter(line=line).order_by("name"),
            "config": {
                "line": line.pk,
                "hours": DEFAULT_HOURS,
                "reasons": reason_tree(site_id=line.area.site_id),
                "can_classify": downtime_may_classify(user=request.user, area_id=line.area_id),
            },
        },
    )


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
@replica_view
def machine_timeline_page(request: AuthenticatedHttpRequest, machine_id: int) -> HttpResponse:
    machine = get_object_or_404(Machine.objects.select_related("line__area"), pk=machine_id)
    now = timezone.now()
    at = now
    if asked := request.GET.get("at"):
        try:
            at = datetime.fromisoformat(asked)
        except ValueError:
            raise Http404("'at' must be an ISO 8601 instant") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
    window = timeline_window(line_id=machine.line_id, at=at)
    response = render(
        request,
        "production/machine_timeline.html",
        {
            "machine": machine,
            "window": window,
            "previous": window.previous.isoformat(),
            "next": window.next.isoformat() if window.next <= now else None,
            "timeline": {
                "machine": machine.name,
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "states": STATE_LABELS,
                "bands": machine_timeline(machine_id=machine.pk, start=window.start, end=window.end, now=now),
                "marks": machine_timeline_marks(machine_id=machine.pk, start=window.start, end=window.end),
            },
        },
    )
    # The attribute config/middleware.py reads, on this response only.
    response.csp_extra = PLOTLY_CSP  # type: ignore[attr-defined]
    return response


#: The longest range a report on demand may cover (it is generated while the person waits).
REPORT_MAX_RANGE = timedelta(days=31)


class ReportRangeForm(forms.Form):
    """A report on demand: a range in the plant's wall-clock time."""

    start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def clean(self) -> dict:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end <= start:
                raise forms.ValidationError("The end must be after the start.")
            if end - start > REPORT_MAX_RANGE:
                raise forms.ValidationError(f"At most {REPORT_MAX_RANGE.days} days per report.")
        return data


def _reports_page(request: AuthenticatedHttpRequest, line: Line, form: ReportRangeForm) -> HttpResponse:
    reports = ShiftReport.objects.filter(line=line).defer("pdf", "xlsx")[:200]
    return render(request, "production/line_reports.html", {"line": line, "reports": reports, "form": form})


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
def line_reports_page(request: AuthenticatedHttpRequest, line_id: int) -> HttpResponse:
    line = get_object_or_404(Line.objects.select_related("area__site"), pk=line_id)
    return _reports_page(request, line, ReportRangeForm())


@login_required
@permission_required((VIEW_PLANT, "production.request_shift_report"), raise_exception=True)
@require_POST
def line_report_create(request: AuthenticatedHttpRequest, line_id: int) -> HttpResponse:
    line = get_object_or_404(Line.objects.select_related("area__site"), pk=line_id)
    tz = line_calendar(line.pk, site_timezone=line.area.site.timezone).tz
    with timezone.override(tz):  # the form's wall-clock times are the plant's
        form = ReportRangeForm(request.POST)
        valid = form.is_valid()
    if not valid:
        return _reports_page(request, line, form)
    shift_report_create(
        line_id=line.pk,
        start=form.cleaned_data["start"],
        end=form.cleaned_data["end"],
        requested_by=request.user.get_username(),
    )
    return redirect("production:line_reports", line_id=line.pk)


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_http_methods(["GET", "HEAD"])
def line_report_download(request: AuthenticatedHttpRequest, line_id: int, report_id: int, kind: str) -> HttpResponse:
    if kind not in ("pdf", "xlsx"):
        raise Http404("a report is a pdf or an xlsx")
    report = get_object_or_404(
        ShiftReport.objects.select_related("line").only(kind, "line__name", "start", "shift_name"),
        pk=report_id,
        line_id=line_id,
    )
    content_type = "application/pdf" if kind == "pdf" else XLSX_TYPE
    response = HttpResponse(bytes(getattr(report, kind)), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{report.file_stem}.{kind}"'
    return response


def _line(line_id: int) -> Line:
    return get_object_or_404(Line.objects.select_related("area__site"), pk=line_id)


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
def line_oee_page(request: AuthenticatedHttpRequest, line_id: int) -> HttpResponse:
    line = _line(line_id)
    response = render(request, "production/line_oee.html", {"line": line, "config": {"line": line.pk}})
    response.csp_extra = PLOTLY_CSP  # type: ignore[attr-defined]
    return response


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
def line_pareto_page(request: AuthenticatedHttpRequest, line_id: int) -> HttpResponse:
    line = _line(line_id)
    try:
        kind = ParetoRange(request.GET.get("range", ParetoRange.SHIFT.value))
    except ValueError:
        raise Http404("'range' must be shift, 24h or dates") from None
    first, last = request.GET.get("first", ""), request.GET.get("last", "")
    error = ""
    if kind is ParetoRange.DATES:
        try:
            pareto_window(line_id=line.pk, kind=kind, first=first, last=last)
        except ValueError as exc:
            error, kind = str(exc), ParetoRange.SHIFT
    response = render(
        request,
        "production/line_pareto.html",
        {
            "line": line,
            "range": kind.value,
            "first": first,
            "last": last,
            "error": error,
            "config": {
                "line": line.pk,
                "range": kind.value,
                "first": first or None,
                "last": last or None,
                "downtime_url": reverse("production:line_downtime", args=[line.pk]),
            },
        },
    )
    response.csp_extra = PLOTLY_CSP  # type: ignore[attr-defined]
    return response
