"""Writing a tag under its write policy to an OPC UA device: the real asyncua plant simulator follows the setpoint,
read back; the step rule measured from the value the service reads over OPC UA."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent
from demo.plant import demo_plant_load
from demo.simulator.opcua_server import OpcUaPlantServerThread
from demo.simulator.plant import PlantSimulator
from historian.models import ConfirmationMode, Device, Protocol, Tag, WritePolicy
from ingest.services.writes import WriteRule, WriteState, device_writes_set, tag_write_confirm, tag_write_request
from tests.opcua_fixtures import START_TIMEOUT


@pytest.fixture(scope="module")
def server() -> Iterator[OpcUaPlantServerThread]:
    """A plant of its own: these tests change its machines."""
    srv = OpcUaPlantServerThread(PlantSimulator(lines=1, machines_per_line=2, seed=11), tick_seconds=0.2)
    srv.start(timeout=START_TIMEOUT)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def admin(make_user):
    return make_user("admin", role=Role.ADMINISTRATOR)


@pytest.fixture
def setpoint(db, server, admin) -> Tag:
    demo_plant_load(lines=1, machines_per_line=2, opcua_port=server.port)
    device = Device.objects.get(protocol=Protocol.OPCUA)
    device_writes_set(device=device, enabled=True, user=admin)
    return Tag.objects.filter(device=device, path__endswith=".speed_setpoint").order_by("pk").first()


def test_an_armed_write_to_an_opcua_device_is_confirmed_and_the_machine_holds_it(server, setpoint, admin):
    WritePolicy.objects.create(tag=setpoint, min_value=0, max_value=3000, confirmation=ConfirmationMode.ARM)

    armed = tag_write_request(tag=setpoint, value=1850.5, user=admin)
    assert armed.state == WriteState.ARMED, armed.message
    result = tag_write_confirm(token=armed.token, user=admin)

    assert result.confirmed, result.message
    assert server.plant.machine(0, 0).operator_setpoint == 1850.5
    event = AuditEvent.objects.order_by("-id").first()
    assert event.action == AuditAction.PLC_WRITE
    assert (event.details["read_back"], event.details["outcome"]) == (1850.5, "confirmed")
    assert event.details["old_value"] is not None


def test_the_step_rule_uses_the_value_read_over_opcua(server, setpoint, admin):
    policy = WritePolicy.objects.create(tag=setpoint, min_value=0, max_value=3000, confirmation="direct")
    assert tag_write_request(tag=setpoint, value=1000, user=admin).confirmed
    policy.max_step = 100
    policy.save()

    refused = tag_write_request(tag=setpoint, value=1101, user=admin)

    assert refused.rule == WriteRule.STEP, refused.message
    assert server.plant.machine(0, 0).operator_setpoint == 1000
    assert tag_write_request(tag=setpoint, value=1099, user=admin).confirmed
