from __future__ import annotations

import dataclasses

import pytest

from historian.addresses import DATA_TYPES, InvalidTagAddress, validate_tag_address
from ingest.protocols.modbus.address import ModbusAddress, parse_modbus_address


@pytest.mark.parametrize(
    ("address", "data_type", "expected"),
    [
        # Prefixed forms, 0-based offsets.
        ("HR100", "float32", ("hr", 100, None, 2)),
        ("IR5", "int16", ("ir", 5, None, 1)),
        ("CO3", "bool", ("co", 3, None, 1)),
        ("DI7", "bool", ("di", 7, None, 1)),
        ("HR0", "uint16", ("hr", 0, None, 1)),
        ("HR65535", "int16", ("hr", 65535, None, 1)),
        ("HR65534", "uint32", ("hr", 65534, None, 2)),
        ("HR65532", "float64", ("hr", 65532, None, 4)),
        ("IR10", "int32", ("ir", 10, None, 2)),
        ("CO65535", "bool", ("co", 65535, None, 1)),
        # Bit in a register.
        ("HR100.3", "bool", ("hr", 100, 3, 1)),
        ("IR2.0", "bool", ("ir", 2, 0, 1)),
        ("HR7.15", "bool", ("hr", 7, 15, 1)),
        # Case and surrounding spaces.
        ("  hr100  ", "float32", ("hr", 100, None, 2)),
        ("Di7", "bool", ("di", 7, None, 1)),
        ("hr1.2", "bool", ("hr", 1, 2, 1)),
        # Modicon, 5 digits: offset = number - 1.
        ("40001", "int16", ("hr", 0, None, 1)),
        ("49999", "uint16", ("hr", 9998, None, 1)),
        ("30005", "float32", ("ir", 4, None, 2)),
        ("00001", "bool", ("co", 0, None, 1)),
        ("10010", "bool", ("di", 9, None, 1)),
        # Modicon, 6 digits.
        ("400001", "int16", ("hr", 0, None, 1)),
        ("465536", "uint16", ("hr", 65535, None, 1)),
        ("300101", "float64", ("ir", 100, None, 4)),
        ("000017", "bool", ("co", 16, None, 1)),
        ("165536", "bool", ("di", 65535, None, 1)),
        # Modicon register with a bit.
        ("40011.4", "bool", ("hr", 10, 4, 1)),
    ],
)
def test_valid_addresses(address: str, data_type: str, expected: tuple[str, int, int | None, int]) -> None:
    parsed = parse_modbus_address(address, data_type)
    assert (parsed.table, parsed.offset, parsed.bit, parsed.count) == expected
    assert parsed.data_type == data_type


def test_data_type_is_normalised_and_address_is_frozen() -> None:
    parsed = parse_modbus_address("HR1", " Float32 ")
    assert parsed == ModbusAddress(table="hr", offset=1, bit=None, data_type="float32", count=2)
    assert parsed.end == 3
    assert str(parsed) == "HR1"
    assert str(parse_modbus_address("40001.3", "bool")) == "HR0.3"
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.offset = 2  # type: ignore[misc]


@pytest.mark.parametrize("data_type", DATA_TYPES)
def test_every_data_type_has_a_register_form(data_type: str) -> None:
    address = {"bool": "HR10.1", "string": "HR10:4"}.get(data_type, "HR10")
    assert parse_modbus_address(address, data_type).table == "hr"


