"""The API answers with the semantics of historian.queries, refuses what it cannot answer with a clear 400."""

import csv
import io
from datetime import timedelta

import pytest

from alarms.models import JournalEntry
from historian.quality import Quality
from historian.queries.aggregates import aggregate_values
from historian.queries.plot import plot_values
from historian.queries.raw import raw_values
from tests.api.conftest import T0
from tests.samples import write


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _ms(moment) -> float:
    return moment.timestamp() * 1000


@pytest.fixture
def history(plant):
    """Temperature every 10 s for an hour with a bad stretch; pressure every minute."""
    samples = [(T0 + timedelta(seconds=10 * k), 20.0 + k, Quality.GOOD) for k in range(360)]
    for k in range(100, 106):
        samples[k] = (samples[k][0], None, Quality.BAD_COMM_FAILURE)
    write(plant.temperature, samples)
    write(plant.pressure, [(T0 + timedelta(minutes=k), 2.0 + k / 10) for k in range(60)])
    return plant


def test_hierarchy_is_the_site_area_line_machine_tree(plant, api):
    tree = api.get("/api/v1/hierarchy/").json()
    assert tree == [
        {
            "id": plant.site.pk,
            "name": "Works",
            "areas": [
                {
                    "id": plant.line.area_id,
                    "name": "Forming",
                    "lines": [
                        {
                            "id": plant.line.pk,
                            "name": "Line 1",
                            "machines": [
                                {"id": plant.oven.pk, "name": "Oven", "tag_count": 1},
                                {"id": plant.press.pk, "name": "Press", "tag_count": 3},
                            ],
                        }
                    ],
                }
            ],
        }
    ]


def test_tags_are_found_by_words_and_by_place_in_the_tree(plant, api):
    def paths(query: str) -> list[str]:
        return [t["path"] for t in api.get(f"/api/v1/tags/?{query}").json()["results"]]

    assert paths("search=oven temp") == ["Works/Forming/Line 1/Oven.temperature"]
    assert paths(f"machine={plant.press.pk}") == [
        "Works/Forming/Line 1/Press.pressure",
        "Works/Forming/Line 1/Press.speed",
        "Works/Forming/Line 1/Press.temperature",
    ]
    assert paths(f"line={plant.line.pk}&units=°C") == [
        "Works/Forming/Line 1/Oven.temperature",
        "Works/Forming/Line 1/Press.temperature",
    ]
    assert paths("search=nothing-like-this") == []


def test_tag_lists_are_paginated(plant, api):
    first = api.get("/api/v1/tags/?page_size=3").json()
    assert first["count"] == 4
    assert len(first["results"]) == 3
    assert first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None


def test_tag_detail_says_units_interpolation_and_machine(plant, api):
    tag = api.get(f"/api/v1/tags/{plant.pressure.pk}/").json()
    assert tag["units"] == "bar"
    assert tag["interpolation"] == "linear"
    assert tag["plot_interpolation"] == "linear"
    assert tag["machine_name"] == "Press"
    assert api.get("/api/v1/tags/999999/").status_code == 404


def test_a_tag_with_value_labels_is_drawn_in_steps(plant, api):
    plant.pressure.value_labels = {"0": "Off", "1": "On"}
    plant.pressure.save(update_fields=["value_labels"])
    tag = api.get(f"/api/v1/tags/{plant.pressure.pk}/").json()
    assert tag["interpolation"] == "linear"  # how history reads it between samples, as set
    assert tag["plot_interpolation"] == "step"  # a state: a chart holds each value until the next


def test_current_values_of_a_machines_tags(history, api):
    rows = api.get(f"/api/v1/current-values/?machine={history.press.pk}").json()
    by_tag = {r["tag"]: r for r in rows}
    assert by_tag[history.pressure.pk]["value"] == pytest.approx(7.9)
    assert by_tag[history.speed.pk]["value"] is None  # never sampled
    assert by_tag[history.temperature.pk]["quality"] == Quality.GOOD


