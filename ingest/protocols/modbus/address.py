"""Modbus tag addresses: parsing and validation.

Accepted forms (case-insensitive, surrounding spaces ignored):

* ``HR<n>``, ``IR<n>``, ``CO<n>``, ``DI<n>``: holding register, input register, coil, discrete input at the
  0-based protocol offset ``n`` (what goes on the wire);
* ``HR<n>.<b>``, ``IR<n>.<b>``: bit ``b`` (0 = least significant) of a register, data type bool;
* Modicon numbers, 1-based: ``4xxxx``/``4xxxxx`` holding, ``3xxxx``/``3xxxxx`` input registers,
  ``0xxxx``/``0xxxxx`` coils, ``1xxxx``/``1xxxxx`` discrete inputs (offset = number - 1); register forms
  also take a bit suffix (``40001.3``);
* ``HR<n>:<len>``, ``IR<n>:<len>``, ``4xxxx:<len>``, ``3xxxx:<len>``: a text of ``len`` registers (1..125, two
  ASCII characters per register) from offset ``n``, data type string; e.g. ``HR200:10`` holds up to 20 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from historian.addresses import DATA_TYPES, InvalidTagAddress

Table = Literal["hr", "ir", "co", "di"]

REGISTER_TABLES: frozenset[str] = frozenset({"hr", "ir"})
BIT_TABLES: frozenset[str] = frozenset({"co", "di"})

#: Registers taken by each data type on a register table.
REGISTER_COUNTS: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "float64": 4,
    "bool": 1,
}

#: Longest string: one read request (Modbus FC 3/4 returns at most 125 registers).
MAX_STRING_REGISTERS = 125

_MAX_OFFSET = 65535
_HINT = "use HR100, IR5, CO3, DI7, HR100.3, HR200:10 (a string of 10 registers) or Modicon 40001"
_TABLE_NOUN: dict[str, str] = {
    "hr": "holding register",
    "ir": "input register",
    "co": "coil",
    "di": "discrete input",
}
_MODICON_TABLE: dict[str, Table] = {"4": "hr", "3": "ir", "0": "co", "1": "di"}

_PREFIXED = re.compile(r"(?P<table>HR|IR|CO|DI)(?P<num>\d+)(?:\.(?P<bit>\d+)|:(?P<length>\d+))?", re.IGNORECASE)
_MODICON = re.compile(r"(?P<kind>[0134])(?P<num>\d{4,5})(?:\.(?P<bit>\d+)|:(?P<length>\d+))?")


@dataclass(frozen=True, slots=True)
class ModbusAddress:
    """A parsed Modbus address. `count` is registers for hr/ir, bits for co/di."""

    table: Table
    offset: int
    bit: int | None
    data_type: str
    count: int

    @property
    def end(self) -> int:
        """One past the last register (or bit) this value occupies."""
        return self.offset + self.count

    def __str__(self) -> str:
        text = f"{self.table.upper()}{self.offset}"
        if self.data_type == "string":
            return f"{text}:{self.count}"
        return text if self.bit is None else f"{text}.{self.bit}"


def parse_modbus_address(address: str, data_type: str) -> ModbusAddress:
    """Parse `address` for a value of `data_type`; raise InvalidTagAddress with a readable message."""
    text = (address or "").strip()
    dtype = (data_type or "").strip().lower()
    if dtype not in DATA_TYPES:
        raise InvalidTagAddress(f"unknown data type {data_type!r}: use one of {', '.join(DATA_TYPES)}")

    table, offset, bit, length = _parse_location(text)

    if dtype == "string" or length is not None:
        return _string_address(text, dtype, table, offset, bit, length)

    if table in BIT_TABLES:
        noun = "coils" if table == "co" else "discrete inputs"
        if bit is not None:
            raise InvalidTagAddress(f"{text!r}: {noun} hold single bits and take no bit number")
        if dtype != "bool":
            raise InvalidTagAddress(
                f"{text!r}: {noun} hold single bits; data type {dtype} needs holding or input registers"
            )
        return ModbusAddress(table=table, offset=offset, bit=None, data_type=dtype, count=1)

    if bit is not None:
        if not 0 <= bit <= 15:
            raise InvalidTagAddress(f"{text!r}: bit must be 0..15")
        if dtype != "bool":
            raise InvalidTagAddress(
                f"{text!r} is a single bit of a register, so its data type must be bool, not {dtype}"
            )
        return ModbusAddress(table=table, offset=offset, bit=bit, data_type=dtype, count=1)

    if dtype == "bool":
        raise InvalidTagAddress(f"{text!r}: a bool in a register needs a bit number, e.g. {text}.0 for the lowest bit")
    count = REGISTER_COUNTS[dtype]
    if offset + count - 1 > _MAX_OFFSET:
        raise InvalidTagAddress(
            f"{text!r}: {dtype} takes {count} registers, so it must start at offset "
            f"{_MAX_OFFSET - count + 1} or lower (the last register is {_MAX_OFFSET})"
        )
    return ModbusAddress(table=table, offset=offset, bit=None, data_type=dtype, count=count)


def _string_address(
    text: str, dtype: str, table: Table, offset: int, bit: int | None, length: int | None
) -> ModbusAddress:
    """A text of `length` registers: holding or input registers only, wholly inside one read request."""
    if dtype != "string":
        raise InvalidTagAddress(f"{text!r}: a length (:n) is for string tags only, not {dtype}")
    if table in BIT_TABLES:
        noun = "coils" if table == "co" else "discrete inputs"
        raise InvalidTagAddress(f"{text!r}: {noun} hold single bits; a string needs holding or input registers")
    if bit is not None:
        raise InvalidTagAddress(f"{text!r}: a string takes whole registers, not a bit; give its length, e.g. HR100:10")
    if length is None:
        raise InvalidTagAddress(
            f"{text!r}: a string needs its length in registers (two characters each), e.g. {text}:10 for 20 characters"
        )
    if not 1 <= length <= MAX_STRING_REGISTERS:
        raise InvalidTagAddress(
            f"{text!r}: a string is 1..{MAX_STRING_REGISTERS} registers long (one read request), not {length}"
        )
    if offset + length - 1 > _MAX_OFFSET:
        raise InvalidTagAddress(
            f"{text!r}: a string of {length} registers must start at offset {_MAX_OFFSET - length + 1} or lower "
            f"(the last register is {_MAX_OFFSET})"
        )
    return ModbusAddress(table=table, offset=offset, bit=None, data_type=dtype, count=length)


def _parse_location(text: str) -> tuple[Table, int, int | None, int | None]:
    """Return (table, 0-based offset, bit or None, string length or None) for either address form."""
    if m := _PREFIXED.fullmatch(text):
        table: Table = m["table"].lower()  # type: ignore[assignment]
        offset = int(m["num"])
        if offset > _MAX_OFFSET:
            noun = "register" if table in REGISTER_TABLES else _TABLE_NOUN[table]
            raise InvalidTagAddress(f"{text!r}: {noun} offset {offset} is out of range 0..{_MAX_OFFSET}")
    elif m := _MODICON.fullmatch(text):
        table = _MODICON_TABLE[m["kind"]]
        number = int(m["num"])
        if number == 0:
            raise InvalidTagAddress(
                f"{text!r}: Modicon numbers start at 1 ({m['kind']}{'1'.zfill(len(m['num']))} "
                f"is {_TABLE_NOUN[table]} offset 0)"
            )
        if number > _MAX_OFFSET + 1:
            raise InvalidTagAddress(
                f"{text!r}: {_TABLE_NOUN[table]} number {number} is out of range 1..{_MAX_OFFSET + 1}"
            )
        offset = number - 1
    else:
        raise InvalidTagAddress(f"{text!r} is not a Modbus address: {_HINT}")
    bit = None if m["bit"] is None else int(m["bit"])
    length = None if m["length"] is None else int(m["length"])
    return table, offset, bit, length
