"""What schemathesis found (issue 11.12), one case each: the schema and the behaviour agree on empty ranges, unknown
ids, blank parameters, page sizes, unknown paths and too many parameters."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from api.services.tokens import api_token_create
from tests.api.conftest import T0
from tests.samples import write


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def sampled(plant):
    write(plant.temperature, [(T0 + timedelta(seconds=10 * k), 20.0 + k) for k in range(10)])
    return plant


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/api/v1/history/raw/", {}),
        ("/api/v1/history/interpolated/", {"interval": "10s"}),
        ("/api/v1/history/aggregates/", {"interval": "1m"}),
        ("/api/v1/history/plot/", {"pixels": 100}),
    ],
)
def test_start_equal_to_end_is_an_empty_range_with_empty_series(sampled, api, path, extra):
    moment = _iso(T0 + timedelta(seconds=30))  # a sample lies exactly there: still outside [start, start)
    response = api.get(path, {"tags": sampled.temperature.pk, "start": moment, "end": moment, **extra})

    assert response.status_code == 200, response.content
    (series,) = response.json()["tags"]
    assert series["id"] == sampled.temperature.pk
    if "values" in series:
        assert series["start"] == []
        assert all(values == [] for values in series["values"].values())
    else:
        assert series["t"] == series["v"] == series["q"] == []


def test_an_empty_raw_range_still_gives_its_boundaries(sampled, api):
    """The newest sample before start and the oldest at or after end: with start == end == a sample's time, that
    sample is the one after."""
    moment = T0 + timedelta(seconds=30)
    body = api.get(
        "/api/v1/history/raw/",
        {"tags": sampled.temperature.pk, "start": _iso(moment), "end": _iso(moment), "boundaries": "true"},
    ).json()
    (series,) = body["tags"]
    assert series["t"] == []
    assert series["before"]["v"] == 22.0
    assert series["after"]["v"] == 23.0


@pytest.mark.parametrize("kind", ["raw", "aggregates"])
def test_an_empty_range_exports_the_header_alone(sampled, api, kind):
    moment = _iso(T0)
    query = {"tags": sampled.temperature.pk, "start": moment, "end": moment, "kind": kind, "interval": "1m"}
    response = api.get("/api/v1/history/export.csv", query)
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("time,") if kind == "raw" else lines[0].startswith("interval_start,")


def test_end_before_start_is_still_a_400(sampled, api):
    response = api.get(
        "/api/v1/history/raw/",
        {"tags": sampled.temperature.pk, "start": _iso(T0), "end": _iso(T0 - timedelta(seconds=1))},
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"end": ["end must not be before start."]}


@pytest.mark.parametrize(
    "path", ["/api/v1/current-values/", "/api/v1/history/raw/", "/api/v1/history/plot/", "/api/v1/history/export.csv"]
)
def test_unknown_tag_ids_are_a_json_404_naming_them(sampled, api, path):
    query = {"tags": f"{sampled.temperature.pk},999998,999999", "start": _iso(T0), "end": _iso(T0), "pixels": 10}
    response = api.get(path, query)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Unknown tag ids: 999998, 999999."}


def test_an_unknown_machine_is_a_404(sampled, api):
    response = api.get("/api/v1/current-values/", {"machine": 999999})
    assert response.status_code == 404
    assert response.json() == {"detail": "No machine 999999, or it has no tags."}


def test_a_blank_search_is_no_filter(sampled, api):
    everything = api.get("/api/v1/tags/").json()
    response = api.get("/api/v1/tags/", {"search": ""})
    assert response.status_code == 200
    assert response.json() == everything
    assert everything["count"] == 4


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/tags/", "units"),
        ("/api/v1/tags/", "machine"),
        ("/api/v1/tags/", "ids"),
        ("/api/v1/alarms/journal/", "tag"),
        ("/api/v1/alarms/journal/", "priority"),
        ("/api/v1/current-values/", "tags"),
    ],
)
def test_a_blank_parameter_is_a_400_not_a_missing_filter(sampled, api, path, name):
    """`units=` used to list every tag, as if the filter were not there."""
    response = api.get(f"{path}?{name}=")
    assert response.status_code == 400
    assert response.json()["errors"] == {name: ["Blank: give a value, or leave the parameter out."]}


@pytest.mark.parametrize("value", ["null", "0", "-5", "1.5", ""])
def test_a_page_size_that_is_not_a_positive_whole_number_is_a_400(sampled, api, value):
    response = api.get("/api/v1/devices/", {"page_size": value})
    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


def test_a_page_size_above_the_maximum_is_cut_to_it(sampled, api):
    response = api.get("/api/v1/tags/", {"page_size": "99999999999999999999999"})
    assert response.status_code == 200
    assert response.json()["count"] == 4


@pytest.mark.parametrize("path", ["/api/v1/tags/%C2%84/", "/api/v1/nothing/", "/api/v2/tags/"])
def test_a_path_under_api_that_names_nothing_is_a_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_a_path_without_its_trailing_slash_is_still_redirected(api):
    response = api.get("/api/v1/tags?search=x")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/tags/?search=x"


def _database_url() -> str:
    db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="")
    return f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.parametrize("module", ["config.settings.test", "config.settings.local", "config.settings.production"])
def test_too_many_query_parameters_are_a_json_400_in_every_settings_module(transactional_db, plant, engineer, module):
    """2,000 `tags=` (Django refuses more than DATA_UPLOAD_MAX_NUMBER_FIELDS): each settings module in its own
    process, against this test's database and Redis."""
    token = api_token_create(user=engineer, name="script")[1]
    query = "&".join([f"tags={plant.temperature.pk}"] * 2000)
    script = (
        "import django, json; django.setup(); from django.test import Client; "
        f"r = Client(headers={{'Authorization': 'Bearer {token}'}}).get('/api/v1/current-values/?{query}', "
        "secure=True); "
        "print(json.dumps({'status': r.status_code, 'type': r['Content-Type'], 'body': r.content.decode()}))"
    )
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": module,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": django_settings.REDIS_URL,
        "SECRET_KEY": "not-secret-" * 6,
        "ALLOWED_HOSTS": "testserver",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 400, answer
    assert answer["type"] == "application/json"
    assert json.loads(answer["body"]) == {"detail": "Too many query parameters: at most 1000."}
