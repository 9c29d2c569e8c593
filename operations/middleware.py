"""Probes answered before anything else: an orchestrator's probe comes over plain HTTP, addressed to the pod's or
container's IP, so Django's host check (ALLOWED_HOSTS) and the production HTTPS redirect would turn it into a 400
or a 301. The three paths go straight to their views; nothing else is touched."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from operations import views

PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": views.healthz,
    "/readyz": views.readyz,
    "/metrics": views.metrics,
}


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBES.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)
