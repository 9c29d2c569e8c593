"""API rate limits (DRF throttles, counted in the project's cache, i.e. Redis, so every web process shares them).

DRF's own classes read their rates once, at import; these read them per request, so a settings change (a test's
override, a settings module) takes effect.
"""

from rest_framework import throttling
from rest_framework.settings import api_settings


class _RatesFromSettings:
    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserRateThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    """Per signed-in user (token or session): API_THROTTLE_USER."""


class AnonRateThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    """Per address, for requests without valid credentials: API_THROTTLE_ANON. DRF checks throttles after
    authentication and permissions, so a refused request would never be counted; api.errors counts those too,
    which is what limits guessing tokens."""
