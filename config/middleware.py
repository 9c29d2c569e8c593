"""Content-Security-Policy on every response Django renders (Django 5.2 has no setting for it).

The policy is CONTENT_SECURITY_POLICY (directive -> sources). A view whose page needs more (Plotly's WebGL
traces compile code with `new Function`, which only 'unsafe-eval' allows) sets `response.csp_extra`, a dict of
directive -> extra sources, for that response only: the rest of the site keeps the strict policy.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def csp_header_value(policy: dict[str, list[str]], extra: dict[str, list[str]] | None = None) -> str:
    merged = {directive: list(sources) for directive, sources in policy.items()}
    for directive, sources in (extra or {}).items():
        merged.setdefault(directive, list(policy.get("default-src", [])))
        merged[directive] += [s for s in sources if s not in merged[directive]]
    return "; ".join(" ".join([directive, *sources]) for directive, sources in merged.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response.headers:
            response.headers[HEADER] = csp_header_value(
                settings.CONTENT_SECURITY_POLICY, getattr(response, "csp_extra", None)
            )
        return response
