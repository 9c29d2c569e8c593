"""/healthz, /readyz and /metrics: for load balancers, orchestrators and Prometheus, not people (no session, no
login page: answers are JSON or the Prometheus text format)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from operations.access import metrics_allowed
from operations.health import readiness
from operations.metrics import metrics_exposition


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers. Touches neither the database nor Redis."""
    return JsonResponse({"status": "alive"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready: 200 when every required dependency answered, else 503; each check's outcome in the body."""
    result = readiness()
    return JsonResponse(result.as_json(), status=200 if result.ready else 503)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus figures, for a token holder or an allowed address (operations.access)."""
    if not metrics_allowed(request):
        return HttpResponse(
            "Forbidden: a metrics token or an allowed address is needed.\n", status=403, content_type="text/plain"
        )
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
