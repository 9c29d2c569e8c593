"""The asset inventory page and its API: who sees it, what it shows, and that what a device says stays text."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.services.roles import Role
from inventory.services.assets import asset_observe

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
