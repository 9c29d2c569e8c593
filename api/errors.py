"""Every API error is `{"detail": "..."}`, plus `errors` (per parameter) for a validation error; a history query
that cannot be answered as asked is the client's mistake: 400 with the query's own message."""

from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

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


def api_exception_handler(exc, context) -> Response | None:
    if isinstance(exc, HistoryQueryError | OverflowError):
        message = str(exc) if isinstance(exc, HistoryQueryError) else "A date or duration is out of range."
        return Response({"detail": message}, status=400)
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, ValidationError):
        response.data = {"detail": " ".join(_messages(exc.detail))}
        if isinstance(exc.detail, dict):
            response.data["errors"] = exc.detail
    return response
