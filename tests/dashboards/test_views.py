from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from historian.quality import Quality
from historian.queries.plant import machine_trend_tags
from historian.sample_types import SampleRow
from historian.services.samples import samples_write_batch


@pytest.fixture
def operator_client(client, make_user):
    user = make_user("operator")
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", ["/", "/machines/1/", "/machines/1/history.json"])
def test_pages_need_a_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_page_signs_in(client, django_user_model):
    django_user_model.objects.create_user("operator", password="pw-operator-1")
    response = client.post("/login/", {"username": "operator", "password": "pw-operator-1"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_plant_overview_shows_every_machine_in_constant_queries(
    operator_client, demo_plant, django_assert_max_num_queries
):
    # + the device link statuses, + the quarantined devices (banner), + the machines' open state intervals (cards),
    # + the key tags' value label sets and their entries. The plant's time zone is kept per process (one query
    # after a site changes, historian/queries/time_zone.py): loaded before, as it is on a running server.
    from historian.queries.time_zone import plant_time_zone

    plant_time_zone()
    with django_assert_max_num_queries(13):
        response = operator_client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "CNC 101" in html
    assert "CNC 102" in html
    assert "js/live.js" in html


def test_machine_page_serves_plotly_locally(operator_client, machine):
    response = operator_client.get(f"/machines/{machine.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/vendor/plotly.min.js" in html
    assert "cdn" not in html.lower()
    assert finders.find("vendor/plotly.min.js").endswith("plotly/package_data/plotly.min.js")


def test_unknown_machine_is_404(operator_client, demo_plant):
    assert operator_client.get("/machines/999999/").status_code == 404


def test_history_returns_the_trend_tags_since_a_time(operator_client, machine):
    tag = machine_trend_tags(machine_id=machine.pk)[0]
    now = timezone.now()
    samples_write_batch(rows=[SampleRow(now - timedelta(seconds=s), tag.pk, float(s), Quality.GOOD) for s in range(30)])
    since_ms = round((now - timedelta(seconds=10)).timestamp() * 1000)

    body = operator_client.get(f"/machines/{machine.pk}/history.json", {"since": since_ms}).json()

    points = body["tags"][str(tag.pk)]
    assert len(points) == 10
    assert all(p[0] > since_ms for p in points)


@pytest.mark.parametrize("query", [{"window": "ten"}, {"window": "0"}, {"window": "99999999"}, {"since": "yesterday"}])
def test_history_rejects_bad_parameters_with_a_message(operator_client, machine, query):
    response = operator_client.get(f"/machines/{machine.pk}/history.json", query)
    assert response.status_code == 400
    assert response.json()["error"]


def test_static_files_are_served_and_a_missing_one_is_404(live_asgi):
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(f"{live_asgi.url}/static/vendor/plotly.min.js") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(f"{live_asgi.url}/static/js/missing.js")
    assert excinfo.value.code == 404
    excinfo.value.close()


def test_plant_overview_shows_each_device_link_and_a_filling_buffer(operator_client, device, settings):
    from ingest.pipeline.buffer import buffer_status_publish, local_buffer

    Device = type(device)
    Device.objects.filter(pk=device.pk).update(status="error", consecutive_failures=3, last_error="connection refused")
    local_buffer().append([SampleRow(timezone.now() - timedelta(seconds=90), 1, 1.0, Quality.GOOD)])
    status = buffer_status_publish()

    html = operator_client.get("/").content.decode()

    assert f'data-device="{device.pk}" data-status="error"' in html
    assert "connection refused" in html
    assert f"Database unreachable from worker {status.host}: 1 values buffered on disk, oldest 9" in html
