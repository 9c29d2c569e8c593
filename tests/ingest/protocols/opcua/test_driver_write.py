"""OpcUaDriver.write against the simulated plant's asyncua server: typed writes read back, refusals, security."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from demo.simulator.opcua_server import OpcUaPlantServerThread, opcua_signal_node_id
from demo.simulator.plant import MachineCommand, MachineState
from ingest.protocols.base import PointRequest, WriteStatus
from ingest.protocols.opcua.driver import OpcUaDriver, OpcUaSettings
from tests.opcua_fixtures import OPCUA_PASSWORD, OPCUA_USER, opcua_plant_serving
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def server() -> Iterator[OpcUaPlantServerThread]:
    """A plant of its own: these tests change its machines."""
    with opcua_plant_serving(seed=9) as srv:
        yield srv


@pytest.fixture
def driver(server: OpcUaPlantServerThread) -> Iterator[OpcUaDriver]:
    with OpcUaDriver(OpcUaSettings(endpoint=server.endpoint, timeout=2.0)) as drv:
        yield drv


def _point(signal: str, data_type: str, *, machine: int = 0, **kwargs: float) -> PointRequest:
    return PointRequest(1, opcua_signal_node_id(0, machine, signal), data_type, **kwargs)


def test_a_setpoint_is_written_as_the_node_type_and_read_back(driver: OpcUaDriver, server: OpcUaPlantServerThread):
    outcome = driver.write(_point("speed_setpoint", "float32"), 2222.5, timeout=2.0)

    assert outcome.status == WriteStatus.CONFIRMED, outcome
    assert outcome.sent
    assert outcome.read_back == 2222.5
    assert server.plant.machine(0, 0).setpoint == 2222.5


def test_scaling_is_undone_before_the_typed_write(driver: OpcUaDriver, server: OpcUaPlantServerThread) -> None:
    # A tag in per mille of full feed: 800 per mille is 80 % on the node (UInt16).
    outcome = driver.write(_point("feed_override", "float64", scale=10.0), 800, timeout=2.0)

    assert outcome.status == WriteStatus.CONFIRMED, outcome
    assert outcome.written == 80
    assert outcome.read_back == 800
    assert server.plant.machine(0, 0).feed_override == 80


def test_a_stop_command_drives_the_machine_idle(driver: OpcUaDriver) -> None:
    assert driver.write(_point("command", "uint16", machine=1), MachineCommand.STOP, timeout=2.0).confirmed

    wait_until(
        lambda: driver.read([_point("state", "uint16", machine=1)])[0].value == MachineState.IDLE,
        timeout=10,
        what="the machine idle",
    )


@pytest.mark.parametrize(
    ("point", "value", "error"),
    [
        (_point("feed_override", "float64"), 70000, "out of range for an UInt16"),
        (_point("feed_override", "float64"), 12.5, "would be rounded"),
        (_point("speed_setpoint", "string"), "fast", "cannot be written to a node of DataType Float"),
        (_point("speed_setpoint", "float64"), 1e39, "beyond the range of a Float"),
    ],
)
def test_a_value_that_does_not_convert_to_the_node_type_is_refused_unsent(
    driver: OpcUaDriver, server: OpcUaPlantServerThread, point: PointRequest, value: object, error: str
) -> None:
    before = server.plant.machine(0, 0).values()

    outcome = driver.write(point, value, timeout=1.0)  # type: ignore[arg-type]

    assert outcome.status == WriteStatus.FAILED
    assert not outcome.sent
    assert error in outcome.error
    after = server.plant.machine(0, 0).values()
    assert (after["feed_override"], after["speed_setpoint"]) == (before["feed_override"], before["speed_setpoint"])


def test_a_read_only_variable_is_a_failed_write_naming_the_server_status(driver: OpcUaDriver) -> None:
    outcome = driver.write(_point("spindle_speed", "float32"), 100.0, timeout=1.0)

    assert outcome.status == WriteStatus.FAILED
    assert outcome.sent
    assert "BadNotWritable" in outcome.error or "BadUserAccessDenied" in outcome.error


def test_a_setpoint_the_machine_clamps_is_mismatched(driver: OpcUaDriver) -> None:
    outcome = driver.write(_point("speed_setpoint", "float32", machine=1), 9000.0, timeout=0.5)

    assert outcome.status == WriteStatus.MISMATCHED
    assert outcome.read_back == 3600.0
    assert "holds 3600" in outcome.error


def test_a_write_over_a_secure_channel_with_a_user_login(opcua_secure_server, opcua_client_pki) -> None:
    certificate, key = opcua_client_pki
    settings = OpcUaSettings(
        endpoint=opcua_secure_server.endpoint,
        security_policy="Basic256Sha256",
        security_mode="SignAndEncrypt",
        client_certificate=str(certificate),
        client_private_key=str(key),
        server_certificate=str(opcua_secure_server.certificate_path),
        username=OPCUA_USER,
        password=OPCUA_PASSWORD,
    )
    point = _point("feed_override", "uint16", machine=1)
    with OpcUaDriver(settings) as driver:
        before = driver.read([point])[0].value
        outcome = driver.write(point, 95, timeout=2.0)
        assert driver.write(point, before, timeout=2.0).confirmed  # the session's plant as it was

    assert outcome.status == WriteStatus.CONFIRMED, outcome