@pytest.mark.parametrize(
    ("address", "data_type", "message"),
    [
        ("HR70000", "int16", "'HR70000': register offset 70000 is out of range 0..65535"),
        ("IR65536", "uint16", "'IR65536': register offset 65536 is out of range 0..65535"),
        ("CO70000", "bool", "'CO70000': coil offset 70000 is out of range 0..65535"),
        ("DI65536", "bool", "'DI65536': discrete input offset 65536 is out of range 0..65535"),
        (
            "CO3",
            "float32",
            "'CO3': coils hold single bits; data type float32 needs holding or input registers",
        ),
        (
            "DI7",
            "int16",
            "'DI7': discrete inputs hold single bits; data type int16 needs holding or input registers",
        ),
        (
            "00001",
            "uint32",
            "'00001': coils hold single bits; data type uint32 needs holding or input registers",
        ),
        ("HR100.16", "bool", "'HR100.16': bit must be 0..15"),
        ("IR1.99", "bool", "'IR1.99': bit must be 0..15"),
        (
            "XY12",
            "int16",
            "'XY12' is not a Modbus address: use HR100, IR5, CO3, DI7, HR100.3, HR200:10 (a string of 10 registers) "
            "or Modicon 40001",
        ),
        (
            "",
            "int16",
            "'' is not a Modbus address: use HR100, IR5, CO3, DI7, HR100.3, HR200:10 (a string of 10 registers) "
            "or Modicon 40001",
        ),
        ("HR 100", "int16", "'HR 100' is not a Modbus address"),
        ("HR-1", "int16", "'HR-1' is not a Modbus address"),
        ("HR1.", "bool", "'HR1.' is not a Modbus address"),
        ("4001", "int16", "'4001' is not a Modbus address"),  # 4 digits: neither Modicon form
        ("4000001", "int16", "'4000001' is not a Modbus address"),  # 7 digits
        ("20001", "int16", "'20001' is not a Modbus address"),  # no 2xxxx table
        ("CO3.1", "bool", "'CO3.1': coils hold single bits and take no bit number"),
        ("DI3.0", "bool", "'DI3.0': discrete inputs hold single bits and take no bit number"),
        ("00003.1", "bool", "'00003.1': coils hold single bits and take no bit number"),
        (
            "HR100.3",
            "float32",
            "'HR100.3' is a single bit of a register, so its data type must be bool, not float32",
        ),
        (
            "HR100",
            "bool",
            "'HR100': a bool in a register needs a bit number, e.g. HR100.0 for the lowest bit",
        ),
        (
            "40001",
            "bool",
            "'40001': a bool in a register needs a bit number, e.g. 40001.0 for the lowest bit",
        ),
        (
            "HR65535",
            "float32",
            "'HR65535': float32 takes 2 registers, so it must start at offset 65534 or lower",
        ),
        (
            "IR65533",
            "float64",
            "'IR65533': float64 takes 4 registers, so it must start at offset 65532 or lower",
        ),
        ("465536", "int32", "'465536': int32 takes 2 registers, so it must start at offset 65534 or lower"),
        ("40000", "int16", "'40000': Modicon numbers start at 1 (40001 is holding register offset 0)"),
        ("300000", "int16", "'300000': Modicon numbers start at 1 (300001 is input register offset 0)"),
        ("465537", "int16", "'465537': holding register number 65537 is out of range 1..65536"),
        (
            "HR1",
            "double",
            "unknown data type 'double': use one of int16, uint16, int32, uint32, float32, float64, bool",
        ),
        ("HR1", "", "unknown data type ''"),
    ],
)
def test_errors_explain_the_problem(address: str, data_type: str, message: str) -> None:
    with pytest.raises(InvalidTagAddress) as excinfo:
        parse_modbus_address(address, data_type)
    assert str(excinfo.value).startswith(message)


def test_invalid_tag_address_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a Modbus address"):
        parse_modbus_address("nonsense", "int16")


def test_validate_tag_address_dispatches_on_protocol() -> None:
    validate_tag_address(protocol="modbus", address="HR100", data_type="float32")
    validate_tag_address(protocol="Modbus", address="40001", data_type="int16")
    with pytest.raises(InvalidTagAddress, match=r"bit must be 0\.\.15"):
        validate_tag_address(protocol="modbus", address="HR100.16", data_type="bool")
    with pytest.raises(InvalidTagAddress, match="unknown protocol 'profinet'"):
        validate_tag_address(protocol="profinet", address="HR100", data_type="int16")


def test_data_types() -> None:
    assert DATA_TYPES == ("int16", "uint16", "int32", "uint32", "float32", "float64", "bool", "string")
