"""Pages for the plant floor. Views stay thin: read through historian.queries, render."""

import time
from datetime import UTC, datetime, timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from common.replicas import replica_statuses, replica_view
from historian.models import Line, Machine
from historian.queries.acquisition import device_status_messages, ingest_buffer_statuses
from historian.queries.common import MAX_PIXELS
from historian.queries.errors import HistoryQueryError
from historian.queries.history import tag_history
from historian.queries.plant import MachineView, machine_trend_tags, machine_view, plant_overview
from historian.queries.writes import machine_write_controls, tag_writes_recent, write_request_row
from historian.sample_types import datetime_to_us
from ingest.services.writes import tag_may_operate
from production.queries.pages import overview_production_lines

VIEW_PLANT = "historian.view_plant"
USE_TREND_EXPLORER = "historian.use_trend_explorer"
EXPLORER_MAX_PENS = 12
TREND_WINDOW_SECONDS = 600
SPARK_SECONDS = 900  # the overview's sparklines: the last 15 minutes
KIOSK_CYCLE_SECONDS = 20  # the wall screen shows each line this long
KIOSK_MIN_CYCLE_SECONDS = 5
KIOSK_MAX_CYCLE_SECONDS = 3600
MAX_WINDOW_SECONDS = 6 * 3600
# Plotly's WebGL traces (scattergl) compile their shaders' glue code with `new Function`: the pages that draw them
# need 'unsafe-eval' (config/middleware.py), the rest of the site is refused it.
PLOTLY_CSP = {"script-src": ["'unsafe-eval'"]}


def _plotly_page(response: HttpResponse) -> HttpResponse:
    # The attribute config/middleware.py reads, set on this response only; HttpResponse does not declare it.
    response.csp_extra = PLOTLY_CSP  # type: ignore[attr-defined]
    return response


def _cards_context(lines: list[tuple[Line, list[MachineView]]]) -> dict:
    """What the lines' cards (dashboards/line_cards.html, static/js/overview.js and glance.js) need: the machines
    with each one's current-shift OEE and since when it is in its state, each line's current-shift OEE
    (production.queries.pages), the server's clock, the plot URL for the 15-minute sparklines."""
    now = timezone.now()
    production, line_oee = overview_production_lines(
        machine_ids=[view.machine.pk for _, views in lines for view in views], now=now
    )
    return {
        "lines": lines,
        "machines_json": [
            {**view.as_json(), "line_id": line.pk, "production": production.get(view.machine.pk)}
            for line, views in lines
            for view in views
        ],
        "lines_json": {
            "lines": [{"id": line.pk, "name": line.name, "oee": line_oee.get(line.pk)} for line, _ in lines],
            "plot_url": reverse("api:history_plot"),
            "spark_seconds": SPARK_SECONDS,
        },
        "server_now": round(now.timestamp() * 1000),
    }


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
def plant_overview_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboards/plant_overview.html",
        {
            **_cards_context(plant_overview()),
            "devices": device_status_messages(),
            "buffers": [b for b in ingest_buffer_statuses() if b["depth"] or b["dropped"]],
            "replicas": replica_statuses(),
        },
    )


def _controls(request: HttpRequest, machine: Machine) -> dict | None:
    """The operator controls of the machine's writable tags, for a user who may operate its area; else None."""
    controls = machine_write_controls(machine_id=machine.pk)
    first = machine.tags.filter(pk=controls[0]["tag"]).select_related("machine__line").first() if controls else None
    if first is None or not tag_may_operate(user=request.user, tag=first):
        return None
    recent = tag_writes_recent(tag_ids=[c["tag"] for c in controls], limit=10)
    rows = []
    for row in map(write_request_row, recent):
        for key in ("requested_at", "expires_at", "executed_at"):
            row[key] = round(row[key].timestamp() * 1000) if row[key] else None
        rows.append(row)
    return {"controls": controls, "recent": rows, "me": request.user.get_username()}


