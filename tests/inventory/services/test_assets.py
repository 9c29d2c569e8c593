"""Recording asset observations: the first sighting, then only real changes, field by field."""

from datetime import UTC, datetime, timedelta

import pytest

from inventory.models import Asset, AssetChange
from inventory.services.assets import asset_observe

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
PLC = {"VendorName": "Acme", "ProductCode": "PLC-9", "MajorMinorRevision": "4.2"}


def _observe(**kwargs):
    defaults = {"protocol": "modbus", "key": "10.0.0.5:502/1", "observed_at": T0, "addresses": ["10.0.0.5:502"]}
    return asset_observe(**(defaults | kwargs))


def test_the_first_sighting_creates_the_asset_and_is_not_a_change():
    observed = _observe(identity=PLC, certificate_thumbprint="ab" * 32)

    assert observed.created
    assert observed.changes == []
    asset = Asset.objects.get()
    assert (asset.identity, asset.first_seen, asset.last_seen) == (PLC, T0, T0)
    assert asset.changed_at is None


def test_seeing_the_same_asset_again_only_moves_last_seen():
    _observe(identity=PLC)
    observed = _observe(identity=PLC, observed_at=T0 + timedelta(minutes=10))

    assert observed.changes == []
    assert Asset.objects.get().last_seen == T0 + timedelta(minutes=10)
    assert not AssetChange.objects.exists()


def test_a_new_firmware_is_recorded_field_by_field():
    _observe(identity=PLC)
    later = T0 + timedelta(hours=1)

    observed = _observe(identity=PLC | {"MajorMinorRevision": "4.3", "ModelName": "M9"}, observed_at=later)

    assert sorted((c.field, c.before, c.after) for c in observed.changes) == [
        ("identity.MajorMinorRevision", "4.2", "4.3"),
        ("identity.ModelName", "", "M9"),
    ]
    asset = Asset.objects.get()
    assert asset.changed_at == later
    assert asset.identity["MajorMinorRevision"] == "4.3"
    assert AssetChange.objects.count() == 2


def test_an_unanswered_identification_keeps_what_is_known():
    _observe(identity=PLC)

    observed = _observe(identity=None, observed_at=T0 + timedelta(minutes=10))

    assert observed.changes == []
    assert Asset.objects.get().identity == PLC


def test_a_new_certificate_and_a_new_address_are_changes():
    _observe(certificate_thumbprint="ab" * 32)

    observed = _observe(
        certificate_thumbprint="cd" * 32, addresses=["10.0.0.9:502"], observed_at=T0 + timedelta(minutes=1)
    )

    assert sorted(c.field for c in observed.changes) == ["addresses", "certificate_thumbprint"]
    asset = Asset.objects.get()
    assert asset.certificate_thumbprint == "cd" * 32
    assert asset.addresses == ["10.0.0.5:502", "10.0.0.9:502"]
