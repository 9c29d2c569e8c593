"""Writing a tag under its write policy to a Sparkplug B edge node from this process, through a real
`manage.py run_sparkplug` holding the MQTT session (Mosquitto, the demo's edge node simulator): confirmed by the
edge node's echo and followed by the machine; with the runner stopped, a clear failure with nothing sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent
from demo.plant import demo_plant_load
from demo.simulator.plant import PlantSimulator
from historian.models import ConfirmationMode, Device, Protocol, Tag, WritePolicy
from historian.queries.history import current_values
from ingest.protocols.base import WriteStatus
from ingest.services.writes import WriteState, device_writes_set, tag_write_confirm, tag_write_request
from tests.manage_py import ManagePy
from tests.mqtt_broker import MosquittoBroker, broker_or_skip
from tests.simulated_plant import sparkplug_plant_edge
from tests.waiting import wait_until


@pytest.fixture
def broker(tmp_path) -> Iterator[MosquittoBroker]:
    with broker_or_skip(tmp_path) as server:
        yield server


@pytest.fixture
def plant_edge(broker: MosquittoBroker) -> Iterator[PlantSimulator]:
    """Line 1 of a plant as the demo simulator's Sparkplug edge node, the plant stepped in the same loop."""
    with sparkplug_plant_edge(host=broker.host, port=broker.port, seed=5) as plant:
        yield plant


@pytest.fixture
def run_sparkplug(transactional_db, settings) -> Iterator[ManagePy]:
    command = ManagePy(settings.REDIS_URL)
    yield command
    command.kill()


@pytest.mark.slow
def test_a_write_from_the_service_is_published_by_run_sparkplug_and_fails_clearly_once_it_stops(
    broker: MosquittoBroker, plant_edge: PlantSimulator, run_sparkplug: ManagePy, make_user
) -> None:
    admin = make_user("admin", role=Role.ADMINISTRATOR)
    demo_plant_load(lines=1, machines_per_line=2, sparkplug_broker=(broker.host, broker.port), sparkplug_line=1)
    device = Device.objects.get(protocol=Protocol.SPARKPLUG)
    device_writes_set(device=device, enabled=True, user=admin)
    setpoint = Tag.objects.filter(device=device, path__endswith=".speed_setpoint").order_by("pk").first()
    assert setpoint is not None
    WritePolicy.objects.create(tag=setpoint, min_value=0, max_value=3000, confirmation=ConfirmationMode.ARM)
    machine = plant_edge.machine(0, 0)

    run_sparkplug.start("run_sparkplug", "--flush-ms", "100")

    def setpoint_stored() -> bool:  # the runner has the edge node's birth (its values are in the historian)
        run_sparkplug.running()
        return setpoint.pk in current_values(tag_ids=[setpoint.pk])

    wait_until(setpoint_stored, timeout=40, what="the edge node's values stored by run_sparkplug", interval=0.3)

    armed = tag_write_request(tag=setpoint, value=1655.5, user=admin)
    assert armed.state == WriteState.ARMED, armed.message
    result = tag_write_confirm(token=armed.token, user=admin, timeout=5)

    assert result.confirmed, result.message
    assert result.outcome is not None
    assert result.outcome.read_back == pytest.approx(1655.5)
    assert machine.operator_setpoint == pytest.approx(1655.5)
    event = AuditEvent.objects.filter(action=AuditAction.PLC_WRITE).order_by("-id").first()
    assert event is not None
    assert (event.details["outcome"], event.details["read_back"], event.details["sent"]) == ("confirmed", 1655.5, True)
    assert event.details["old_value"] is not None  # the historian's current value: the edge node published it

    run_sparkplug.sigterm()
    armed = tag_write_request(tag=setpoint, value=1200, user=admin)
    failed = tag_write_confirm(token=armed.token, user=admin, timeout=5)

    assert failed.state == WriteState.EXECUTED
    assert failed.outcome is not None
    assert (failed.outcome.status, failed.outcome.sent) == (WriteStatus.FAILED, False)
    assert "no Sparkplug host (manage.py run_sparkplug) is connected" in failed.message
    assert machine.operator_setpoint == pytest.approx(1655.5)
    event = AuditEvent.objects.filter(action=AuditAction.PLC_WRITE).order_by("-id").first()
    assert event is not None
    assert (event.details["outcome"], event.details["sent"]) == ("failed", False)
