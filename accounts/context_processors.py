import datetime
import zoneinfo

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from accounts.models import Theme
from accounts.services.preferences import request_theme, request_time_zone


def theme(request: HttpRequest) -> dict:
    """The page's theme, rendered into <html data-theme> by the server: the page is drawn in it from the first
    paint (no flash, no inline script). Signed out: the default. The other theme, for the header's switch."""
    current = request_theme(request)
    other = Theme.LIGHT if current == Theme.DARK else Theme.DARK
    return {"theme": current, "theme_other": other, "theme_other_label": Theme(other).label}


def locale(request: HttpRequest) -> dict:
    """The header's language and time zone switches: the other language to offer, and the zone the page's times
    are shown in (its name for the scripts, its abbreviation as the label, whether it is the plant's)."""
    current = translation.get_language() or settings.LANGUAGE_CODE
    other_code, other_name = next(
        ((code, name) for code, name in settings.LANGUAGES if code != current.split("-")[0]), settings.LANGUAGES[0]
    )
    zone, is_plant = request_time_zone(request)
    return {
        "language_other": other_code,
        "language_other_name": other_name,
        "time_zone": zone,
        "time_zone_label": time_zone_abbreviation(zone),
        "time_zone_is_plant": is_plant,
    }


def time_zone_abbreviation(zone: str) -> str:
    """The zone's abbreviation now ("CET", "CEST", "UTC"; "+04" where the zone has none)."""
    return datetime.datetime.now(zoneinfo.ZoneInfo(zone)).tzname() or zone
