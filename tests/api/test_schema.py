"""Contract: schemathesis generates requests from the OpenAPI schema for every operation; none may answer 5xx, and
every response must match the schema (status, content type, body)."""

from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from accounts.services.roles import Role
from api.services.tokens import api_token_create
from tests.api.conftest import T0
from tests.samples import write

pytestmark = pytest.mark.slow
EXAMPLES = 30
# No 5xx, and status, content type and body as documented. (A schema-valid request may still be refused with a
# documented 400: end before start, an unknown tag, a result too large.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def wsgi_app():
    """Django's WSGI app in this thread, in the test's transaction: like the test client, it must not close the
    connection at the end of each request."""
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    yield get_wsgi_application()
    for signal in signals:
        signal.connect(close_old_connections)


@pytest.fixture
def api_schema(plant, engineer, wsgi_app):
    write(plant.temperature, [(T0 + timedelta(seconds=10 * k), 20.0 + k) for k in range(100)])
    token = api_token_create(user=engineer, name="schemathesis")[1]
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=headers)
    return schema, headers, plant


def _on_real_data(case, plant) -> bool:
    """Point a generated case at tags that exist and a range with samples (random ids and dates rarely hit any),
    keeping its other generated parameters; False where there is nothing to point."""
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = plant.temperature.pk
        return True
    if not case.query or not {"tags", "start"} & set(case.query):
        return False
    case.query.pop("machine", None)
    case.query["tags"] = f"{plant.temperature.pk},{plant.pressure.pk}"
    if "start" in case.query or "end" in case.query:
        case.query["start"], case.query["end"] = T0.isoformat(), (T0 + timedelta(minutes=20)).isoformat()
    return True


# Operations are walked in one test (schemathesis's lazy pytest loader needs a pytest internal that 9.x dropped);
# each gets its own Hypothesis run, and every failure is reported.
def test_every_operation_conforms_to_its_schema_and_never_fails(api_schema):
    schema, headers, plant = api_schema
    failures = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)
            if _on_real_data(case, plant):
                case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # every operation runs; the failures are reported together
            failures[operation.label] = exc
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())


def test_the_schema_and_its_docs_are_served_locally(engineer):
    client = Client()
    client.force_login(engineer)
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_the_schema_and_its_docs_need_a_role_that_may_use_the_api(path, make_user):
    client = Client()
    client.force_login(make_user("norole", role=None))
    assert client.get(path).status_code == 403

    client.force_login(make_user("olga", role=Role.OPERATOR))
    assert client.get(path).status_code == 200
