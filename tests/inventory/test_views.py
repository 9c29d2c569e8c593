"""The asset inventory page and its API: who sees it, what it shows, and that what a device says stays text."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services.roles import Role
from inventory.models import Asset
from inventory.services.assets import asset_observe
from tests.factories import AssetChangeFactory, AssetFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
HOSTILE = '<script>alert("plc")</script>'


@pytest.fixture
def assets():
    asset_observe(protocol="modbus", key="10.0.0.5:502/1", observed_at=T0, identity={"VendorName": "Acme"})
    asset_observe(
        protocol="modbus", key="10.0.0.5:502/1", observed_at=T0 + timedelta(hours=1), identity={"VendorName": HOSTILE}
    )
    asset_observe(protocol="sparkplug", key="Plant1/Rogue", observed_at=T0, identity={"Birth metrics": "x"})


def test_engineers_see_every_asset_and_its_changes(client, make_user, assets):
    client.force_login(make_user("erik", role=Role.ENGINEER))

    page = client.get("/inventory/").content.decode()

    assert "10.0.0.5:502/1" in page
    assert "Plant1/Rogue" in page
    assert "not configured" in page  # seen on the network, no device configured for it
    assert "identity.VendorName" in page
    assert HOSTILE not in page  # what a device says is shown as text, never run
    assert "&lt;script&gt;" in page


def test_operators_are_refused(client, make_user, assets):
    client.force_login(make_user("olga", role=Role.OPERATOR))

    assert client.get("/inventory/").status_code == 403
    assert client.get("/api/v1/assets/").status_code == 403


def test_the_api_lists_assets_with_their_latest_changes(client, make_user, assets, django_assert_max_num_queries):
    client.force_login(make_user("erik", role=Role.ENGINEER))

    with django_assert_max_num_queries(12):
        body = client.get("/api/v1/assets/").json()

    rows = body["results"] if isinstance(body, dict) else body
    by_key = {row["key"]: row for row in rows}
    plc = by_key["10.0.0.5:502/1"]
    assert plc["identity"] == {"VendorName": HOSTILE}
    assert plc["recent_changes"] == [
        {"at": "2026-12-06T09:00:00Z", "field": "identity.VendorName", "before": "Acme", "after": HOSTILE}
    ]
    assert by_key["Plant1/Rogue"]["device"] is None


def _changes(asset: Asset, count: int) -> None:
    """`count` changes of `asset`, a minute apart: the newest one's `after` is str(count)."""
    for i in range(count):
        AssetChangeFactory(asset=asset, at=T0 + timedelta(minutes=i), before=str(i), after=str(i + 1))


def _queries_of_one_request(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/assets/").status_code == 200
    return len(queries)


def test_the_api_brings_each_asset_its_ten_latest_changes_in_the_same_queries_however_many(
    client, make_user, django_assert_max_num_queries
):
    client.force_login(make_user("erik", role=Role.ENGINEER))
    first = AssetFactory(key="10.0.0.1:502/1")
    _changes(first, 3)
    few = _queries_of_one_request(client)

    for n in range(2, 8):
        asset = AssetFactory(key=f"10.0.0.{n}:502/1")
        _changes(asset, 40)
    with django_assert_max_num_queries(few):
        body = client.get("/api/v1/assets/").json()

    by_key = {row["key"]: row for row in body["results"]}
    assert len(by_key) == 7
    assert [c["after"] for c in by_key["10.0.0.1:502/1"]["recent_changes"]] == ["3", "2", "1"]
    busy = by_key["10.0.0.5:502/1"]
    assert busy["change_count"] == 40
    assert [c["after"] for c in busy["recent_changes"]] == [str(i) for i in range(40, 30, -1)]  # newest ten


def test_an_assets_changes_are_paged_newest_first(client, make_user, django_assert_max_num_queries):
    client.force_login(make_user("erik", role=Role.ENGINEER))
    asset = AssetFactory()
    _changes(asset, 25)

    with django_assert_max_num_queries(8):
        page = client.get(f"/api/v1/assets/{asset.pk}/changes/?page=2&page_size=10").json()

    assert page["count"] == 25
    assert [c["after"] for c in page["results"]] == [str(i) for i in range(15, 5, -1)]
    assert client.get(f"/api/v1/assets/{asset.pk + 1000}/changes/").status_code == 404
    assert client.get("/api/v1/assets/99999999999999999999999/changes/").status_code == 404
    client.force_login(make_user("olga", role=Role.OPERATOR))
    assert client.get(f"/api/v1/assets/{asset.pk}/changes/").status_code == 403
