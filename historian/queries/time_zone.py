"""The plant's time zone, the one the pages show times in by default (a user may ask for their own instead).

The sites' `Site.timezone` when they all agree (one plant, one zone); the server's TIME_ZONE when there is no site
or the sites disagree (then no single zone is "the plant's"). Asked on every page, so kept in memory behind a
version token that a site's save or delete bumps (`historian.apps`): one cache GET per page, no query.
"""

import zoneinfo

from django.conf import settings

from common.version_token import TokenCached, VersionToken
from historian.models import Site

SITE_ZONES_TOKEN = VersionToken("historian:site_zones:version")


def _is_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _site_zones_load() -> list[str]:
    """The sites' distinct zones; one that is no IANA name stands as "" (the server's zone)."""
    return sorted({name if _is_zone(name) else "" for name in Site.objects.values_list("timezone", flat=True)})


_site_zones: TokenCached[list[str]] = TokenCached(SITE_ZONES_TOKEN, _site_zones_load)


def plant_time_zone() -> str:
    """IANA name of the plant's zone; a site's zone that is no IANA name falls back to the server's."""
    zones = _site_zones.get()
    if len(zones) == 1 and zones[0]:
        return zones[0]
    return str(settings.TIME_ZONE)
