"""Test suite: the servers named by DATABASE_URL / REDIS_URL, else private embedded ones."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from devtools.embedded import use_embedded_defaults

# `make test` runs the suite a second time with MILLWRIGHT_TEST_BACKEND=timescaledb: DATABASE_URL then points at a
# real TimescaleDB (PGlite in WASM, tests/timescale/) and only the tests marked `timescale` run (tests/conftest.py).
TEST_BACKEND = os.environ.get("MILLWRIGHT_TEST_BACKEND", "postgres")
if TEST_BACKEND == "timescaledb":
    from tests.timescale.harness import use_timescale_harness

    use_timescale_harness()
elif TEST_BACKEND != "postgres":
    raise ImproperlyConfigured(f"MILLWRIGHT_TEST_BACKEND must be postgres or timescaledb, not {TEST_BACKEND!r}")

# `make test` runs the suite in pytest-xdist workers (gw0, gw1 ...): each worker gets a state folder of its own, so
# its own embedded PostgreSQL and Redis, store-and-forward buffers and logs; workers never share a server. The
# processes a test starts (web servers, Celery workers) inherit the folder through the environment.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _XDIST_WORKER and not os.environ.get("MILLWRIGHT_STATE_DIR"):
    _PROJECT_DIR = Path(__file__).resolve().parents[2]
    os.environ["MILLWRIGHT_STATE_DIR"] = str(_PROJECT_DIR / ".millwright" / f"xdist-{_XDIST_WORKER}")

_URLS_BEFORE = {name: os.environ.get(name) for name in ("DATABASE_URL", "REDIS_URL")}
use_embedded_defaults(profile="test")
#: The variables this process set to its own embedded servers. The pytest-xdist controller takes them out of its
#: environment before it starts its workers (tests/conftest.py), so that each worker starts servers of its own
#: instead of inheriting the controller's: a worker's test flushing Redis must never reach another worker's test.
EMBEDDED_TEST_VARS = [name for name, value in _URLS_BEFORE.items() if value is None and os.environ.get(name)]

from .base import *  # noqa: E402, F403

DEBUG = False
SECRET_KEY = "millwright-tests-not-secret"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Connections opened by other threads (Channels' database_sync_to_async, the live ASGI server) close after each
# unit of work, so the test database can be dropped at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# The API's rate limits stay out of the way of the suite (schemathesis sends thousands of requests); the tests of
# throttling set their own.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"user": "1000000/min", "anon": "1000000/min"}  # noqa: F405
# No acquisition worker runs unless a test starts one: /readyz reports it without failing on it (the tests of
# readiness set it back).
READYZ_REQUIRE_ACQUISITION = False
