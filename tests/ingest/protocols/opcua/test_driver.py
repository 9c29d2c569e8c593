"""OpcUaDriver against real asyncua servers on loopback: data types, status codes, security, restarts."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import pytest
from asyncua import Server, ua

from common.net import free_port
from demo.simulator.modbus_server import ReadyCallback, ServerThread
from demo.simulator.opcua_server import SIMULATOR_NAMESPACE, opcua_signal_node_id
from historian.quality import Quality
from ingest.protocols.base import DeviceUnreachable, PointRequest
from ingest.protocols.opcua.driver import OpcUaDriver, OpcUaSettings, status_quality
from tests.opcua_fixtures import OPCUA_PASSWORD, OPCUA_USER, START_TIMEOUT
from tests.simulated_plant import plant_simulator

NS_URI = "urn:millwright:test:types"

#: name -> (variant type, value written, status code)
TYPED_NODES: dict[str, tuple[ua.VariantType, object, int]] = {
    "Bool": (ua.VariantType.Boolean, True, ua.StatusCodes.Good),
    "SByte": (ua.VariantType.SByte, -7, ua.StatusCodes.Good),
    "Byte": (ua.VariantType.Byte, 200, ua.StatusCodes.Good),
    "Int16": (ua.VariantType.Int16, -1234, ua.StatusCodes.Good),
    "UInt16": (ua.VariantType.UInt16, 54321, ua.StatusCodes.Good),
    "Int32": (ua.VariantType.Int32, -123456789, ua.StatusCodes.Good),
    "UInt32": (ua.VariantType.UInt32, 3_000_000_000, ua.StatusCodes.Good),
    "Int64": (ua.VariantType.Int64, -(2**40), ua.StatusCodes.Good),
    "UInt64": (ua.VariantType.UInt64, 2**50, ua.StatusCodes.Good),
    "Float": (ua.VariantType.Float, 3.5, ua.StatusCodes.Good),
    "Double": (ua.VariantType.Double, -2.718281828459045, ua.StatusCodes.Good),
    "NaN": (ua.VariantType.Double, math.nan, ua.StatusCodes.Good),
    "Text": (ua.VariantType.String, "not a number", ua.StatusCodes.Good),
    "Uncertain": (ua.VariantType.Double, 42.0, ua.StatusCodes.UncertainLastUsableValue),
    "UncertainOther": (ua.VariantType.Double, 43.0, ua.StatusCodes.UncertainEngineeringUnitsExceeded),
    "OutOfService": (ua.VariantType.Double, 0.0, ua.StatusCodes.BadOutOfService),
    "CommFailure": (ua.VariantType.Double, 0.0, ua.StatusCodes.BadCommunicationError),
    "NotConnected": (ua.VariantType.Double, 0.0, ua.StatusCodes.BadNotConnected),
    "SensorFailure": (ua.VariantType.Double, 0.0, ua.StatusCodes.BadSensorFailure),
    "OtherBad": (ua.VariantType.Double, 0.0, ua.StatusCodes.BadInternalError),
}


class TypedServer(ServerThread):
    """An asyncua server with one variable per TYPED_NODES entry at ns=2;s=<name>."""

    def __init__(self) -> None:
        self._port = free_port()

        async def serve(ready: ReadyCallback) -> None:
            server = Server()
            await server.init()
            server.set_endpoint(f"opc.tcp://127.0.0.1:{self._port}/")
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            ns = await server.register_namespace(NS_URI)
            folder = await server.nodes.objects.add_folder(ua.NodeId("Types", ns), ua.QualifiedName("Types", ns))
            for name, (kind, value, status) in TYPED_NODES.items():
                node = await folder.add_variable(ua.NodeId(name, ns), name, ua.Variant(value, kind), varianttype=kind)
                if status != ua.StatusCodes.Good:
                    dv = ua.DataValue(ua.Variant(value, kind), StatusCode=ua.StatusCode(status))
                    await server.write_attribute_value(node.nodeid, dv)
            await server.start()
            try:
                ready(("127.0.0.1", self._port))
                await asyncio.Event().wait()
            finally:
                await server.stop()

        super().__init__(serve, name="opcua-typed-server")


@pytest.fixture(scope="module")
def typed_server() -> Iterator[TypedServer]:
    server = TypedServer().start(timeout=START_TIMEOUT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def typed_driver(typed_server) -> Iterator[OpcUaDriver]:
    with OpcUaDriver(OpcUaSettings(endpoint=f"opc.tcp://127.0.0.1:{typed_server.port}/", timeout=2)) as driver:
        yield driver


def _point(tag_id: int, name: str, data_type: str = "float64", **kw) -> PointRequest:
    return PointRequest(tag_id, f"ns=2;s={name}", data_type, **kw)


def test_opcua_driver_reads_every_numeric_data_type_in_one_batch(typed_driver):
    names = ["Bool", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float", "Double"]
    points = [_point(i, name) for i, name in enumerate(names)]

    readings = typed_driver.read(points)

    assert [r.tag_id for r in readings] == list(range(len(names)))
    assert all(r.quality == Quality.GOOD for r in readings)
    expected = [1.0, -7.0, 200.0, -1234.0, 54321.0, -123456789.0, 3e9, float(-(2**40)), float(2**50), 3.5]
    assert [r.value for r in readings[:-1]] == expected
    assert readings[-1].value == pytest.approx(-2.718281828459045)


def test_opcua_driver_applies_scale_and_offset(typed_driver):
    (reading,) = typed_driver.read([_point(1, "Int16", "int16", scale=0.1, offset=5)])
    assert reading.value == pytest.approx(-1234 * 0.1 + 5)


@pytest.mark.parametrize(
    ("name", "quality", "has_value"),
    [
        ("Uncertain", Quality.UNCERTAIN_LAST_USABLE, True),
        ("UncertainOther", Quality.UNCERTAIN, True),
        ("OutOfService", Quality.BAD_OUT_OF_SERVICE, False),
        ("CommFailure", Quality.BAD_COMM_FAILURE, False),
        ("NotConnected", Quality.BAD_COMM_FAILURE, False),
        ("SensorFailure", Quality.BAD_SENSOR_FAILURE, False),
        ("OtherBad", Quality.BAD, False),
        ("Missing", Quality.BAD_CONFIG_ERROR, False),  # BadNodeIdUnknown
        ("Text", Quality.BAD_CONFIG_ERROR, False),  # a string is no number
        ("NaN", Quality.BAD_SENSOR_FAILURE, False),
    ],
)
def test_opcua_driver_maps_status_codes_to_quality(typed_driver, name, quality, has_value):
    (reading,) = typed_driver.read([_point(7, name)])
    assert reading.quality == quality
    assert (reading.value is not None) == has_value


def test_opcua_driver_gives_config_error_for_bad_address_and_unknown_namespace_uri(typed_driver):
    readings = typed_driver.read(
        [
            PointRequest(1, "HR100", "float32"),
            PointRequest(2, "nsu=urn:nobody:here;s=Double", "float64"),
            PointRequest(3, f"nsu={NS_URI};s=Double", "float64"),
        ]
    )
    assert [r.quality for r in readings] == [Quality.BAD_CONFIG_ERROR, Quality.BAD_CONFIG_ERROR, Quality.GOOD]
    assert readings[2].value == pytest.approx(-2.718281828459045)


def test_status_quality_maps_good_uncertain_and_bad_families():
    assert status_quality(0) == Quality.GOOD
    assert status_quality(ua.StatusCodes.GoodClamped) == Quality.GOOD
    assert status_quality(ua.StatusCodes.UncertainInitialValue) == Quality.UNCERTAIN
    assert status_quality(ua.StatusCodes.BadNodeIdUnknown) == Quality.BAD_CONFIG_ERROR
    assert status_quality(ua.StatusCodes.BadNotConnected) == Quality.BAD_COMM_FAILURE
    assert status_quality(ua.StatusCodes.BadOutOfService) == Quality.BAD_OUT_OF_SERVICE
    assert status_quality(ua.StatusCodes.BadTimeout) == Quality.BAD


def test_opcua_driver_reads_the_simulated_plant(opcua_plant_server):
    plant_machine = opcua_plant_server.plant.machine(0, 1)
    with OpcUaDriver(OpcUaSettings(endpoint=opcua_plant_server.endpoint)) as driver:
        readings = driver.read(
            [
                PointRequest(1, opcua_signal_node_id(0, 1, "part_count"), "uint32"),
                PointRequest(2, f"nsu={SIMULATOR_NAMESPACE};s=Line1.CNC102.running", "bool"),
            ]
        )
    assert all(r.quality == Quality.GOOD for r in readings)
    # Counters only grow: the value read lies between the start and the plant's count now.
    assert 0 < readings[0].value <= plant_machine.part_count
    assert readings[1].value in (0.0, 1.0)


def test_opcua_driver_unreachable_server_raises_device_unreachable():
    driver = OpcUaDriver(OpcUaSettings(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/", timeout=1))
    with pytest.raises(DeviceUnreachable, match="cannot connect to OPC UA server"):
        driver.read([PointRequest(1, "ns=2;s=X", "float64")])
    assert not driver.connected
    driver.close()


def _secure_settings(server, pki, *, mode="SignAndEncrypt", password=OPCUA_PASSWORD, pin=True) -> OpcUaSettings:
    cert, key = pki
    return OpcUaSettings(
        endpoint=server.endpoint,
        security_policy="Basic256Sha256",
        security_mode=mode,
        client_certificate=str(cert),
        client_private_key=str(key),
        server_certificate=str(server.certificate_path) if pin else "",
        username=OPCUA_USER,
        password=password,
    )


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
def test_opcua_driver_reads_over_basic256sha256_with_user_login(opcua_secure_server, opcua_client_pki, mode):
    with OpcUaDriver(_secure_settings(opcua_secure_server, opcua_client_pki, mode=mode)) as driver:
        (reading,) = driver.read([PointRequest(1, opcua_signal_node_id(0, 0, "speed_setpoint"), "float32")])
    assert reading.quality == Quality.GOOD
    assert reading.value > 0


def test_opcua_driver_trusts_the_endpoint_certificate_when_none_is_pinned(opcua_secure_server, opcua_client_pki):
    with OpcUaDriver(_secure_settings(opcua_secure_server, opcua_client_pki, pin=False)) as driver:
        (reading,) = driver.read([PointRequest(1, opcua_signal_node_id(0, 0, "state"), "uint16")])
    assert reading.quality == Quality.GOOD


def test_opcua_driver_wrong_password_is_a_clear_error(opcua_secure_server, opcua_client_pki):
    driver = OpcUaDriver(_secure_settings(opcua_secure_server, opcua_client_pki, password="wrong"))
    with pytest.raises(DeviceUnreachable, match=r"rejected the login of user 'operator': wrong user name or password"):
        driver.read([PointRequest(1, opcua_signal_node_id(0, 0, "state"), "uint16")])
    driver.close()


def test_opcua_driver_without_security_is_refused_by_a_secure_only_server(opcua_secure_server):
    driver = OpcUaDriver(OpcUaSettings(endpoint=opcua_secure_server.endpoint, username=OPCUA_USER, password="x"))
    with pytest.raises(DeviceUnreachable, match="offers no endpoint with security policy None and mode None"):
        driver.read([PointRequest(1, opcua_signal_node_id(0, 0, "state"), "uint16")])
    driver.close()


def test_opcua_driver_missing_certificate_file_is_a_clear_error(opcua_secure_server, opcua_client_pki, tmp_path):
    settings = _secure_settings(opcua_secure_server, (tmp_path / "nope.der", opcua_client_pki[1]))
    driver = OpcUaDriver(settings)
    with pytest.raises(DeviceUnreachable, match=r"nope\.der' does not exist"):
        driver.connect()
    driver.close()


@pytest.mark.slow
def test_opcua_driver_reconnects_after_server_restart():
    from demo.simulator.opcua_server import OpcUaPlantServerThread

    server = OpcUaPlantServerThread(plant_simulator(lines=1, machines_per_line=1), tick_seconds=0.2).start()
    point = PointRequest(1, opcua_signal_node_id(0, 0, "state"), "uint16")
    driver = OpcUaDriver(OpcUaSettings(endpoint=server.endpoint, timeout=1))
    try:
        assert driver.read([point])[0].quality == Quality.GOOD
        server.stop()
        with pytest.raises(DeviceUnreachable):
            driver.read([point])
        assert not driver.connected
        server.start()
        assert driver.read([point])[0].quality == Quality.GOOD
        assert driver.connected
    finally:
        driver.close()
        server.stop()


async def test_opcua_subscription_applies_the_absolute_deadband_on_the_server(opcua_plant_server):
    from ingest.protocols.opcua.driver import MonitoredPoint, OpcUaSubscription

    node = opcua_signal_node_id(0, 0, "motor_current")  # noisy: changes on every simulator tick
    received: dict[int, list[float | None]] = {1: [], 2: []}
    statuses: list[bool] = []
    enough = asyncio.Event()

    def on_readings(batch) -> None:
        for _, reading in batch:
            received[reading.tag_id].append(reading.value)
        if len(received[1]) >= 5:
            enough.set()

    subscription = OpcUaSubscription(
        OpcUaSettings(endpoint=opcua_plant_server.endpoint),
        [
            MonitoredPoint(PointRequest(1, node, "float32"), sampling_ms=100),
            MonitoredPoint(PointRequest(2, node, "float32"), sampling_ms=100, deadband=1e6),
        ],
        publishing_interval_ms=100,
        on_readings=on_readings,
        on_status=lambda status: statuses.append(status.ok),
    )
    task = asyncio.create_task(subscription.run())
    try:
        await asyncio.wait_for(enough.wait(), 20)
    finally:
        subscription.stop()
        await task
    assert statuses == [True]
    assert len(received[2]) == 1  # the first value only: no later change exceeds the deadband
    assert received[2][0] is not None


def test_opcua_driver_with_only_invalid_addresses_reads_nothing_and_stays_up(typed_driver):
    readings = typed_driver.read([PointRequest(1, "HR1", "float32"), PointRequest(2, "ns=2;q=1", "float64")])
    assert [r.quality for r in readings] == [Quality.BAD_CONFIG_ERROR, Quality.BAD_CONFIG_ERROR]
    assert "is not an OPC UA node id" in readings[0].reason
    assert "unknown identifier type" in readings[1].reason


def test_a_string_tag_reads_a_string_variable_as_text_and_refuses_a_number(typed_driver):
    text, number = typed_driver.read([_point(1, "Text", "string", scale=10.0), _point(2, "Double", "string")])
    assert (text.value, text.quality) == ("not a number", Quality.GOOD)  # scale does not apply to text
    assert (number.value, number.quality) == (None, Quality.BAD_CONFIG_ERROR)
    assert "is not a string" in number.reason


@pytest.mark.parametrize("source_timestamps", [True, False])
async def test_opcua_subscription_stamps_at_source_time_or_at_arrival(source_timestamps):
    from datetime import UTC, datetime, timedelta

    from ingest.protocols.opcua.driver import MonitoredPoint, OpcUaSubscription
    from tests.opcua_fixtures import OpcUaVariablesServer

    uri = "urn:millwright:test:stamps"
    source = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    got: list[datetime] = []
    arrived = asyncio.Event()

    def on_readings(batch) -> None:
        got.extend(at for at, reading in batch if reading.value == 7.5)
        if got:
            arrived.set()

    with OpcUaVariablesServer({"Level": (uri, 0.0, ua.VariantType.Double)}, namespaces=[uri]) as server:
        server.write("Level", 7.5, ua.VariantType.Double, source_timestamp=source)
        subscription = OpcUaSubscription(
            OpcUaSettings(endpoint=server.endpoint),
            [MonitoredPoint(PointRequest(1, f"nsu={uri};s=Level", "float64"), sampling_ms=100)],
            publishing_interval_ms=100,
            on_readings=on_readings,
            on_status=lambda status: None,
            source_timestamps=source_timestamps,
        )
        before = datetime.now(UTC)
        task = asyncio.create_task(subscription.run())
        try:
            await asyncio.wait_for(arrived.wait(), 30)
        finally:
            subscription.stop()
            await task
    if source_timestamps:
        assert got[0] == source
    else:
        assert got[0] >= before


def test_opcua_driver_identifies_the_server_by_its_build_info(opcua_plant_server):
    with OpcUaDriver(OpcUaSettings(endpoint=opcua_plant_server.endpoint)) as driver:
        identity = driver.identify()

    assert identity is not None
    assert identity.fields["ProductUri"]  # asyncua fills BuildInfo in: what a real server says of itself
    assert identity.fields["SoftwareVersion"]
    assert identity.certificate_thumbprint is None  # an unsecured server offers no certificate


def test_opcua_driver_identifies_a_secure_server_by_its_certificate_thumbprint(opcua_secure_server, opcua_client_pki):
    import hashlib

    with OpcUaDriver(_secure_settings(opcua_secure_server, opcua_client_pki)) as driver:
        identity = driver.identify()

    expected = hashlib.sha256(opcua_secure_server.certificate_path.read_bytes()).hexdigest()
    assert identity is not None
    assert identity.certificate_thumbprint == expected
