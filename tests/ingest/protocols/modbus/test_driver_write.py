"""ModbusTcpDriver.write against a real pymodbus server on loopback: every data type written and read back."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.simulator import DataType, SimData, SimDevice

from demo.simulator.modbus_server import ReadyCallback, ServerThread, serve_devices
from ingest.protocols.base import PointRequest, WriteStatus
from ingest.protocols.modbus.driver import ModbusTcpDriver, decode_registers

UNIT = 1
CLAMPED = 500  # a holding register the device's logic clamps to CLAMP_MAX, as a PLC limits a setpoint
CLAMP_MAX = 1000
READ_FCS = {1, 2, 3, 4}
WRITE_FCS = {5, 6, 15, 16}


async def _clamp(
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    if set_values is not None and function_code in (6, 16) and address <= CLAMPED < address + count:
        i = CLAMPED - address
        set_values[i] = min(int(set_values[i]), CLAMP_MAX)  # type: ignore[call-overload]
    return None


def _device() -> SimDevice:
    holding = [0] * 600
    holding[12] = 0b1010_0000_0000_0101
    return SimDevice(
        id=UNIT,
        simdata=(
            [SimData(0, values=[False] * 32, datatype=DataType.BITS)],
            [SimData(0, values=[True] * 16, datatype=DataType.BITS)],
            [SimData(0, values=holding, datatype=DataType.REGISTERS)],
            [SimData(0, values=[7] * 20, datatype=DataType.REGISTERS)],
        ),
        action=_clamp,
    )


class FunctionLog:
    """The function codes the server received (pymodbus's trace_pdu hook)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.codes: list[int] = []

    def trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            with self._lock:
                self.codes.append(pdu.function_code)
        return pdu

    def writes(self) -> list[int]:
        with self._lock:
            return [c for c in self.codes if c in WRITE_FCS]

    def clear(self) -> None:
        with self._lock:
            self.codes.clear()


@pytest.fixture(scope="module")
def log() -> FunctionLog:
    return FunctionLog()


@pytest.fixture(scope="module")
def server(log: FunctionLog) -> Iterator[ServerThread]:
    async def serve(ready: ReadyCallback) -> None:
        await serve_devices([_device()], host="127.0.0.1", port=0, trace_pdu=log.trace, ready=ready)

    with ServerThread(serve) as srv:
        yield srv


@pytest.fixture
def driver(server: ServerThread, log: FunctionLog) -> Iterator[ModbusTcpDriver]:
    drv = ModbusTcpDriver(server.host, server.port, UNIT, timeout=1.0)
    log.clear()
    yield drv
    drv.close()


def _point(address: str, data_type: str, **kwargs: object) -> PointRequest:
    return PointRequest(1, address, data_type, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "data_type", "value", "function"),
    [
        ("HR100", "int16", -1234, 6),
        ("HR101", "uint16", 54321, 6),
        ("HR102", "int32", -123456789, 16),
        ("HR104", "uint32", 3_000_000_000, 16),
        ("HR106", "float32", 3.14159, 16),
        ("HR108", "float64", -2.718281828459045, 16),
        ("CO3", "bool", True, 5),
        ("HR200:5", "string", "Part A-17", 16),
    ],
)
def test_each_data_type_is_written_and_read_back(
    driver: ModbusTcpDriver, log: FunctionLog, address: str, data_type: str, value: object, function: int
) -> None:
    outcome = driver.write(_point(address, data_type), value, timeout=1.0)  # type: ignore[arg-type]

    assert outcome.status == WriteStatus.CONFIRMED, outcome
    assert outcome.sent
    assert not outcome.error
    if data_type == "float32":
        assert outcome.read_back == pytest.approx(value, rel=1e-7)
    else:
        assert outcome.read_back == value
    assert log.writes() == [function]
    reading = driver.read([_point(address, data_type)])[0]
    assert reading.value == outcome.read_back


@pytest.mark.parametrize(
    ("word_order", "byte_order", "expected"),
    [
        ("big", "big", [0x4049, 0x0FD0]),
        ("little", "big", [0x0FD0, 0x4049]),
        ("big", "little", [0x4940, 0xD00F]),
        ("little", "little", [0xD00F, 0x4940]),
    ],
)
def test_word_and_byte_order_of_the_tag_are_honoured(
    driver: ModbusTcpDriver, word_order: str, byte_order: str, expected: list[int]
) -> None:
    point = _point("HR110", "float32", word_order=word_order, byte_order=byte_order)

    outcome = driver.write(point, 3.14159, timeout=1.0)

    assert outcome.status == WriteStatus.CONFIRMED, outcome
    raw = driver._client.read_holding_registers(110, count=2, device_id=UNIT).registers
    assert raw == expected
    assert decode_registers(raw, "float32", word_order=word_order, byte_order=byte_order) == pytest.approx(3.14159)  # type: ignore[arg-type]


