"""The demo's predictive maintenance: CNC 102's health model and the write policy of its maintenance command."""

import pytest

from demo.maintenance import SIGNALS, demo_maintenance_load
from historian.models import Device
from maintenance.models import HealthModel
from tests.factories import UserFactory


@pytest.fixture
def admin(db):
    return UserFactory(superuser=True)


def test_cnc_102_gets_a_health_model_and_a_maintenance_command_it_may_write(demo_plant, admin):
    model = demo_maintenance_load(admin=admin)

    assert model is not None
    assert model.machine.name == "CNC 102"
    assert sorted(t.path.rsplit(".", 1)[1] for t in model.signals.all()) == sorted(SIGNALS)
    assert model.current_version is None  # fitted from its first minutes of running
    assert model.score_tag is not None
    assert model.score_tag.device.protocol == "derived"
    assert model.maintenance_command_tag is not None
    assert (model.maintenance_command_tag.name, model.maintenance_command_value) == ("Command", 4.0)
    assert model.maintenance_command_tag.write_policy.confirmation == "direct"
    assert Device.objects.get(pk=model.maintenance_command_tag.device_id).writes_enabled


def test_loading_again_keeps_the_model(demo_plant, admin):
    first = demo_maintenance_load(admin=admin)
    assert demo_maintenance_load(admin=admin) == first
    assert HealthModel.objects.count() == 1
