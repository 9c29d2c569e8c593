"""DriverRegistry: one open driver per device, re-created when the device's connection settings change.

A poller owns one registry (through ingest.acquisition.poll.Polling) and closes what it holds when it lets devices
go; a test makes its own. There is no process-wide registry: two pollers never share a connection.
"""

import threading

from historian.models import Device, Protocol
from ingest.protocols.base import Driver
from ingest.protocols.modbus.driver import ModbusTcpDriver
from ingest.protocols.opcua.driver import OpcUaDriver, OpcUaSettings


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


class DriverRegistry:
    """The open drivers of one poller, by device. A device is polled by one thread at a time (the poller's lease),
    so a driver is never used by two threads at once; the lock only guards the mapping itself."""

    def __init__(self) -> None:
        self._drivers: dict[int, tuple[tuple, Driver]] = {}
        self._lock = threading.Lock()

    def driver_for(self, device: Device) -> Driver:
        signature = _signature(device)
        known = self._drivers.get(device.pk)
        if known is not None:
            if known[0] == signature:
                return known[1]
            known[1].close()
        driver = _build(device)
        with self._lock:
            self._drivers[device.pk] = (signature, driver)
        return driver

    def close(self, device_ids: set[int]) -> None:
        """Close the connections of these devices (the poller let them go)."""
        for device_id in device_ids:
            with self._lock:
                known = self._drivers.pop(device_id, None)
            if known is not None:
                known[1].close()

    def close_all(self) -> None:
        """Close every connection of this registry (poller shutdown, the end of a test)."""
        with self._lock:
            device_ids = set(self._drivers)
        self.close(device_ids)