def _id_list(text: str) -> list[int] | None:
    """ "1,2,3" -> [1, 2, 3]; None for anything else."""
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        return None
    return ids if all(i > 0 for i in ids) else None


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
def kiosk_page(request: HttpRequest) -> HttpResponse:
    """The wall screen: the cards of one or several lines, full screen, no navigation, larger type, cycling through
    the lines every `cycle` seconds. `?lines=3,4` (all lines without it), `&cycle=30`. Nothing on it acts: the
    Wall screen role (accounts/services/roles.py) may only look."""
    wanted = _id_list(request.GET.get("lines", ""))
    try:
        cycle = int(request.GET.get("cycle", KIOSK_CYCLE_SECONDS))
    except ValueError:
        cycle = KIOSK_CYCLE_SECONDS
    if wanted is None or not KIOSK_MIN_CYCLE_SECONDS <= cycle <= KIOSK_MAX_CYCLE_SECONDS:
        return HttpResponse(
            f"lines must be line ids separated by commas, cycle {KIOSK_MIN_CYCLE_SECONDS}..{KIOSK_MAX_CYCLE_SECONDS} "
            "seconds.",
            status=400,
            content_type="text/plain",
        )
    lines = plant_overview()
    if wanted:
        by_id = {line.pk: (line, views) for line, views in lines}
        lines = [by_id[i] for i in wanted if i in by_id]
    return render(
        request,
        "dashboards/kiosk.html",
        {**_cards_context(lines), "kiosk": True, "kiosk_json": {"cycle_seconds": cycle}},
    )


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
def machine_page(request: HttpRequest, machine_id: int) -> HttpResponse:
    try:
        view = machine_view(machine_id=machine_id)
    except Machine.DoesNotExist:
        raise Http404("No such machine") from None
    trend_ids = [t.pk for t in machine_trend_tags(machine_id=machine_id)]
    return _plotly_page(
        render(
            request,
            "dashboards/machine.html",
            {
                "view": view,
                "machine": view.machine,
                "machine_json": view.as_json(),
                "trend_json": {
                    "tags": trend_ids,
                    "window_seconds": TREND_WINDOW_SECONDS,
                    "history_url": reverse("dashboards:machine_history", args=[machine_id]),
                },
                "controls_json": _controls(request, view.machine),
            },
        )
    )


@login_required
@permission_required(VIEW_PLANT, raise_exception=True)
@require_GET
@replica_view
def machine_history(request: HttpRequest, machine_id: int) -> JsonResponse:
    """Raw history of the machine's trend tags since `since` (epoch ms), at most `window` seconds back."""
    try:
        window = int(request.GET.get("window", TREND_WINDOW_SECONDS))
        since_ms = request.GET.get("since")
        since = datetime.fromtimestamp(int(since_ms) / 1000, tz=UTC) if since_ms else None
    except (TypeError, ValueError, OverflowError, OSError):
        return JsonResponse({"error": "window must be seconds and since epoch milliseconds."}, status=400)
    if not 0 < window <= MAX_WINDOW_SECONDS:
        return JsonResponse({"error": f"window must be 1..{MAX_WINDOW_SECONDS} seconds."}, status=400)
    if not Machine.objects.filter(pk=machine_id).exists():
        raise Http404("No such machine")
    end = timezone.now() + timedelta(seconds=1)
    start = end - timedelta(seconds=window)
    if since is not None and since > start:
        start = since + timedelta(milliseconds=1)
    tag_ids = [t.pk for t in machine_trend_tags(machine_id=machine_id)]
    try:
        history = tag_history(tag_ids=tag_ids, start=start, end=end, max_points=50_000) if start < end else {}
    except HistoryQueryError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {
            "now": round(time.time() * 1000),
            "tags": {
                # Milliseconds rounded as the live push rounds them: the page merges both by time.
                str(tag_id): [[(datetime_to_us(p.time) + 500) // 1000, p.value, p.quality] for p in points]
                for tag_id, points in history.items()
            },
        }
    )


@login_required
@permission_required(USE_TREND_EXPLORER, raise_exception=True)
@require_GET
def explorer_page(request: HttpRequest) -> HttpResponse:
    """The trend explorer: the page is static, its state lives in the URL and its data comes from the REST API."""
    config = {
        "urls": {
            "hierarchy": reverse("api:hierarchy"),
            "tags": reverse("api:tags"),
            "plot": reverse("api:history_plot"),
        },
        "max_pixels": MAX_PIXELS,
        "max_pens": EXPLORER_MAX_PENS,
    }
    return _plotly_page(render(request, "dashboards/explorer.html", {"explorer_json": config}))
