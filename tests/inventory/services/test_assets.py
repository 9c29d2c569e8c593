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


@pytest.fixture
def reported():
    """The security events the inventory reports (after commit), as any receiver would hear them."""
    from inventory.security_events import security_event

    events: list = []

    def hear(sender, event, **kwargs) -> None:
        events.append(event)

    security_event.connect(hear, dispatch_uid="tests.inventory.reported")
    yield events
    security_event.disconnect(dispatch_uid="tests.inventory.reported")


def test_a_changed_identity_or_certificate_is_a_security_event_with_before_and_after(
    reported, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _observe(identity=PLC, certificate_thumbprint="ab" * 32)
        _observe(
            identity=PLC | {"ProductCode": "PLC-X"},
            certificate_thumbprint="cd" * 32,
            observed_at=T0 + timedelta(hours=1),
        )

    kinds = {e.kind: e for e in reported}
    assert set(kinds) == {"identity_changed", "certificate_changed"}
    identity = kinds["identity_changed"]
    assert identity.evidence["changes"] == {"ProductCode": {"before": "PLC-9", "after": "PLC-X"}}
    assert identity.subject == f"asset:{Asset.objects.get().pk}"
    assert identity.at == T0 + timedelta(hours=1)
    certificate = kinds["certificate_changed"]
    assert (certificate.evidence["before_sha256"], certificate.evidence["after_sha256"]) == ("ab" * 32, "cd" * 32)


def test_first_sight_a_first_learned_identity_and_a_new_address_are_no_security_event(
    reported, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _observe()  # seen without identity or certificate
        _observe(identity=PLC, certificate_thumbprint="ab" * 32, observed_at=T0 + timedelta(minutes=1))  # learned
        _observe(identity=PLC, addresses=["10.0.0.6:502"], observed_at=T0 + timedelta(minutes=2))  # one more address

    assert AssetChange.objects.count() == len(PLC) + 2  # recorded as changes all the same
    assert reported == []
    assert callbacks == []