def test_raw_history_is_what_the_raw_query_gives_with_its_boundaries(history, api):
    start, end = T0 + timedelta(seconds=5), T0 + timedelta(minutes=10)
    body = api.get(
        "/api/v1/history/raw/",
        {"tags": f"{history.temperature.pk}", "start": _iso(start), "end": _iso(end), "boundaries": "true"},
    ).json()
    expected = raw_values(tag_ids=[history.temperature.pk], start=start, end=end, boundaries=True)
    series = body["tags"][0]
    points = expected[history.temperature.pk].points
    assert series["t"] == [_ms(p.time) for p in points]
    assert series["v"] == [p.value for p in points]
    assert series["before"] == {"t": _ms(T0), "v": 20.0, "q": Quality.GOOD}
    assert series["after"]["t"] == _ms(end)


def test_bad_quality_samples_come_back_as_null_with_their_quality(history, api):
    body = api.get(
        "/api/v1/history/raw/",
        {"tags": history.temperature.pk, "start": _iso(T0), "end": _iso(T0 + timedelta(hours=1))},
    ).json()
    series = body["tags"][0]
    assert series["v"][100:106] == [None] * 6
    assert set(series["q"][100:106]) == {Quality.BAD_COMM_FAILURE}


def test_more_samples_than_max_points_is_a_400_not_a_silent_cut(history, api):
    response = api.get(
        "/api/v1/history/raw/",
        {"tags": history.temperature.pk, "start": _iso(T0), "end": _iso(T0 + timedelta(hours=1)), "max_points": 50},
    )
    assert response.status_code == 400
    assert "more than 50 samples" in response.json()["detail"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"tags": "1,x"}, "whole numbers"),
        ({"start": "yesterday"}, "Datetime has wrong format"),
        ({"end": "2026-03-02T07:00:00Z"}, "end must not be before start"),
    ],
)
def test_bad_history_parameters_answer_400_saying_why(history, api, query, message):
    params = {"tags": history.temperature.pk, "start": _iso(T0), "end": _iso(T0 + timedelta(hours=1))}
    params |= query
    response = api.get("/api/v1/history/raw/", params)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_a_response_larger_than_the_limit_is_refused_before_reading(history, api, settings):
    response = api.get(
        "/api/v1/history/aggregates/",
        {
            "machine": history.press.pk,
            "start": _iso(T0),
            "end": _iso(T0 + timedelta(days=60)),
            "interval": "1m",
        },
    )
    assert response.status_code == 400
    assert "259200 intervals" in response.json()["detail"]
    assert "at most 200000" in response.json()["detail"]


def test_aggregates_are_those_of_the_query_for_the_asked_fields(history, api):
    start, end = T0, T0 + timedelta(hours=1)
    body = api.get(
        "/api/v1/history/aggregates/",
        {
            "tags": history.temperature.pk,
            "start": _iso(start),
            "end": _iso(end),
            "interval": "15m",
            "fields": "avg,max,last,bad_count",
        },
    ).json()
    expected = aggregate_values(
        tag_ids=[history.temperature.pk], start=start, end=end, interval=timedelta(minutes=15)
    ).series[history.temperature.pk]
    values = body["tags"][0]["values"]
    assert body["fields"] == ["avg", "max", "last", "bad_count"]
    assert body["resolution"] == "raw"
    assert body["tags"][0]["start"] == [_ms(r.start) for r in expected]
    assert values["avg"] == [pytest.approx(r.avg) for r in expected]
    assert values["max"] == [r.max for r in expected]
    assert values["last"] == [r.last.value for r in expected]
    assert values["last_time"] == [_ms(r.last.time) for r in expected]
    assert values["bad_count"] == [0, 6, 0, 0]
    assert set(values) == {"avg", "max", "last", "last_time", "bad_count"}


def test_an_unaligned_rollup_request_is_a_400_with_the_querys_message(history, api):
    response = api.get(
        "/api/v1/history/aggregates/",
        {
            "tags": history.temperature.pk,
            "start": "2026-01-01T00:00:30Z",
            "end": "2026-03-01T00:00:30Z",
            "interval": "1h",
        },
    )
    assert response.status_code == 400
    assert "rollup" in response.json()["detail"]


def test_interpolated_values_step_through_the_range(history, api):
    body = api.get(
        "/api/v1/history/interpolated/",
        {"tags": history.pressure.pk, "start": _iso(T0), "end": _iso(T0 + timedelta(minutes=2)), "interval": "30s"},
    ).json()
    series = body["tags"][0]
    assert series["t"] == [_ms(T0 + timedelta(seconds=30 * k)) for k in range(5)]
    assert series["v"] == pytest.approx([2.0, 2.05, 2.1, 2.15, 2.2])
    assert body["interval_seconds"] == 30


