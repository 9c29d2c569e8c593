"""The alarm pages: list, history with search and streamed CSV export, the KPI page; the banner on every page."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

from alarms.services.actions import alarms_acknowledge, alarms_shelve
from alarms.services.evaluation import alarms_evaluate_strict
from historian.quality import Quality
from historian.sample_types import SampleRow
from tests.alarms.conftest import grant


@pytest.fixture
def history(define, signals, operator):
    """Two alarms raised an hour ago, one acknowledged with a comment."""
    t = timezone.now() - timedelta(hours=1)
    temp, vib = signals["motor_temperature"], signals["vibration_rms"]
    hot = define(temp, name="hot", kind="hi", limit=85, message="{machine} motor hot {value}")
    shaky = define(vib, name="shaky", kind="hi", limit=5, priority="low", message="{machine} vibration {value}")
    alarms_evaluate_strict(
        rows=[SampleRow(t, temp.pk, 90.0, Quality.GOOD), SampleRow(t, vib.pk, 7.0, Quality.GOOD)], now=t
    )
    alarms_acknowledge(alarm_ids=[hot.pk], user=operator, comment="coolant valve stuck", now=t + timedelta(minutes=1))
    return hot, shaky


def test_pages_need_a_signed_in_user(client, db):
    for url in ("/alarms/", "/alarms/history/", "/alarms/history.csv", "/alarms/performance/"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


@pytest.mark.parametrize("url", ["/", "/alarms/", "/alarms/history/", "/alarms/performance/"])
def test_the_banner_on_every_page_counts_the_alarms(client, history, django_user_model, url):
    client.force_login(django_user_model.objects.create_superuser("boss", password="pw-boss-1"))
    page = client.get(url).content.decode()
    assert 'id="alarm-banner" data-unacknowledged="1"' in page
    assert 'data-priority="high" data-count="1"><b>1</b><small>(0)</small>' in page
    assert 'data-priority="low" data-count="1"><b>1</b><small>(1)</small>' in page
    assert "js/alarm_banner.js" in page


def test_the_login_page_has_no_banner(client, db):
    assert "alarm-banner" not in client.get("/login/").content.decode()


def test_a_user_without_alarm_permission_sees_neither_pages_nor_banner(client, stranger):
    client.force_login(stranger)
    for url in ("/alarms/", "/alarms/history/", "/alarms/history.csv", "/alarms/performance/"):
        assert client.get(url).status_code == 403
    assert "alarm-banner" not in client.get("/alarms/").content.decode()


def test_the_csv_export_needs_the_export_permission(client, operator):
    client.force_login(operator)
    assert client.get("/alarms/history.csv").status_code == 403


def test_the_alarm_list_page_offers_the_actions_the_user_may_take(client, history, operator, viewer):
    client.force_login(operator)
    assert 'id="ack-selected" >' in client.get("/alarms/").content.decode().replace("  ", " ")
    client.force_login(viewer)
    assert "You may not acknowledge alarms" in client.get("/alarms/").content.decode()


def test_history_searches_the_journal(client, history, operator):
    client.force_login(operator)
    page = client.get("/alarms/history/", {"q": "valve"}).content.decode()
    assert "coolant valve stuck" in page
    assert "vibration" not in page

    page = client.get("/alarms/history/", {"priority": "low"}).content.decode()
    assert "CNC 101 vibration 7" in page
    assert "motor hot" not in page


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"start": "yesterday"}, "is not a date and time"),
        ({"start": "2026-03-02T00:00", "end": "2026-03-01T00:00"}, "end must be after"),
        ({"priority": "urgent"}, "Unknown priority"),
        ({"area": "x"}, "area must be a number"),
    ],
)
def test_history_explains_a_bad_search(client, operator, db, params, error):
    client.force_login(operator)
    response = client.get("/alarms/history/", params)
    assert response.status_code == 400
    assert error in response.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_the_csv_export_streams_every_matching_entry(async_client, history, operator, monkeypatch):
    operator = await sync_to_async(grant)(operator, "historian.export_data")
    from alarms.queries import journal

    real_chunk = journal.journal_csv_chunk
    monkeypatch.setattr(
        "alarms.views.journal_csv_chunk", lambda **kw: real_chunk(**kw | {"size": 1})
    )  # one entry per chunk: the keyset paging is exercised
    await async_client.aforce_login(operator)
    await sync_to_async(alarms_shelve)(
        alarm_ids=[history[1].pk], user=operator, minutes=10, comment="=cmd|' /C calc'!A0", now=timezone.now()
    )

    response = await async_client.get(
        "/alarms/history.csv", {"start": (timezone.now() - timedelta(days=1)).isoformat()}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["alarm_name"], r["event"]) for r in rows] == [
        ("shaky", "shelve"),
        ("hot", "acknowledge"),
        ("shaky", "activate"),
        ("hot", "activate"),
    ]
    assert rows[0]["comment"] == "'=cmd|' /C calc'!A0"  # never a formula in a spreadsheet
    assert rows[1]["username"] == "operator"
    assert rows[1]["comment"] == "coolant valve stuck"
    await sync_to_async(connections.close_all)()  # the export's thread connection (the test client keeps it)


def test_the_kpi_page_shows_the_range_it_was_asked_for(client, history, operator):
    client.force_login(operator)
    start = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    page = client.get("/alarms/performance/", {"start": start}).content.decode()
    assert f'value="{start}"' in page
    assert '<div class="kpi" id="kpi-activations"><b>2</b>' in page
    assert client.get("/alarms/performance/", {"start": "nope"}).status_code == 400
