"""Fixtures of the ingest tests: an OPC UA device on the simulated plant's server, a machine to put tags on."""

import pytest

from historian.models import Device, Machine, Protocol
from tests.factories import DeviceFactory, MachineFactory


@pytest.fixture
def opcua_device(db, opcua_plant_server) -> Device:
    return DeviceFactory(name="Simulator OPC UA", protocol=Protocol.OPCUA, port=opcua_plant_server.port)


@pytest.fixture
def cnc(db) -> Machine:
    return MachineFactory(
        name="CNC 101", line__name="Line 1", line__area__name="Machining", line__area__site__name="Plant"
    )
