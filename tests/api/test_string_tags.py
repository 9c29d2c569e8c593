"""String tags through the API: current text, raw texts, CSV export; computing reads are a 400 saying why."""

import csv
import io
from datetime import timedelta

import pytest

from historian.models import Tag
from historian.quality import Quality
from historian.sample_types import TextSampleRow
from historian.services.text_samples import text_samples_write_batch
from tests.api.conftest import T0
from tests.factories import TagFactory
from tests.samples import write


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def program(plant) -> Tag:
    """The press's program name, changed twice, and the press's pressure beside it."""
    tag = TagFactory(
        name="program",
        machine=plant.press,
        device=plant.temperature.device,
        scan_class=plant.temperature.scan_class,
        address="HR100:8",
        data_type="string",
    )
    text_samples_write_batch(
        rows=[
            TextSampleRow(T0, tag.pk, "PRG-1", Quality.GOOD),
            TextSampleRow(T0 + timedelta(minutes=5), tag.pk, 'PRG-2, "fast"', Quality.GOOD),
            TextSampleRow(T0 + timedelta(minutes=9), tag.pk, None, Quality.BAD_COMM_FAILURE),
        ]
    )
    write(plant.pressure, [(T0 + timedelta(minutes=k), 2.0 + k) for k in range(10)])
    return tag


RANGE = {"start": _iso(T0), "end": _iso(T0 + timedelta(minutes=10))}


def test_the_current_value_of_a_string_tag_is_its_text(program, api):
    text_samples_write_batch(
        rows=[], current_only=[TextSampleRow(T0 + timedelta(minutes=11), program.pk, "PRG-3", 192)]
    )
    [row] = api.get("/api/v1/current-values/", {"tags": program.pk}).json()
    assert (row["value"], row["quality"]) == ("PRG-3", Quality.GOOD)


def test_raw_history_of_a_string_tag_is_its_texts(program, api):
    body = api.get("/api/v1/history/raw/", {"tags": program.pk, **RANGE, "boundaries": "true"}).json()
    series = body["tags"][0]
    assert series["v"] == ["PRG-1", 'PRG-2, "fast"', None]
    assert series["q"] == [Quality.GOOD, Quality.GOOD, Quality.BAD_COMM_FAILURE]
    assert series["before"] is None


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/api/v1/history/aggregates/", {"interval": "1m"}),
        ("/api/v1/history/interpolated/", {"interval": "1m"}),
        ("/api/v1/history/plot/", {"pixels": 100}),
        ("/api/v1/history/export.csv", {"kind": "aggregates", "interval": "1m"}),
    ],
)
def test_a_string_tag_named_in_a_computing_read_is_a_400_saying_why(program, api, path, extra):
    response = api.get(path, {"tags": program.pk, **RANGE, **extra})
    assert response.status_code == 400
    assert "Works/Forming/Line 1/Press.program" in response.json()["detail"]
    assert "holds text, which cannot be interpolated, aggregated or plotted" in response.json()["detail"]


def test_a_machines_string_tags_are_left_out_of_its_aggregates(program, api, plant):
    body = api.get("/api/v1/history/aggregates/", {"machine": plant.press.pk, **RANGE, "interval": "5m"}).json()
    assert program.pk not in [series["id"] for series in body["tags"]]
    assert plant.pressure.pk in [series["id"] for series in body["tags"]]


def test_the_raw_csv_export_holds_the_texts(program, api, plant):
    response = api.get("/api/v1/history/export.csv", {"tags": f"{program.pk},{plant.pressure.pk}", **RANGE})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    texts = [(r["value"], r["quality"]) for r in rows if r["tag_id"] == str(program.pk)]
    assert texts == [("PRG-1", "192"), ('PRG-2, "fast"', "192"), ("", str(Quality.BAD_COMM_FAILURE))]
    assert [r["value"] for r in rows if r["tag_id"] == str(plant.pressure.pk)][:2] == ["2.0", "3.0"]
