"""Every API error is `{"detail": "..."}`, plus `errors` (per parameter) for a validation error; a history query
that cannot be answered as asked is the client's mistake: 400 with the query's own message."""

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, Throttled, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from api.throttling import AnonRateThrottle
from historian.queries.errors import HistoryQueryError


def _messages(errors) -> list[str]:
    if isinstance(errors, dict):
        return [
            f"{message}" if field in ("non_field_errors", "detail") else f"{field}: {message}"
            for field, value in errors.items()
            for message in _messages(value)
        ]
    if isinstance(errors, list):
        return [message for value in errors for message in _messages(value)]
    return [str(errors)]


def _counted_as_anonymous(exc: Exception, context) -> Exception:
    """A request refused for its credentials counts against its address's anonymous rate (DRF only throttles
    requests that got past authentication and permissions); over the rate it is a 429 instead."""
    throttle = AnonRateThrottle()
    if throttle.allow_request(context["request"], context["view"]):
        return exc
    return Throttled(throttle.wait())


def api_exception_handler(exc, context) -> Response | None:
    if isinstance(exc, TooManyFieldsSent):
        # Django's own answer would be its HTML 400 page (and, with DEBUG on, a debug page that re-reads the
        # query and fails again: a 500).
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Response({"detail": f"Too many query parameters: at most {limit}."}, status=400)
    if isinstance(exc, AuthenticationFailed | NotAuthenticated) and "view" in context:
        exc = _counted_as_anonymous(exc, context)
    if isinstance(exc, HistoryQueryError | OverflowError):
        message = str(exc) if isinstance(exc, HistoryQueryError) else "A date or duration is out of range."
        return Response({"detail": message}, status=400)
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, ValidationError):
        response.data = {"detail": " ".join(_messages(exc.detail))}
        if isinstance(exc.detail, dict):
            response.data["errors"] = exc.detail
    return response


@csrf_exempt  # it changes nothing: a POST to a path that names nothing is the same JSON 404, not the CSRF page
def api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any path under /api/ that names nothing: the API's JSON 404, not the site's HTML page. A path that only
    lacks its trailing slash is still redirected to it, as CommonMiddleware does for the rest of the site."""
    if settings.APPEND_SLASH and not request.path_info.endswith("/"):
        try:
            match = resolve(f"{request.path_info}/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return JsonResponse({"detail": "Not found."}, status=404)
