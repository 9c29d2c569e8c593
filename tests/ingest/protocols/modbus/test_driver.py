"""ModbusTcpDriver against real pymodbus servers on loopback."""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.simulator import DataType, SimData, SimDevice

from demo.simulator.modbus_server import ReadyCallback, ServerThread, serve_devices
from historian.quality import Quality
from ingest.protocols.base import DeviceUnreachable, PointReading, PointRequest
from ingest.protocols.modbus.driver import ModbusTcpDriver

UNIT = 1
FAILING = range(1000, 1100)  # holding registers whose reads the device answers with DEVICE_FAILURE
HR_SIZE = 1100
IR_HOLE = range(8, 20)  # input registers the device does not have


def regs(fmt: str, value: float, *, word_order: str = "big", byte_order: str = "big") -> list[int]:
    raw = struct.pack(">" + fmt, value)
    words = [int.from_bytes(raw[i : i + 2], "big" if byte_order == "big" else "little") for i in range(0, len(raw), 2)]
    return words[::-1] if word_order == "little" else words


def _holding_registers() -> list[int]:
    hr = [0] * HR_SIZE
    layout: dict[int, list[int]] = {
        0: regs("h", -1234),
        1: regs("H", 54321),
        2: regs("i", -123456789),
        4: regs("I", 3_000_000_000),
        6: regs("f", 3.14159),
        8: regs("d", -2.718281828459045),
        12: [0b1010_0000_0000_0101],
        20: regs("f", -0.5, word_order="little"),
        22: regs("d", 1e10 / 3, word_order="little"),
        26: regs("i", -70000, word_order="little"),
        30: [1000],
        40: regs("h", -2, byte_order="little"),
        41: regs("f", 12.5, word_order="little", byte_order="little"),
        50: [0x7FC0, 0x0000],  # float32 NaN
    }
    for offset, words in layout.items():
        hr[offset : offset + len(words)] = words
    for i in range(100, 400):
        hr[i] = i
    return hr


COILS = [i in (0, 5, 17) for i in range(32)]
DISCRETE = [i == 3 for i in range(16)]
INPUT_REGISTERS = [777, *regs("f", 1.5), 0, 0, 0, 0, 0]


