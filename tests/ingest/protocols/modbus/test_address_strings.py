"""String tags' Modbus addresses: a start register and a length in registers (HR200:10)."""

import pytest

from historian.addresses import InvalidTagAddress
from ingest.protocols.modbus.address import MAX_STRING_REGISTERS, parse_modbus_address


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("HR200:10", ("hr", 200, 10)),
        ("IR5:1", ("ir", 5, 1)),
        (" hr0:125 ", ("hr", 0, 125)),
        ("40201:4", ("hr", 200, 4)),  # Modicon numbers take a length too
        ("300001:2", ("ir", 0, 2)),
        ("HR65526:10", ("hr", 65526, 10)),  # the last register is 65535
    ],
)
def test_a_string_address_gives_its_table_offset_and_length(address, expected):
    parsed = parse_modbus_address(address, "string")
    assert (parsed.table, parsed.offset, parsed.count) == expected
    assert parsed.bit is None
    assert parsed.end == parsed.offset + parsed.count


def test_a_string_address_prints_back_in_its_own_syntax():
    assert str(parse_modbus_address("40201:4", "string")) == "HR200:4"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("HR200", "needs its length in registers"),
        ("CO3:2", "coils hold single bits"),
        ("DI7:2", "discrete inputs hold single bits"),
        ("HR100.3", "whole registers, not a bit"),
        ("HR100:0", "1..125 registers"),
        (f"HR100:{MAX_STRING_REGISTERS + 1}", "1..125 registers"),
        ("HR65530:10", "must start at offset 65526 or lower"),
        ("HR100:x", "not a Modbus address"),
    ],
)
def test_a_bad_string_address_is_refused_with_the_reason(address, reason):
    with pytest.raises(InvalidTagAddress, match=reason):
        parse_modbus_address(address, "string")


@pytest.mark.parametrize("data_type", ["uint16", "float32", "bool"])
def test_a_length_is_for_string_tags_only(data_type):
    with pytest.raises(InvalidTagAddress, match="for string tags only"):
        parse_modbus_address("HR100:4", data_type)
