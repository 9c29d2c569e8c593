from django.http import HttpRequest

from historian.queries.catalog import devices_quarantined


def quarantine_banner(request: HttpRequest) -> dict:
    """The quarantined devices, for the banner on every page of a signed-in user (one query, only when shown)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cached: list = []

    def devices() -> list:
        if not cached:
            cached.append(devices_quarantined())
        return cached[0]

    return {"quarantined_devices": devices}
