"""Accepting assets into the communication baseline from the admin: who may, and that it is audited."""

from datetime import UTC, datetime

import pytest

from accounts.services.roles import Role
from audit.models import AuditEvent
from inventory.models import Asset
from inventory.services.assets import asset_observe

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def _rogue() -> Asset:
    return asset_observe(protocol="sparkplug", key="Plant1/Rogue", observed_at=T0).asset


def _accept(client, asset: Asset):
    return client.post(
        "/admin/inventory/asset/",
        {"action": "accept_into_baseline", "_selected_action": [asset.pk]},
        REMOTE_ADDR="10.1.2.3",
    )


def test_an_administrator_accepts_an_asset_into_the_baseline_and_it_is_audited(client, make_user):
    admin = make_user("ada", role=Role.ADMINISTRATOR)
    client.force_login(admin)
    asset = _rogue()

    response = _accept(client, asset)

    assert response.status_code == 302
    asset.refresh_from_db()
    assert asset.baseline_accepted_at is not None
    assert asset.baseline_accepted_by == admin
    event = AuditEvent.objects.get(action="asset_baseline_accept")
    assert (event.actor, event.target, event.remote_addr) == (admin, "MQTT Sparkplug B Plant1/Rogue", "10.1.2.3")
    assert event.details == {"asset": asset.pk, "protocol": "sparkplug", "key": "Plant1/Rogue"}

    assert "accepted into the baseline" in client.get("/inventory/").content.decode()
    body = client.get("/api/v1/assets/").json()
    rows = body["results"] if isinstance(body, dict) else body
    assert rows[0]["baseline_accepted_at"] is not None

    _accept(client, asset)  # already accepted: nothing new to audit
    assert AuditEvent.objects.filter(action="asset_baseline_accept").count() == 1


def test_an_engineer_cannot_accept_into_the_baseline(client, make_user):
    client.force_login(make_user("erik", role=Role.ENGINEER))
    asset = _rogue()

    page = client.get("/admin/inventory/asset/").content.decode()
    _accept(client, asset)

    assert "accept_into_baseline" not in page
    asset.refresh_from_db()
    assert asset.baseline_accepted_at is None
    assert not AuditEvent.objects.filter(action="asset_baseline_accept").exists()
