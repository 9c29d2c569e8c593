"""Polled devices identify themselves (Modbus FC 43/14) into the asset inventory, and a swapped PLC shows."""

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.simulator import DataType, SimData, SimDevice

from demo.simulator.modbus_server import PLANT_IDENTITY, ServerThread, serve_devices
from ingest.acquisition.poll import device_poll
from ingest.protocols.modbus.driver import ModbusTcpDriver
from inventory.models import Asset, AssetChange

pytestmark = pytest.mark.django_db


def _identified_server(port: int, identity: dict[str, str] | None) -> ServerThread:
    """A PLC answering FC 43/14 with `identity`; None: one that refuses it (illegal function), as many do."""

    def refuse_identification(sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending and pdu.function_code == 0x2B:
            return ExceptionResponse(
                0x2B, ExcCodes.ILLEGAL_FUNCTION, device_id=pdu.dev_id, transaction=pdu.transaction_id
            )
        return pdu

    async def serve(ready) -> None:
        device = SimDevice(id=1, simdata=[SimData(0, values=[0] * 200, datatype=DataType.REGISTERS)])
        trace = refuse_identification if identity is None else None
        await serve_devices([device], host="127.0.0.1", port=port, ready=ready, identity=identity, trace_pdu=trace)

    return ServerThread(serve)


def test_the_driver_reads_the_device_identification_objects():
    identity = {"VendorName": "Acme", "ProductCode": "PLC-9", "MajorMinorRevision": "4.2", "ModelName": "M9"}
    with _identified_server(0, identity) as server, ModbusTcpDriver(server.host, server.port, 1) as driver:
        assert driver.identify().fields == identity


def test_a_device_without_identification_says_nothing():
    with _identified_server(0, None) as server, ModbusTcpDriver(server.host, server.port, 1) as driver:
        assert driver.identify() is None


def test_a_poll_puts_the_device_in_the_inventory_with_its_identity(polling, device, scan_class, plant_server):
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    asset = Asset.objects.get(device=device)
    assert asset.protocol == "modbus"
    assert asset.key == f"{plant_server.host}:{plant_server.port}/{device.unit_id}"
    assert asset.identity == PLANT_IDENTITY
    assert asset.addresses == [f"{plant_server.host}:{plant_server.port}"]


def test_a_plc_swapped_behind_the_same_address_is_recorded_as_a_change(
    polling, settings, device, scan_class, plant_server
):
    settings.INVENTORY_IDENTIFY_SECONDS = 0  # ask at every poll
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    port = plant_server.port
    plant_server.stop()
    polling.close()  # the next poll connects afresh
    swapped = {"VendorName": "Other Vendor", "ProductCode": "X-1", "MajorMinorRevision": "9.0"}

    with _identified_server(port, swapped):
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    changes = {c.field: (c.before, c.after) for c in AssetChange.objects.filter(asset__device=device)}
    assert changes["identity.VendorName"] == ("Millwright Simulator", "Other Vendor")
    assert changes["identity.ProductCode"] == ("MW-SIM-PLC", "X-1")
    assert changes["identity.ProductName"] == ("Simulated line PLC", "")
    assert Asset.objects.get(device=device).identity == swapped
