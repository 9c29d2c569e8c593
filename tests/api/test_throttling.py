"""API rate limits (issue 12.5): the request past the rate is a 429 with Retry-After, per user and, for requests
without valid credentials, per address; counted in the project's cache (Redis)."""

import json
import os
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.services.roles import Role
from api.services.tokens import api_token_create


@pytest.fixture
def rates(settings):
    def set_rates(*, user: str = "1000/min", anon: str = "1000/min") -> None:
        settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {"DEFAULT_THROTTLE_RATES": {"user": user, "anon": anon}}

    return set_rates


def _bearer(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


def test_the_request_past_the_users_rate_is_a_429_with_retry_after(rates, plant, engineer, token, make_user):
    rates(user="5/min")
    cache.delete(f"throttle_user_{engineer.pk}")
    api = _bearer(token)

    statuses = [api.get("/api/v1/tags/").status_code for _ in range(5)]
    refused = api.get("/api/v1/tags/")

    assert statuses == [200] * 5
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    assert "throttled" in refused.json()["detail"].lower()
    assert 0 < int(refused["Retry-After"]) <= 60
    # Counted per user: another engineer's script is not held up.
    other = make_user("other", role=Role.ENGINEER)
    cache.delete(f"throttle_user_{other.pk}")
    assert _bearer(api_token_create(user=other, name="theirs")[1]).get("/api/v1/tags/").status_code == 200


def test_the_limit_holds_for_the_session_too(rates, plant, engineer):
    rates(user="3/min")
    cache.delete(f"throttle_user_{engineer.pk}")
    browser = Client()
    browser.force_login(engineer)

    assert [browser.get("/api/v1/hierarchy/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_wrong_tokens_are_counted_per_address_and_refused_past_the_anonymous_rate(rates, plant):
    rates(anon="3/min")
    cache.delete("throttle_anon_127.0.0.1")
    guesser = _bearer("mw_not-a-token")

    statuses = [guesser.get("/api/v1/tags/").status_code for _ in range(3)]
    refused = guesser.get("/api/v1/tags/")

    assert statuses == [401] * 3
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    # No credentials at all counts against the same address.
    assert Client().get("/api/v1/tags/").status_code == 429


def test_the_rates_come_from_the_environment():
    """Production reads API_THROTTLE_USER / API_THROTTLE_ANON (the test settings raise both out of the suite's way)."""
    script = (
        "import django, json; django.setup(); from rest_framework.settings import api_settings as a; "
        "print(json.dumps([a.DEFAULT_THROTTLE_RATES, a.DEFAULT_THROTTLE_CLASSES[0].__name__]))"
    )
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "not-secret-" * 6,
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "API_THROTTLE_USER": "7/min",
        "API_THROTTLE_ANON": "2/hour",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == [{"user": "7/min", "anon": "2/hour"}, "UserRateThrottle"]
