"""One open driver per device per worker process, re-created when the device's connection settings change."""

from historian.models import Device, Protocol
from ingest.protocols.base import Driver
from ingest.protocols.modbus.driver import ModbusTcpDriver
from ingest.protocols.opcua.driver import OpcUaDriver, OpcUaSettings

_drivers: dict[int, tuple[tuple, Driver]] = {}


def _signature(device: Device) -> tuple:
    return (
        device.protocol,
        device.host,
        device.port,
        device.unit_id,
        device.word_order,
        device.byte_order,
        device.max_gap_registers,
        device.max_gap_bits,
        device.timeout_seconds,
        *(_opcua_signature(device) if device.protocol == Protocol.OPCUA else ()),
    )


def _opcua_signature(device: Device) -> tuple:
    return (
        device.endpoint_url,
        device.security_policy,
        device.security_mode,
        device.client_certificate,
        device.client_private_key,
        device.server_certificate,
        device.username,
        device.password,
    )


def _build(device: Device) -> Driver:
    if device.protocol == Protocol.MODBUS:
        return ModbusTcpDriver(
            device.host,
            device.port,
            device.unit_id,
            timeout=device.timeout_seconds,
            word_order=device.word_order,
            byte_order=device.byte_order,
            max_gap_registers=device.max_gap_registers,
            max_gap_bits=device.max_gap_bits,
        )
    if device.protocol == Protocol.OPCUA:
        return OpcUaDriver(OpcUaSettings.from_device(device))
    raise ValueError(f"No driver for protocol {device.protocol!r}")


def driver_for(device: Device) -> Driver:
    signature = _signature(device)
    known = _drivers.get(device.pk)
    if known is not None:
        if known[0] == signature:
            return known[1]
        known[1].close()
    driver = _build(device)
    _drivers[device.pk] = (signature, driver)
    return driver


def drivers_close_all() -> None:
    """Close every connection of this process (worker shutdown, tests)."""
    while _drivers:
        _, (_, driver) = _drivers.popitem()
        driver.close()


def drivers_close(device_ids: set[int]) -> None:
    """Close the connections of these devices (a poller let them go)."""
    for device_id in device_ids:
        known = _drivers.pop(device_id, None)
        if known is not None:
            known[1].close()
