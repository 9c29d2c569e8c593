"""The simulated plant over OPC UA: address space, values, security, the command line serving both protocols."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from asyncua import Client, ua

from demo.simulator.modbus_server import ServerBindError
from demo.simulator.opcua_server import (
    SIMULATOR_NAMESPACE,
    VARIANT_TYPES,
    OpcUaPlantServerThread,
    opcua_signal_node_id,
)
from demo.simulator.plant import MACHINE_SIGNALS, SIGNALS_BY_NAME, PlantSimulator, machine_tag_address
from historian.quality import Quality
from ingest.protocols.base import PointRequest
from ingest.protocols.modbus.driver import ModbusTcpDriver
from ingest.protocols.opcua.driver import OpcUaDriver, OpcUaSettings

PROJECT_ROOT = Path(__file__).resolve().parents[3]


async def test_address_space_has_plant_line_machine_and_typed_signals(opcua_plant_server):
    async with Client(opcua_plant_server.endpoint) as client:
        ns = await client.get_namespace_index(SIMULATOR_NAMESPACE)
        assert ns == 2
        machine = await client.nodes.objects.get_child([f"{ns}:Plant", f"{ns}:Line 1", f"{ns}:CNC 101"])
        variables = {(await v.read_browse_name()).Name: v for v in await machine.get_variables()}
        assert set(variables) == {spec.name for spec in MACHINE_SIGNALS}
        for spec in MACHINE_SIGNALS:
            variant = (await variables[spec.name].read_data_value()).Value
            assert variant.VariantType == VARIANT_TYPES[spec.data_type], spec.name
        units = await client.get_node(opcua_signal_node_id(0, 0, "motor_temperature")).get_child("0:EngineeringUnits")
        assert (await units.read_value()).DisplayName.Text == SIGNALS_BY_NAME["motor_temperature"].units
        eu_range = await client.get_node(opcua_signal_node_id(0, 0, "vibration_rms")).get_child("0:EURange")
        value = await eu_range.read_value()
        assert (value.Low, value.High) == SIGNALS_BY_NAME["vibration_rms"].span


def test_opcua_and_modbus_serve_the_same_plant_values():
    """Modbus and OPC UA servers on one plant object: the same counter reads the same over both."""
    from demo.simulator.modbus_server import PlantServerThread

    plant = PlantSimulator(lines=1, machines_per_line=1, seed=11)
    # Slow ticks: both reads fall between two refreshes.
    with (
        PlantServerThread(plant, tick_seconds=3600) as modbus,
        OpcUaPlantServerThread(plant, tick_seconds=3600) as opcua,
        ModbusTcpDriver("127.0.0.1", modbus.port, 1) as modbus_driver,
        OpcUaDriver(OpcUaSettings(endpoint=opcua.endpoint)) as opcua_driver,
    ):
        spec = SIGNALS_BY_NAME["good_parts"]
        (over_modbus,) = modbus_driver.read([PointRequest(1, machine_tag_address(0, spec), spec.data_type)])
        (over_opcua,) = opcua_driver.read([PointRequest(1, opcua_signal_node_id(0, 0, spec.name), spec.data_type)])
    assert over_modbus.quality == over_opcua.quality == Quality.GOOD
    assert over_modbus.value == over_opcua.value == plant.machine(0, 0).good_parts


def test_secure_server_offers_only_basic256sha256_endpoints(opcua_secure_server):
    async def endpoints():
        client = Client(opcua_secure_server.endpoint)
        return await client.connect_and_get_server_endpoints()

    found = asyncio.run(endpoints())
    assert {(e.SecurityPolicyUri.rsplit("#", 1)[-1], e.SecurityMode) for e in found} == {
        ("Basic256Sha256", ua.MessageSecurityMode.Sign),
        ("Basic256Sha256", ua.MessageSecurityMode.SignAndEncrypt),
    }
    assert opcua_secure_server.certificate_path.is_file()


def test_opcua_port_in_use_is_a_clear_error():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(ServerBindError, match=f"cannot listen on 127.0.0.1:{port}: .*in use"):
            OpcUaPlantServerThread(PlantSimulator(1, 1), port=port).start()


def test_command_line_serves_modbus_and_opcua_until_sigterm(simulator, tmp_path):
    proc = simulator(
        *("--port", "0", "--opcua-port", "0", "--lines", "1", "--machines-per-line", "1"),
        *("--opcua-cert-dir", str(tmp_path)),
    )
    assert proc.stderr is not None
    lines = [proc.stderr.readline(), proc.stderr.readline()]
    opcua = next(re.search(r"over OPC UA: (opc\.tcp://127\.0\.0\.1:\d+/)", line) for line in lines if "OPC" in line)
    assert opcua, lines
    with OpcUaDriver(OpcUaSettings(endpoint=opcua[1])) as driver:
        (reading,) = driver.read([PointRequest(1, opcua_signal_node_id(0, 0, "state"), "uint16")])
    assert reading.quality == Quality.GOOD
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def test_command_line_refuses_an_unknown_security_mode():
    proc = subprocess.run(
        [sys.executable, "-m", "demo.simulator", "--opcua-port", "0", "--opcua-security", "Encrypt"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "--opcua-security takes None, Sign and/or SignAndEncrypt" in proc.stderr