def test_plot_values_are_at_most_four_per_pixel_and_mark_the_bad_stretch(history, api):
    start, end = T0, T0 + timedelta(hours=1)
    body = api.get(
        "/api/v1/history/plot/",
        {"tags": history.temperature.pk, "start": _iso(start), "end": _iso(end), "pixels": 40},
    ).json()
    expected = plot_values(tag_ids=[history.temperature.pk], start=start, end=end, pixels=40)
    series = body["tags"][0]
    assert body["resolution"] == "raw"
    assert body["bucket_seconds"] == 90
    assert len(series["t"]) <= 4 * 40
    assert series["t"] == [_ms(p.time) for p in expected.series[history.temperature.pk]]
    assert None in series["v"]


def test_devices_show_their_connection_status_but_never_their_password(plant, api):
    body = api.get("/api/v1/devices/").json()
    device = body["results"][0]
    assert device["name"] == "PLC 1"
    assert device["status"] == "unknown"
    assert device["consecutive_failures"] == 0
    assert "password" not in device
    assert "plc-secret" not in str(body)


def test_the_alarm_journal_filters_by_time_and_priority(plant, api):
    from alarms.services.journal import journal_write

    def entry(minutes: int, priority: str) -> JournalEntry:
        return JournalEntry(
            time=T0 + timedelta(minutes=minutes),
            alarm_id=1,
            event="activate",
            state="unack_active",
            previous_state="normal",
            value=91.0,
            priority=priority,
            alarm_name="Hot",
            tag_path=plant.temperature.path,
            message="Press hot",
            area_id=plant.line.area_id,
            line_id=plant.line.pk,
            machine_id=plant.press.pk,
        )

    journal_write(entries=[entry(1, "high"), entry(2, "low"), entry(600, "high")])

    body = api.get(
        "/api/v1/alarms/journal/",
        {"start": _iso(T0), "end": _iso(T0 + timedelta(hours=1)), "priority": "high"},
    ).json()

    assert body["count"] == 1
    assert body["results"][0]["tag_path"] == plant.temperature.path
    assert api.get("/api/v1/alarms/").json() == []


def test_an_operator_reads_history_but_cannot_export(history, operator, api_as):
    client = api_as(operator)
    params = {"tags": history.pressure.pk, "start": _iso(T0), "end": _iso(T0 + timedelta(hours=1))}
    assert client.get("/api/v1/history/raw/", params).status_code == 200
    response = client.get("/api/v1/history/export.csv", params)
    assert response.status_code == 403
    assert "historian.export_data" in response.json()["detail"]


def test_raw_export_streams_every_sample_as_csv(history, api):
    response = api.get(
        "/api/v1/history/export.csv",
        {"machine": history.press.pk, "start": _iso(T0), "end": _iso(T0 + timedelta(hours=1))},
    )
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 360 + 60
    assert rows[0] == {
        "time": "2026-03-02T08:00:00+00:00",
        "tag_id": str(history.temperature.pk),
        "tag_path": history.temperature.path,
        "value": "20.0",
        "quality": "192",
        "quality_label": rows[0]["quality_label"],
    }
    assert rows[100]["value"] == ""
    assert rows[100]["quality"] == str(Quality.BAD_COMM_FAILURE)


def test_export_refuses_bad_parameters_with_json_before_streaming(history, api):
    response = api.get(
        "/api/v1/history/export.csv",
        {"tags": history.pressure.pk, "start": _iso(T0), "end": _iso(T0 + timedelta(days=1)), "kind": "aggregates"},
        headers={"Accept": "text/csv"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "interval: Aggregates need an interval, e.g. interval=1m.",
        "errors": {"interval": ["Aggregates need an interval, e.g. interval=1m."]},
    }


def test_every_error_has_a_detail_message(history, api):
    too_many = api.get(
        "/api/v1/history/aggregates/",
        {"machine": history.press.pk, "start": _iso(T0), "end": _iso(T0 + timedelta(days=1)), "interval": "100ms"},
    ).json()
    assert too_many == {
        "detail": "2592000 intervals (intervals x tags): at most 200000 in one response. Ask for a shorter range, "
        "fewer tags, or plot values / aggregates; the CSV export streams any size."
    }
    assert api.get("/api/v1/tags/-5/").json() == {"detail": "No Tag matches the given query."}
