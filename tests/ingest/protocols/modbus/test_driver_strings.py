"""String tags over Modbus: decoding, request planning, and reads from a real pymodbus server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymodbus.simulator import DataType, SimData, SimDevice

from demo.simulator.modbus_server import ReadyCallback, ServerThread, serve_devices
from historian.quality import Quality
from ingest.protocols.base import PointRequest
from ingest.protocols.modbus.address import parse_modbus_address
from ingest.protocols.modbus.driver import ModbusTcpDriver, decode_string, plan_reads

UNIT = 1


def text_registers(text: bytes, count: int, *, byte_order: str = "big") -> list[int]:
    """`text` padded with NULs to `count` registers, two bytes per register in `byte_order`."""
    raw = text.ljust(count * 2, b"\0")
    return [int.from_bytes(raw[i : i + 2], byte_order) for i in range(0, len(raw), 2)]


HOLDING: dict[int, list[int]] = {
    0: [1234],
    1: text_registers(b"PRG-4711", 5),  # HR1:5, high byte first
    6: text_registers(b"PRG-4711", 5, byte_order="little"),  # HR6:5, the bytes of each register swapped
    11: text_registers(b"ODD", 2),  # an odd length: the last register holds one character and a NUL
    13: text_registers(b"Caf\xe9 Cr\xe8me  ", 8),  # latin-1 bytes and space padding
    21: text_registers(b"NEW\0OLD-TAIL", 6),  # a shorter text written over a longer one
    27: [0x2020, 0x2020],  # only spaces: an empty text
}
INPUT: dict[int, list[int]] = {0: text_registers(b"IR text", 4)}


def _registers(layout: dict[int, list[int]], size: int) -> list[int]:
    regs = [0] * size
    for offset, words in layout.items():
        regs[offset : offset + len(words)] = words
    return regs


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    device = SimDevice(
        id=UNIT,
        simdata=(
            [SimData(0, values=[False] * 8, datatype=DataType.BITS)],
            [SimData(0, values=[False] * 8, datatype=DataType.BITS)],
            [SimData(0, values=_registers(HOLDING, 200), datatype=DataType.REGISTERS)],
            [SimData(0, values=_registers(INPUT, 20), datatype=DataType.REGISTERS)],
        ),
    )

    async def serve(ready: ReadyCallback) -> None:
        await serve_devices([device], host="127.0.0.1", port=0, ready=ready)

    with ServerThread(serve) as srv:
        yield srv


def _read(server: ServerThread, *points: tuple[str, str], **driver_options) -> list:
    with ModbusTcpDriver(server.host, server.port, UNIT, timeout=1.0, **driver_options) as driver:
        return driver.read([PointRequest(tag_id=i, address=a, data_type=t) for i, (a, t) in enumerate(points)])


def test_decode_takes_two_characters_per_register_high_byte_first():
    assert decode_string([0x4142, 0x4344]) == "ABCD"


def test_decode_with_little_byte_order_swaps_the_bytes_of_each_register():
    assert decode_string([0x4241, 0x4443], byte_order="little") == "ABCD"
    assert decode_string([0x4142, 0x4344], byte_order="little") == "BADC"


def test_decode_ends_at_the_first_nul_and_drops_trailing_spaces():
    assert decode_string(text_registers(b"AB  ", 4)) == "AB"
    assert decode_string(text_registers(b"AB\0CD", 4)) == "AB"
    assert decode_string([0, 0]) == ""
    assert decode_string(text_registers(b"  lead", 3)) == "  lead"  # leading spaces are text


def test_decode_reads_non_ascii_bytes_as_latin_1():
    assert decode_string(text_registers(b"\xb0C \xe9\xff", 3)) == "°C éÿ"


def test_strings_are_read_as_text_in_the_devices_byte_order(server):
    readings = _read(
        server,
        ("HR1:5", "string"),
        ("HR11:2", "string"),
        ("HR13:8", "string"),
        ("HR21:6", "string"),
        ("HR27:2", "string"),
        ("IR0:4", "string"),
        ("40002:5", "string"),  # Modicon form of HR1:5
        ("HR0", "uint16"),  # numbers beside strings are unaffected
    )
    assert all(r.quality == Quality.GOOD for r in readings), readings
    assert [r.value for r in readings] == ["PRG-4711", "ODD", "Café Crème", "NEW", "", "IR text", "PRG-4711", 1234]

    swapped = _read(server, ("HR6:5", "string"), ("HR1:5", "string"), byte_order="little")
    # The byte-swapping PLC's text reads right; a high-byte-first text read as swapped shows pairs reversed.
    assert [r.value for r in swapped] == ["PRG-4711", "RP-G7411"]


def test_a_string_tag_may_override_the_devices_byte_order(server):
    with ModbusTcpDriver(server.host, server.port, UNIT, timeout=1.0) as driver:
        swapped, plain = driver.read(
            [PointRequest(1, "HR6:5", "string", byte_order="little"), PointRequest(2, "HR1:5", "string")]
        )
    assert (swapped.value, plain.value) == ("PRG-4711", "PRG-4711")


def test_scale_and_offset_never_touch_a_string(server):
    with ModbusTcpDriver(server.host, server.port, UNIT, timeout=1.0) as driver:
        [reading] = driver.read([PointRequest(1, "HR1:5", "string", scale=10.0, offset=1.0)])
    assert reading.value == "PRG-4711"


def test_a_string_longer_than_the_devices_request_limit_is_a_config_error(server):
    [too_long, fine] = _read(server, ("HR0:20", "string"), ("HR1:5", "string"), max_registers=10, max_gap_registers=2)
    assert too_long.value is None
    assert too_long.quality == Quality.BAD_CONFIG_ERROR
    assert "longer than this device's 10 registers per request" in too_long.reason
    assert fine.value == "PRG-4711"


def test_the_planner_puts_a_whole_string_in_one_request():
    addresses = [parse_modbus_address(a, t) for a, t in [("HR0", "float32"), ("HR2:10", "string"), ("HR12", "uint16")]]
    # The three fit in one request of 13 registers ...
    assert [(b.start, b.count) for b in plan_reads(addresses, max_registers=13)] == [(0, 13)]
    # ... but not in 10: the string starts a request of its own rather than being split.
    blocks = plan_reads(addresses, max_registers=10)
    assert [(b.start, b.count) for b in blocks] == [(0, 2), (2, 10), (12, 1)]
    for block in blocks:
        for i in block.members:
            assert block.start <= addresses[i].offset
            assert addresses[i].end <= block.end
