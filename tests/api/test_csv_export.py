"""The history CSV export (api/csv_export.py) through common.csv: text from a PLC never runs as a spreadsheet
formula, numbers stay numbers."""

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

HOSTILE = "=cmd|' /C calc'!A0"


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


RANGE = {"start": _iso(T0), "end": _iso(T0 + timedelta(minutes=10))}


@pytest.fixture
def recipe(plant) -> Tag:
    """A string tag whose PLC sent a formula, once."""
    tag = TagFactory(
        name="recipe",
        machine=plant.press,
        device=plant.temperature.device,
        scan_class=plant.temperature.scan_class,
        address="HR300:8",
        data_type="string",
    )
    text_samples_write_batch(
        rows=[
            TextSampleRow(T0, tag.pk, HOSTILE, Quality.GOOD),
            TextSampleRow(T0 + timedelta(minutes=1), tag.pk, "-5 rpm", Quality.GOOD),
        ]
    )
    return tag


def _rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_plc_string_that_is_a_formula_is_exported_as_text(recipe, api):
    rows = _rows(api.get("/api/v1/history/export.csv", {"tags": recipe.pk, **RANGE}))
    assert [r["value"] for r in rows] == ["'" + HOSTILE, "'-5 rpm"]


def test_negative_numbers_are_exported_as_numbers_not_guarded(plant, api):
    write(plant.pressure, [(T0, -5.0), (T0 + timedelta(minutes=1), -0.25), (T0 + timedelta(minutes=2), 1e-07)])

    raw = _rows(api.get("/api/v1/history/export.csv", {"tags": plant.pressure.pk, **RANGE}))
    assert [r["value"] for r in raw] == ["-5.0", "-0.25", "1e-07"]

    aggregates = _rows(
        api.get(
            "/api/v1/history/export.csv",
            {"tags": plant.pressure.pk, **RANGE, "kind": "aggregates", "interval": "1m", "fields": "min,first"},
        )
    )
    assert [(r["min"], r["first"]) for r in aggregates[:2]] == [("-5.0", "-5.0"), ("-0.25", "-0.25")]