def test_scale_and_offset_are_applied_inversely(driver: ModbusTcpDriver) -> None:
    point = _point("HR120", "uint16", scale=0.1, offset=-50.0)

    outcome = driver.write(point, 72.5, timeout=1.0)

    assert outcome.status == WriteStatus.CONFIRMED, outcome
    assert outcome.written == 1225
    assert outcome.read_back == pytest.approx(72.5)
    assert driver._client.read_holding_registers(120, count=1, device_id=UNIT).registers == [1225]


def test_a_bit_of_a_register_is_read_changed_and_written_back(driver: ModbusTcpDriver, log: FunctionLog) -> None:
    outcome = driver.write(_point("HR12.1", "bool"), True, timeout=1.0)

    assert outcome.status == WriteStatus.CONFIRMED, outcome
    assert outcome.written == 0b1010_0000_0000_0111  # the other bits as they were
    assert log.codes[:3] == [3, 6, 3]  # read, write, read back
    assert driver.write(_point("HR12.15", "bool"), False, timeout=1.0).confirmed
    assert driver._client.read_holding_registers(12, count=1, device_id=UNIT).registers == [0b0010_0000_0000_0111]


def test_coils_and_registers_with_the_multiple_write_functions(server: ServerThread, log: FunctionLog) -> None:
    with ModbusTcpDriver(server.host, server.port, UNIT, timeout=1.0, write_multiple=True) as driver:
        log.clear()
        assert driver.write(_point("CO7", "bool"), 1, timeout=1.0).confirmed
        assert driver.write(_point("HR130", "int16", scale=2.0), -40, timeout=1.0).confirmed

    assert log.writes() == [15, 16]


@pytest.mark.parametrize(
    ("address", "data_type", "value", "error"),
    [
        ("IR0", "uint16", 5, "input registers are read-only"),
        ("DI0", "bool", False, "discrete inputs are read-only"),
        ("HR140", "int16", 40000, "out of range for a int16"),
        ("HR140", "uint16", -1, "out of range for a uint16"),
        ("HR140", "int16", 12.5, "would be rounded"),
        ("HR140", "float32", "fast", "takes a number"),
        ("HR140", "float32", 1e39, "beyond the float32 range"),
        ("HR140", "float64", float("nan"), "not a finite number"),
        ("CO4", "bool", 2, "takes true/false"),
        ("HR200:2", "string", "too long text", "do not fit in 2 registers"),
        ("HR200:5", "string", "Température ☃", "latin-1"),
        ("HR200:5", "string", 42, "takes text"),
    ],
)
def test_what_does_not_fit_is_refused_and_nothing_is_sent(
    driver: ModbusTcpDriver, log: FunctionLog, address: str, data_type: str, value: object, error: str
) -> None:
    outcome = driver.write(_point(address, data_type), value, timeout=1.0)  # type: ignore[arg-type]

    assert outcome.status == WriteStatus.FAILED
    assert not outcome.sent
    assert error in outcome.error
    assert log.codes == []


def test_a_value_the_device_clamps_is_reported_mismatched(driver: ModbusTcpDriver) -> None:
    outcome = driver.write(_point(f"HR{CLAMPED}", "uint16"), 1500, timeout=0.3)

    assert outcome.status == WriteStatus.MISMATCHED
    assert outcome.written == 1500
    assert outcome.read_back == CLAMP_MAX
    assert "holds 1000" in outcome.error
    assert outcome.seconds >= 0.3


def test_an_address_the_device_does_not_have_is_a_failed_write(driver: ModbusTcpDriver) -> None:
    outcome = driver.write(_point("HR5000", "uint16"), 1, timeout=1.0)

    assert outcome.status == WriteStatus.FAILED
    assert outcome.sent
    assert "exception 2" in outcome.error


def test_a_dropped_link_is_a_failed_write(log: FunctionLog) -> None:
    async def serve(ready: ReadyCallback) -> None:
        await serve_devices([_device()], host="127.0.0.1", port=0, ready=ready)

    server = ServerThread(serve).start()
    driver = ModbusTcpDriver(server.host, server.port, UNIT, timeout=0.5)
    try:
        assert driver.write(_point("HR100", "int16"), 1, timeout=1.0).confirmed
        server.stop()

        outcome = driver.write(_point("HR100", "int16"), 2, timeout=1.0)
    finally:
        driver.close()
        server.stop()

    assert outcome.status == WriteStatus.FAILED
    assert outcome.error
    assert outcome.read_back is None
