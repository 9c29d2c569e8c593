"""Value labels in the API: current values and history carry each value's label beside it where the tag has a value
label set; the raw CSV export has a value_label column (through common.csv: an administrator's label that looks
like a formula is exported as text)."""

import csv
import io
from datetime import timedelta

import pytest

from historian.models import Tag, ValueLabel, ValueLabelSet
from historian.quality import Quality
from tests.api.conftest import T0
from tests.factories import TagFactory
from tests.samples import write

HOSTILE = "=cmd|' /C calc'!A0"


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _ms(moment) -> float:
    return moment.timestamp() * 1000


@pytest.fixture
def state(plant) -> Tag:
    """The press's state tag, labelled (one label an administrator typed as a formula), with four samples."""
    states = ValueLabelSet.objects.create(name="Machine state")
    for value, label in ((0, "Idle"), (1, "Running"), (2, HOSTILE)):
        ValueLabel.objects.create(set=states, value=value, label=label, colour="#2e7d32")
    tag = TagFactory(
        name="state",
        machine=plant.press,
        device=plant.temperature.device,
        scan_class=plant.temperature.scan_class,
        address="HR100",
        data_type="uint16",
        value_labels=states,
    )
    write(
        tag, [(T0, 0), (T0 + timedelta(minutes=1), 1), (T0 + timedelta(minutes=2), 2), (T0 + timedelta(minutes=3), 7)]
    )
    write(tag, [(T0 + timedelta(minutes=4), None, Quality.BAD_COMM_FAILURE)])
    write(plant.pressure, [(T0, 2.0)])
    return tag


def test_current_values_carry_the_label_of_a_labelled_tags_value(state, plant, api):
    write(state, [(T0 + timedelta(minutes=5), 1)])
    rows = {r["tag"]: r for r in api.get(f"/api/v1/current-values/?machine={plant.press.pk}").json()}
    assert (rows[state.pk]["value"], rows[state.pk]["label"]) == (1, "Running")
    assert (rows[plant.pressure.pk]["value"], rows[plant.pressure.pk]["label"]) == (2.0, None)
    assert rows[plant.speed.pk]["label"] is None  # never sampled


def test_raw_history_carries_a_label_beside_each_value(state, plant, api):
    start, end = T0 + timedelta(seconds=30), T0 + timedelta(minutes=3, seconds=30)
    body = api.get(
        "/api/v1/history/raw/",
        {"tags": f"{state.pk},{plant.pressure.pk}", "start": _iso(start), "end": _iso(end), "boundaries": "true"},
    ).json()
    labelled, plain = body["tags"]
    assert labelled["v"] == [1, 2, 7]
    assert labelled["label"] == ["Running", HOSTILE, None]  # 7: no label in the set
    assert labelled["before"] == {"t": _ms(T0), "v": 0, "q": Quality.GOOD, "label": "Idle"}
    assert labelled["after"]["label"] is None  # the bad sample: no value, no label
    assert "label" not in plain
    assert "label" not in (plain["before"] or {})


def test_interpolated_history_labels_each_step(state, api):
    body = api.get(
        "/api/v1/history/interpolated/",
        {"tags": state.pk, "start": _iso(T0), "end": _iso(T0 + timedelta(minutes=2)), "interval": "1m"},
    ).json()
    assert body["tags"][0]["v"] == [0, 1, 2]
    assert body["tags"][0]["label"] == ["Idle", "Running", HOSTILE]


def test_a_tag_names_its_value_label_set(state, plant, api):
    assert api.get(f"/api/v1/tags/{state.pk}/").json()["value_labels"] == "Machine state"
    assert api.get(f"/api/v1/tags/{plant.pressure.pk}/").json()["value_labels"] is None


def test_the_raw_export_has_a_value_label_column_guarded_like_any_text(state, plant, api):
    response = api.get(
        "/api/v1/history/export.csv",
        {"tags": f"{state.pk},{plant.pressure.pk}", "start": _iso(T0), "end": _iso(T0 + timedelta(minutes=10))},
    )
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[0] == "time,tag_id,tag_path,value,value_label,quality,quality_label"
    rows = list(csv.DictReader(io.StringIO(text)))
    by_tag = {}
    for row in rows:
        by_tag.setdefault(int(row["tag_id"]), []).append((row["value"], row["value_label"]))
    assert by_tag[state.pk] == [("0.0", "Idle"), ("1.0", "Running"), ("2.0", "'" + HOSTILE), ("7.0", ""), ("", "")]
    assert by_tag[plant.pressure.pk] == [("2.0", "")]


def test_the_openapi_schema_documents_the_labels(engineer, api):
    schema = api.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert schema["CurrentValue"]["properties"]["label"]["type"] == "string"
    assert "label" in schema["CurrentValue"]["required"]
    assert schema["RawSeries"]["properties"]["label"]["items"]["type"] == "string"
    assert schema["Point"]["properties"]["label"]["nullable"] is True
    assert schema["InterpolatedSeries"]["properties"]["label"]["type"] == "array"


def test_plot_values_carry_the_tags_label_set_once_and_unlabelled_tags_none(state, plant, api):
    start, end = T0, T0 + timedelta(minutes=5)
    body = api.get(
        f"/api/v1/history/plot/?tags={state.pk},{plant.pressure.pk}&start={_iso(start)}&end={_iso(end)}&pixels=100"
    ).json()
    series = {s["id"]: s for s in body["tags"]}
    assert series[state.pk]["labels"]["1"] == {"label": "Running", "colour": "#2e7d32"}
    assert set(series[state.pk]["labels"]) == {"0", "1", "2"}
    assert "labels" not in series[plant.pressure.pk]
