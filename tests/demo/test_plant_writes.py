"""The demo's writes: policies on every machine's speed setpoint, feed override and command register, writes enabled
on the demo devices by the demo admin (audited), so that the admin changes a setpoint from a machine page and the
simulated machine follows it."""

import pytest

from audit.models import AuditAction, AuditEvent
from demo.plant import DEMO_WRITE_POLICIES, demo_writes_load
from historian.models import ConfirmationMode, Device, Tag, WritePolicy
from ingest.services.writes import WriteState, tag_may_operate, tag_write_confirm, tag_write_request
from tests.factories import UserFactory


@pytest.fixture
def demo_admin(db):
    return UserFactory(username="admin", superuser=True)


def test_the_demo_machines_writable_tags_get_policies_and_the_devices_accept_writes(demo_plant, demo_admin):
    assert demo_writes_load(admin=demo_admin) == 6  # 2 machines x 3 writable signals
    assert demo_writes_load(admin=demo_admin) == 6  # again: the same, nothing doubled

    policies = {p.tag.path.rsplit(".", 1)[-1]: p for p in WritePolicy.objects.select_related("tag")}
    assert set(policies) == set(DEMO_WRITE_POLICIES)
    assert policies["speed_setpoint"].confirmation == ConfirmationMode.ARM
    assert policies["command"].confirmation == ConfirmationMode.ARM
    assert policies["speed_setpoint"].max_step is not None
    assert all(Device.objects.values_list("writes_enabled", flat=True))
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_WRITES_ENABLE, actor=demo_admin).count() == 1


def test_the_demo_admin_changes_a_setpoint_and_the_simulated_machine_follows(demo_plant, demo_admin, plant_server):
    demo_writes_load(admin=demo_admin)
    setpoint = Tag.objects.filter(path__endswith=".speed_setpoint").order_by("pk").first()
    assert tag_may_operate(user=demo_admin, tag=setpoint)
    simulated = next(iter(plant_server.plant.all_machines()))
    target = simulated.setpoint - 300 if simulated.setpoint > 1200 else simulated.setpoint + 300

    armed = tag_write_request(tag=setpoint, value=target, user=demo_admin)
    assert armed.state == WriteState.ARMED, armed.message
    done = tag_write_confirm(token=armed.token, user=demo_admin)

    assert done.confirmed, done.message
    assert simulated.operator_setpoint == pytest.approx(target)
