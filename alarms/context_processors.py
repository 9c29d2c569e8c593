from django.http import HttpRequest

from alarms.queries.alarm_list import alarm_counts
from alarms.services.actions import PERM_VIEW, may_see_security


def alarm_banner(request: HttpRequest) -> dict:
    """Alarm counts for the banner on every page (users who may see alarms; one query, computed when used)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm(PERM_VIEW):
        return {}
    cached: dict = {}

    def counts() -> dict:
        if not cached:
            cached.update(alarm_counts(security=may_see_security(user)))
        return cached

    return {"alarm_counts": counts}
