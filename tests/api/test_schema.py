"""Contract: schemathesis generates requests from the OpenAPI schema for every operation; none may answer 5xx, and
every response must match the schema (status, content type, body); what the schema allows is accepted, what it
forbids is refused."""

import re
from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from accounts.services.roles import Role
from api.services.tokens import api_token_create
from historian.models import Tag, ValueLabel, ValueLabelSet
from tests.api.conftest import T0
from tests.samples import write

pytestmark = pytest.mark.slow
EXAMPLES = 10
# No 5xx, and status, content type and body as documented. (A schema-valid request may still be refused with a
# documented 400: end before start, a result too large.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


# The checks of `st run` that the API must pass with 0 findings. (`ignored_auth` is left out: in schemathesis 4.32 its
# probe cannot be sent to a WSGI app, a TypeError inside schemathesis; tests/api/test_tokens.py covers auth.)
ENGINE_CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
]
# Rules between parameters, or on the size of the answer, that an OpenAPI schema cannot state (each is in the
# parameter's description): a request that breaks one is refused with a 400 naming the rule. Only those 400s are
# not counted as "schema-valid request rejected"; any other refusal is a finding.
CROSS_PARAMETER_RULES = re.compile(
    "|".join(
        [
            r"end must not be before start",
            r"Name the tags \(tags=12,15\) or a machine",
            r"Aggregates need an interval",
            r"The interval can be at most 3650 days",
            r"at most \d+ in one response",  # tags x points, intervals, pixels
            r"can be asked at once|values one request may return|an export has at most",
            r"has more than \d+ samples between",  # max_points, or too many to aggregate / interpolate
            r"rollup",  # a forced resolution wants intervals of its own width
            r"A date or duration is out of range",
            # Production: a range or the current shift (of a line), not both, not neither.
            r"Give start and end|Give either shift or start and end|The current shift is a line's",
            r"end must be after start|days in one request",
        ]
    )
)


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
    # A value label set on one of the tags: the labels beside its values meet the schema too.
    labels = ValueLabelSet.objects.create(name="Warm")
    ValueLabel.objects.bulk_create(ValueLabel(set=labels, value=v, label=f"{v} degrees") for v in range(20, 40))
    Tag.objects.filter(pk=plant.temperature.pk).update(value_labels=labels)
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
    if case.query and "scope" in case.query:  # production: the press, over the range with samples
        case.query.update(scope="machine", id=plant.press.pk)
        case.query.pop("shift", None)
        case.query["start"], case.query["end"] = T0.isoformat(), (T0 + timedelta(minutes=20)).isoformat()
        return True
    if not case.query or not {"tags", "start"} & set(case.query):
        return False
    case.query.pop("machine", None)
    case.query["tags"] = f"{plant.temperature.pk},{plant.pressure.pk}"
    if "start" in case.query or "end" in case.query:
        case.query["start"], case.query["end"] = T0.isoformat(), (T0 + timedelta(minutes=20)).isoformat()
    return True


# Operations are walked in one test (schemathesis's lazy pytest loader needs a pytest internal that 9.x dropped);
# each gets its own Hypothesis run, and every failure is reported. The generated cases as they are, and every other
# check, are test_schemathesis_finds_nothing's: here they are pointed at tags with samples, so that full series
# (not the 404s of random ids) meet the response schema.
def test_every_operation_on_real_data_conforms_to_its_schema(api_schema):
    schema, headers, plant = api_schema
    failures, checked = {}, []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:
        if not {"tags", "start", "id"} & {parameter.name for parameter in operation.iter_parameters()}:
            continue
        checked.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            if _on_real_data(case, plant):
                case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # every operation runs; the failures are reported together
            failures[operation.label] = exc
    # A tag, current values, four history reads, the export, the alarm journal; production's KPIs, Pareto, intervals,
    # downtime and export; a tag's write and its recent writes, a write's approval; a maintenance request's change
    # and its comments (pointed at an id with no request: the 404 meets the schema).
    assert len(checked) == 18
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())


@pytest.fixture
def served_api(transactional_db, plant, engineer):
    """The plant committed (the engine calls the app from its own thread, outside the test's transaction); Django
    closes that thread's connection after each request as usual (CONN_MAX_AGE 0 in tests)."""
    write(plant.temperature, [(T0 + timedelta(seconds=10 * k), 20.0 + k) for k in range(100)])
    # A value label set on one of the tags: the labels beside its values meet the schema too.
    labels = ValueLabelSet.objects.create(name="Warm")
    ValueLabel.objects.bulk_create(ValueLabel(set=labels, value=v, label=f"{v} degrees") for v in range(20, 40))
    Tag.objects.filter(pk=plant.temperature.pk).update(value_labels=labels)
    token = api_token_create(user=engineer, name="schemathesis")[1]
    django_app = get_wsgi_application()

    def app(environ, start_response):
        # Read and close every response in the calling thread: a streamed CSV only ends its request (and closes
        # that thread's database connection) when closed, which the WSGI test client leaves to garbage collection.
        response = django_app(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            response.close()

    return app, {"Authorization": f"Bearer {token}"}


def test_schemathesis_finds_nothing(served_api):
    """What `st run --checks ... ` does (examples, coverage and fuzzing phases, positive and negative data), in
    process and bounded: 5 examples per operation and mode, derandomized."""
    app, headers = served_api
    config = SchemathesisConfig.from_dict(
        {
            "headers": headers,
            "workers": 1,
            "generation": {"max-examples": 5, "mode": "all", "database": "none", "deterministic": True},
            # Unexpected methods (POST on a read-only endpoint) are DRF's 405, not this API's contract.
            "phases": {"stateful": {"enabled": False}, "coverage": {"unexpected-methods": []}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in ENGINE_CHECKS}},
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app, config=config, headers=headers)

    @schema.hook
    def filter_failure(context, failure, case, response) -> bool:
        if failure.title != "Schema-valid request rejected" or response.status_code != 400:
            return True
        return not CROSS_PARAMETER_RULES.search(response.json().get("detail", ""))

    findings, errors, cases = [], [], 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.value!r}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        cases += len(event.recorder.cases)
        for case_id, results in event.recorder.checks.items():
            case = event.recorder.cases[case_id].value
            findings += [
                f"{event.phase.value} {case.operation.label} {case.path_parameters or ''}{case.query}: {r.name}: "
                f"{r.failure_info.failure.title}"
                for r in results
                if r.failure_info is not None
            ]
    assert cases > 500
    assert not errors, "\n".join(errors)
    assert not findings, "\n".join(sorted(set(findings)))


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