async def _device_action(
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    if function_code == 3 and address < FAILING.stop and address + count > FAILING.start:
        return ExcCodes.DEVICE_FAILURE
    return None


def _device() -> SimDevice:
    return SimDevice(
        id=UNIT,
        simdata=(
            [SimData(0, values=COILS, datatype=DataType.BITS)],
            [SimData(0, values=DISCRETE, datatype=DataType.BITS)],
            [SimData(0, values=_holding_registers(), datatype=DataType.REGISTERS)],
            [
                SimData(0, values=INPUT_REGISTERS, datatype=DataType.REGISTERS),
                SimData(IR_HOLE.stop, values=[20 + i for i in range(10)], datatype=DataType.REGISTERS),
            ],
        ),
        action=_device_action,
    )


#: Units behind the test server's "gateway" that it cannot reach, and the exception it answers for each.
GATEWAY_UNITS = {2: ExcCodes.GATEWAY_PATH_UNAVIABLE, 3: ExcCodes.GATEWAY_NO_RESPONSE}


def _unreachable_unit(unit: int, code: ExcCodes) -> SimDevice:
    async def action(*_args: object) -> ExcCodes | None:
        return code

    return SimDevice(id=unit, simdata=[SimData(0, count=100, values=0, datatype=DataType.REGISTERS)], action=action)


class RequestLog:
    """Requests the server actually received, recorded by pymodbus's trace_pdu hook."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[tuple[int, int, int]] = []

    def trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            with self._lock:
                self.requests.append((pdu.function_code, pdu.address, pdu.count))
        return pdu

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


def _server(port: int = 0, log: RequestLog | None = None) -> ServerThread:
    async def serve(ready: ReadyCallback) -> None:
        devices = [_device(), *(_unreachable_unit(unit, code) for unit, code in GATEWAY_UNITS.items())]
        await serve_devices(devices, host="127.0.0.1", port=port, trace_pdu=log.trace if log else None, ready=ready)

    return ServerThread(serve)


@pytest.fixture(scope="module")
def request_log() -> RequestLog:
    return RequestLog()


@pytest.fixture(scope="module")
def server(request_log: RequestLog) -> Iterator[ServerThread]:
    with _server(log=request_log) as srv:
        yield srv


@pytest.fixture
def driver(server: ServerThread, request_log: RequestLog) -> Iterator[ModbusTcpDriver]:
    """A driver that reads only what is asked for (no gap filling), so requests are easy to predict."""
    drv = ModbusTcpDriver(server.host, server.port, UNIT, timeout=1.0, max_gap_registers=0, max_gap_bits=0)
    request_log.clear()
    yield drv
    drv.close()


def _read(driver: ModbusTcpDriver, *points: tuple[str, str]) -> list[PointReading]:
    return driver.read([PointRequest(tag_id=i, address=a, data_type=t) for i, (a, t) in enumerate(points)])


def _values(readings: list[PointReading]) -> list[float | None]:
    assert all(r.quality == Quality.GOOD for r in readings), readings
    return [r.value for r in readings]


def test_every_data_type_round_trips(driver: ModbusTcpDriver) -> None:
    readings = _read(
        driver,
        ("HR0", "int16"),
        ("HR1", "uint16"),
        ("HR2", "int32"),
        ("HR4", "uint32"),
        ("HR6", "float32"),
        ("HR8", "float64"),
        ("HR12.0", "bool"),
        ("HR12.1", "bool"),
        ("HR12.2", "bool"),
        ("HR12.13", "bool"),
        ("HR12.15", "bool"),
        ("IR0", "uint16"),
        ("IR1", "float32"),
        ("CO0", "bool"),
        ("CO1", "bool"),
        ("CO5", "bool"),
        ("CO17", "bool"),
        ("DI3", "bool"),
        ("DI4", "bool"),
        ("40001", "int16"),  # Modicon form of HR0
    )
    assert [r.tag_id for r in readings] == list(range(20))
    values = _values(readings)
    assert values[:4] == [-1234, 54321, -123456789, 3_000_000_000]
    assert values[4] == pytest.approx(3.14159, rel=1e-7)
    assert values[5] == -2.718281828459045
    assert values[6:11] == [1.0, 0.0, 1.0, 1.0, 1.0]
    assert values[11:13] == [777, 1.5]
    assert values[13:17] == [1.0, 0.0, 1.0, 1.0]
    assert values[17:19] == [1.0, 0.0]
    assert values[19] == -1234


def test_scale_and_offset(driver: ModbusTcpDriver) -> None:
    readings = driver.read(
        [
            PointRequest(1, "HR30", "uint16", scale=0.1, offset=-50.0),
            PointRequest(2, "HR0", "int16", scale=-2.0),
            PointRequest(3, "CO0", "bool", offset=10.0),
        ]
    )
    assert (readings[0].tag_id, readings[0].quality) == (1, Quality.GOOD)
    assert readings[0].value == pytest.approx(50.0)
    assert readings[1].value == 2468.0
    assert readings[2].value == 11.0


def test_little_endian_word_and_byte_order(server: ServerThread) -> None:
    with ModbusTcpDriver(server.host, server.port, UNIT, word_order="little") as drv:
        values = _values(_read(drv, ("HR20", "float32"), ("HR22", "float64"), ("HR26", "int32"), ("HR0", "int16")))
    assert values == [-0.5, pytest.approx(1e10 / 3, rel=1e-15), -70000, -1234]
    with ModbusTcpDriver(server.host, server.port, UNIT, word_order="little", byte_order="little") as drv:
        assert _values(_read(drv, ("HR40", "int16"), ("HR41", "float32"))) == [-2, 12.5]


def test_a_point_may_override_the_word_and_byte_order_of_its_device(driver: ModbusTcpDriver) -> None:
    """One big-endian device, values of other orders next to its own (issue 11.4)."""
    readings = driver.read(
        [
            PointRequest(1, "HR6", "float32"),  # ABCD: the device's order
            PointRequest(2, "HR20", "float32", word_order="little"),  # CDAB
            PointRequest(3, "HR22", "float64", word_order="little"),
            PointRequest(4, "HR40", "int16", byte_order="little"),
            PointRequest(5, "HR41", "float32", word_order="little", byte_order="little"),  # DCBA
            PointRequest(6, "HR0", "int16", word_order="little"),  # one register: word order changes nothing
        ]
    )
    assert _values(readings) == [
        pytest.approx(3.14159, rel=1e-7),
        -0.5,
        pytest.approx(1e10 / 3, rel=1e-15),
        -2,
        12.5,
        -1234,
    ]


def test_a_point_may_set_the_device_order_back_to_big_endian(server: ServerThread) -> None:
    with ModbusTcpDriver(server.host, server.port, UNIT, word_order="little") as drv:
        readings = drv.read([PointRequest(1, "HR20", "float32"), PointRequest(2, "HR6", "float32", word_order="big")])
    assert _values(readings) == [-0.5, pytest.approx(3.14159, rel=1e-7)]


def test_an_unknown_order_on_a_point_is_a_config_error_of_that_point(driver: ModbusTcpDriver) -> None:
    readings = driver.read([PointRequest(1, "HR6", "float32", word_order="middle"), PointRequest(2, "HR0", "int16")])
    assert (readings[0].quality, readings[1].value) == (Quality.BAD_CONFIG_ERROR, -1234)
    assert "word order 'middle'" in readings[0].reason


def test_contiguous_registers_are_read_in_125_register_blocks(driver: ModbusTcpDriver, request_log: RequestLog) -> None:
    points = [PointRequest(i, f"HR{100 + i}", "uint16") for i in range(150)]
    readings = driver.read(points)
    assert [r.value for r in readings] == [100 + i for i in range(150)]
    assert request_log.requests == [(3, 100, 125), (3, 225, 25)]

    request_log.clear()
    driver.read(points)  # the cached plan issues the same requests again
    assert request_log.requests == [(3, 100, 125), (3, 225, 25)]


def test_one_request_per_table_and_gap(driver: ModbusTcpDriver, request_log: RequestLog) -> None:
    readings = _read(
        driver,
        ("HR0", "int16"),
        ("HR1", "uint16"),
        ("HR2", "int32"),
        ("HR12.0", "bool"),  # HR4..11 not asked for: a new block
        ("IR0", "uint16"),
        ("IR1", "float32"),
        ("CO0", "bool"),
        ("CO17", "bool"),  # a gap in coils too
        ("DI3", "bool"),
    )
    assert all(r.quality == Quality.GOOD for r in readings)
    assert sorted(request_log.requests) == [
        (1, 0, 1),
        (1, 17, 1),
        (2, 3, 1),
        (3, 0, 4),
        (3, 12, 1),
        (4, 0, 3),
    ]


def test_exception_response_marks_only_its_block(driver: ModbusTcpDriver) -> None:
    readings = _read(
        driver,
        ("HR0", "int16"),
        ("HR2000", "uint16"),  # beyond the datastore: ILLEGAL_ADDRESS
        ("HR2001", "uint16"),
        ("HR1050", "float32"),  # the device answers DEVICE_FAILURE
        ("IR0", "uint16"),
        ("IR50", "uint16"),  # beyond the input registers
        ("CO0", "bool"),
    )
    assert [(r.value, r.quality) for r in readings] == [
        (-1234, Quality.GOOD),
        (None, Quality.BAD_CONFIG_ERROR),
        (None, Quality.BAD_CONFIG_ERROR),
        (None, Quality.BAD_DEVICE_FAILURE),
        (777, Quality.GOOD),
        (None, Quality.BAD_CONFIG_ERROR),
        (1.0, Quality.GOOD),
    ]
    assert driver.connected  # an exception response is not a link failure


def test_exception_responses_carry_the_reason(driver: ModbusTcpDriver) -> None:
    readings = _read(driver, ("HR2000", "uint16"), ("HR1050", "float32"))
    assert readings[0].reason == "HR2000..HR2000: Modbus exception 2 (illegal data address)"
    assert readings[1].reason == "HR1050..HR1051: Modbus exception 4 (server device failure)"


@pytest.mark.parametrize(("unit", "code"), GATEWAY_UNITS.items())
def test_a_gateway_exception_is_a_link_failure_of_that_unit(server: ServerThread, unit: int, code: ExcCodes) -> None:
    """0x0A / 0x0B: the gateway answers for a unit it cannot reach; no tag of that unit was read (issue 11.2)."""
    with ModbusTcpDriver(server.host, server.port, unit, timeout=1.0) as drv:
        with pytest.raises(DeviceUnreachable, match=f"unit {unit}: HR0..HR1: Modbus exception {int(code)} "):
            _read(drv, ("HR0", "int16"), ("HR1", "uint16"))
        assert drv.connected  # the gateway itself answered: its connection stays open
    with ModbusTcpDriver(server.host, server.port, UNIT, timeout=1.0) as drv:
        assert _values(_read(drv, ("HR0", "int16"))) == [-1234]  # the gateway's other unit still reads


def test_a_small_gap_is_read_through_in_one_request(server: ServerThread, request_log: RequestLog) -> None:
    with ModbusTcpDriver(server.host, server.port, UNIT, max_gap_registers=8, max_gap_bits=32) as drv:
        request_log.clear()
        readings = _read(
            drv,
            ("HR0", "int16"),
            ("HR6", "float32"),  # HR1..5 unused: 5 <= 8, one request
            ("HR100", "uint16"),
            ("HR117", "uint16"),  # HR101..116 unused: 16 > 8, a second request
            ("CO0", "bool"),
            ("CO17", "bool"),  # 16 unused coils <= 32
        )
    assert [r.value for r in readings] == [-1234, pytest.approx(3.14159, rel=1e-7), 100, 117, 1.0, 1.0]
    assert sorted(request_log.requests) == [(1, 0, 18), (3, 0, 8), (3, 100, 1), (3, 117, 1)]


def test_a_gap_the_device_refuses_is_split_and_not_filled_again(server: ServerThread, request_log: RequestLog) -> None:
    with ModbusTcpDriver(server.host, server.port, UNIT, max_gap_registers=30) as drv:
        request_log.clear()
        points = [("IR0", "uint16"), ("IR25", "uint16")]  # 24 unused registers apart, across the hole
        assert _values(_read(drv, *points)) == [777, 25]
        assert request_log.requests == [(4, 0, 26), (4, 0, 1), (4, 25, 1)]

        request_log.clear()
        assert _values(_read(drv, *points)) == [777, 25]
        assert request_log.requests == [(4, 0, 1), (4, 25, 1)]


def test_invalid_addresses_give_config_error_without_crashing(driver: ModbusTcpDriver, request_log: RequestLog) -> None:
    readings = _read(driver, ("HR1", "uint16"), ("XY12", "int16"), ("CO1", "float32"), ("HR100.16", "bool"))
    assert [(r.value, r.quality) for r in readings] == [
        (54321, Quality.GOOD),
        (None, Quality.BAD_CONFIG_ERROR),
        (None, Quality.BAD_CONFIG_ERROR),
        (None, Quality.BAD_CONFIG_ERROR),
    ]
    assert request_log.requests == [(3, 1, 1)]

    assert "not a Modbus address" in readings[1].reason
    assert "coils hold single bits" in readings[2].reason

    request_log.clear()
    [reading] = _read(driver, ("nonsense", "int16"))
    assert (reading.value, reading.quality) == (None, Quality.BAD_CONFIG_ERROR)
    assert request_log.requests == []


def test_nan_is_a_bad_sensor_reading(driver: ModbusTcpDriver) -> None:
    [reading] = _read(driver, ("HR50", "float32"))
    assert (reading.value, reading.quality) == (None, Quality.BAD_SENSOR_FAILURE)
    assert reading.reason == "HR50: device sent nan"


def test_empty_read_does_not_connect(driver: ModbusTcpDriver) -> None:
    assert driver.read([]) == []
    assert not driver.connected


def test_server_going_away_raises_device_unreachable_then_reconnects() -> None:
    srv = _server().start()
    port = srv.port
    driver = ModbusTcpDriver("127.0.0.1", port, UNIT, timeout=1.0)
    try:
        assert _values(_read(driver, ("HR1", "uint16"))) == [54321]
        assert driver.connected
        srv.stop()

        started = time.monotonic()
        with pytest.raises(DeviceUnreachable):
            _read(driver, ("HR1", "uint16"))
        assert time.monotonic() - started < 1.5
        assert not driver.connected

        started = time.monotonic()
        with pytest.raises(DeviceUnreachable, match=f"127.0.0.1:{port}"):
            _read(driver, ("HR1", "uint16"))  # connection refused
        assert time.monotonic() - started < 1.5

        srv = _server(port).start()  # same port again
        assert _values(_read(driver, ("HR1", "uint16"), ("CO5", "bool"))) == [54321, 1.0]
        assert driver.connected
    finally:
        driver.close()
        srv.stop()


def test_silent_server_times_out_fast() -> None:
    """A peer that accepts the connection but never answers costs one timeout, not retries x timeout."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        driver = ModbusTcpDriver("127.0.0.1", port, UNIT, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(DeviceUnreachable):
            _read(driver, ("HR0", "int16"), ("CO0", "bool"))
        elapsed = time.monotonic() - started
        assert 0.45 < elapsed < 1.5  # pymodbus's default retries=3 would take 2 s
        assert not driver.connected
        driver.close()


def test_connect_refused_is_device_unreachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    driver = ModbusTcpDriver("127.0.0.1", port, UNIT, timeout=1.0)
    with pytest.raises(DeviceUnreachable, match="cannot connect"):
        driver.connect()
    assert not driver.connected
    assert math.isclose(driver.timeout, 1.0)


def test_constructor_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="word_order"):
        ModbusTcpDriver("127.0.0.1", 502, 1, word_order="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_registers"):
        ModbusTcpDriver("127.0.0.1", 502, 1, max_registers=200)
