"""`{{ instant|when }}`: an instant in the page's time zone (the plant's, or the user's own: accounts.middleware),
in the language's format, labelled with the zone's abbreviation: "2026-12-07 14:05 CET", "07.12.2026 14:05 CET".
`|when:"seconds"` adds the seconds. Anything that is no datetime passes through (None: "", for `|default`)."""

import datetime

from django import template
from django.utils import formats, timezone

register = template.Library()


@register.filter
def when(value: object, arg: str = "") -> object:
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime.datetime):
        return value
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    text = formats.date_format(local, "DATETIME_FORMAT" if arg == "seconds" else "SHORT_DATETIME_FORMAT")
    zone = local.tzname()
    return f"{text} {zone}" if zone else text
