"""A signed-in user's language and time zone, activated for their request.

After AuthenticationMiddleware (the user is known) and after LocaleMiddleware, which has chosen the language from
the language cookie or Accept-Language: a language the user chose in the header wins over the browser's. The time
zone is the plant's unless the user asked for their own; templates' dates and `|date:"T"` follow it.
"""

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from accounts.services.preferences import request_language, request_time_zone


class UserLocaleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = request_language(request)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        zone, _is_plant = request_time_zone(request)
        timezone.activate(zoneinfo.ZoneInfo(zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
