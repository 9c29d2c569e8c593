from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from ingest.protocols.modbus.address import ModbusAddress, parse_modbus_address
from ingest.protocols.modbus.driver import ReadBlock, decode_register_rows, plan_reads


def _addrs(*specs: tuple[str, str]) -> list[ModbusAddress]:
    return [parse_modbus_address(a, t) for a, t in specs]


def _spans(blocks: list[ReadBlock]) -> list[tuple[str, int, int]]:
    return [(b.table, b.start, b.count) for b in blocks]


def test_contiguous_registers_coalesce_into_one_block() -> None:
    addresses = _addrs(("HR0", "uint16"), ("HR1", "int16"), ("HR2", "float32"), ("HR4", "float64"))
    blocks = plan_reads(addresses)
    assert _spans(blocks) == [("hr", 0, 8)]
    assert sorted(blocks[0].members) == [0, 1, 2, 3]


def test_input_order_does_not_matter_and_members_index_the_input() -> None:
    addresses = _addrs(("HR4", "float64"), ("HR0", "uint16"), ("HR2", "float32"), ("HR1", "int16"))
    blocks = plan_reads(addresses)
    assert _spans(blocks) == [("hr", 0, 8)]
    assert [addresses[i].offset for i in blocks[0].members] == [0, 1, 2, 4]


def test_overlapping_and_duplicate_addresses_share_registers() -> None:
    # Bits of one status register, the same value twice, a uint16 view of half of a float32.
    addresses = _addrs(
        ("HR10.0", "bool"),
        ("HR10.1", "bool"),
        ("HR10", "uint16"),
        ("HR11", "float32"),
        ("HR12", "uint16"),
        ("HR11", "float32"),
    )
    assert _spans(plan_reads(addresses)) == [("hr", 10, 3)]


def test_a_gap_starts_a_new_block() -> None:
    addresses = _addrs(("HR0", "uint16"), ("HR1", "uint16"), ("HR3", "uint16"), ("HR4", "float32"))
    assert _spans(plan_reads(addresses)) == [("hr", 0, 2), ("hr", 3, 3)]


def test_tables_never_mix() -> None:
    addresses = _addrs(
        ("IR0", "uint16"),
        ("HR1", "uint16"),
        ("HR0", "uint16"),
        ("CO0", "bool"),
        ("DI1", "bool"),
        ("DI0", "bool"),
        ("IR1", "uint16"),
    )
    assert _spans(plan_reads(addresses)) == [("hr", 0, 2), ("ir", 0, 2), ("co", 0, 1), ("di", 0, 2)]


def test_register_limit_of_125() -> None:
    addresses = _addrs(*((f"HR{i}", "uint16") for i in range(150)))
    blocks = plan_reads(addresses)
    assert _spans(blocks) == [("hr", 0, 125), ("hr", 125, 25)]
    assert sum(len(b.members) for b in blocks) == 150


def test_exactly_125_registers_is_one_block() -> None:
    addresses = _addrs(*((f"IR{2 * i}", "float32") for i in range(62)), ("IR124", "uint16"))
    assert _spans(plan_reads(addresses)) == [("ir", 0, 125)]


def test_bit_limit_of_2000() -> None:
    addresses = _addrs(*((f"CO{i}", "bool") for i in range(2500)))
    assert _spans(plan_reads(addresses)) == [("co", 0, 2000), ("co", 2000, 500)]
    addresses = _addrs(*((f"DI{i}", "bool") for i in range(2000)))
    assert _spans(plan_reads(addresses)) == [("di", 0, 2000)]


def test_custom_limits() -> None:
    addresses = _addrs(*((f"HR{i}", "uint16") for i in range(10)), *((f"CO{i}", "bool") for i in range(10)))
    assert _spans(plan_reads(addresses, max_registers=4, max_bits=8)) == [
        ("hr", 0, 4),
        ("hr", 4, 4),
        ("hr", 8, 2),
        ("co", 0, 8),
        ("co", 8, 2),
    ]


@pytest.mark.parametrize(("data_type", "size"), [("float32", 2), ("uint32", 2), ("int32", 2), ("float64", 4)])
def test_multi_register_values_never_straddle_blocks(data_type: str, size: int) -> None:
    # 124 single registers, then a wide value at HR124: it would end past 125, so it starts a new block.
    addresses = _addrs(*((f"HR{i}", "uint16") for i in range(124)), ("HR124", data_type))
    blocks = plan_reads(addresses)
    assert _spans(blocks) == [("hr", 0, 124), ("hr", 124, size)]
    for block in blocks:
        for i in block.members:
            assert block.start <= addresses[i].offset
            assert addresses[i].end <= block.end


def test_packed_wide_values_split_on_value_boundaries() -> None:
    addresses = _addrs(*((f"HR{4 * i}", "float64") for i in range(50)))  # 200 registers
    blocks = plan_reads(addresses)
    assert _spans(blocks) == [("hr", 0, 124), ("hr", 124, 76)]
    for block in blocks:
        assert all(block.start <= addresses[i].offset and addresses[i].end <= block.end for i in block.members)


def test_empty_input_and_bad_limits() -> None:
    assert plan_reads([]) == []
    with pytest.raises(ValueError, match="at least 1"):
        plan_reads([], max_registers=0)


def test_a_gap_up_to_the_maximum_is_read_through() -> None:
    addresses = _addrs(("HR0", "uint16"), ("HR9", "uint16"), ("HR30", "float32"), ("CO0", "bool"), ("CO33", "bool"))
    blocks = plan_reads(addresses, max_gap_registers=8, max_gap_bits=32)
    assert _spans(blocks) == [("hr", 0, 10), ("hr", 30, 2), ("co", 0, 34)]
    assert [b.members for b in blocks] == [(0, 1), (2,), (3, 4)]


def test_a_gap_one_above_the_maximum_splits() -> None:
    addresses = _addrs(("HR0", "uint16"), ("HR10", "uint16"), ("CO0", "bool"), ("CO34", "bool"))
    blocks = plan_reads(addresses, max_gap_registers=8, max_gap_bits=32)
    assert _spans(blocks) == [("hr", 0, 1), ("hr", 10, 1), ("co", 0, 1), ("co", 34, 1)]


def test_gap_filling_never_exceeds_the_request_limit() -> None:
    addresses = _addrs(("HR0", "uint16"), ("HR120", "uint16"), ("HR125", "uint16"))
    blocks = plan_reads(addresses, max_gap_registers=8)
    assert _spans(blocks) == [("hr", 0, 1), ("hr", 120, 6)]
    with pytest.raises(ValueError, match="gap"):
        plan_reads(addresses, max_gap_registers=-1)


@pytest.mark.parametrize("data_type", ["int16", "uint16", "int32", "uint32", "float32", "float64"])
@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("byte_order", ["big", "little"])
def test_register_rows_decode_like_struct_for_every_type_and_order(data_type, word_order, byte_order) -> None:
    fmt = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}[data_type]
    rng = random.Random(f"{data_type}{word_order}{byte_order}")
    rows, expected = [], []
    for _ in range(50):
        raw = bytes(rng.randrange(256) for _ in range(struct.calcsize(fmt)))
        value = struct.unpack(">" + fmt, raw)[0]
        if value != value:
            continue  # NaN: compared elsewhere (a bad sensor reading)
        regs = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
        if word_order == "little":
            regs.reverse()
        if byte_order == "little":
            regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
        rows.append(regs)
        expected.append(float(value))

    decoded = decode_register_rows(np.array(rows), data_type, word_order=word_order, byte_order=byte_order)

    assert decoded.tolist() == expected
