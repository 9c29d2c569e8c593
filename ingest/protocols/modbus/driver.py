"""Modbus TCP driver: coalesced block reads over pymodbus's synchronous client."""

from __future__ import annotations

import logging
import struct
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.mei_message import ReadDeviceInformationResponse

from historian.addresses import InvalidTagAddress
from historian.quality import Quality
from ingest.protocols.base import (
    DeviceIdentity,
    DeviceUnreachable,
    Driver,
    PointReading,
    PointRequest,
    ReadingBatch,
    WriteOutcome,
    WriteRefused,
    WriteStatus,
    WriteValue,
    engineering_from_raw,
    raw_from_engineering,
)
from ingest.protocols.modbus.address import BIT_TABLES, ModbusAddress, parse_modbus_address

logger = logging.getLogger(__name__)

#: Protocol limits of one read request (Modbus application protocol spec, FC 1-4).
MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000

_TABLE_ORDER = {"hr": 0, "ir": 1, "co": 2, "di": 3}

#: Device identification objects (Modbus application protocol spec, FC 43 / MEI 14), basic and regular.
IDENTIFICATION_OBJECTS = {
    0x00: "VendorName",
    0x01: "ProductCode",
    0x02: "MajorMinorRevision",
    0x03: "VendorUrl",
    0x04: "ProductName",
    0x05: "ModelName",
    0x06: "UserApplicationName",
}
_READ_BASIC, _READ_REGULAR = 0x01, 0x02


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: `count` registers (hr/ir) or bits (co/di) from `start`.

    `members` are the indices, into the list given to plan_reads, of the addresses this block serves.
    """

    table: str
    start: int
    count: int
    members: tuple[int, ...]

    @property
    def end(self) -> int:
        return self.start + self.count


def plan_reads(
    addresses: Sequence[ModbusAddress],
    *,
    max_registers: int = MAX_REGISTERS_PER_READ,
    max_bits: int = MAX_BITS_PER_READ,
    max_gap_registers: int = 0,
    max_gap_bits: int = 0,
) -> list[ReadBlock]:
    """Coalesce addresses into as few reads as possible.

    Per table, addresses are taken in offset order; an address joins the current block unless the block would
    then exceed the limit or the unused registers (bits) between them exceed the gap: reading a few unused
    registers costs less than a second round trip. Every value lies wholly inside one block.
    """
    if max_registers < 1 or max_bits < 1:
        raise ValueError("max_registers and max_bits must be at least 1")
    if max_gap_registers < 0 or max_gap_bits < 0:
        raise ValueError("max_gap_registers and max_gap_bits cannot be negative")
    order = sorted(
        range(len(addresses)),
        key=lambda i: (_TABLE_ORDER[addresses[i].table], addresses[i].offset, addresses[i].end),
    )
    blocks: list[ReadBlock] = []
    table = ""
    start = end = 0
    members: list[int] = []

    def flush() -> None:
        if members:
            blocks.append(ReadBlock(table=table, start=start, count=end - start, members=tuple(members)))

    for i in order:
        addr = addresses[i]
        bits = addr.table in BIT_TABLES
        limit = max_bits if bits else max_registers
        gap = max_gap_bits if bits else max_gap_registers
        new_end = max(end, addr.end)
        if members and addr.table == table and addr.offset <= end + gap and new_end - start <= limit:
            end = new_end
            members.append(i)
            continue
        flush()
        table, start, end, members = addr.table, addr.offset, addr.end, [i]
    flush()
    return blocks


_EXCEPTION_NAMES: dict[int, str] = {
    ExcCodes.ILLEGAL_FUNCTION: "illegal function",
    ExcCodes.ILLEGAL_ADDRESS: "illegal data address",
    ExcCodes.ILLEGAL_VALUE: "illegal data value",
    ExcCodes.DEVICE_FAILURE: "server device failure",
    ExcCodes.ACKNOWLEDGE: "acknowledge",
    ExcCodes.DEVICE_BUSY: "server device busy",
    ExcCodes.MEMORY_PARITY_ERROR: "memory parity error",
    ExcCodes.GATEWAY_PATH_UNAVIABLE: "gateway path unavailable",
    ExcCodes.GATEWAY_NO_RESPONSE: "gateway target device failed to respond",
}


#: Exceptions a gateway sends for the unit behind it: the unit is unreachable, not the tag misconfigured.
GATEWAY_EXCEPTIONS = frozenset({ExcCodes.GATEWAY_PATH_UNAVIABLE, ExcCodes.GATEWAY_NO_RESPONSE})


def exception_reason(block: ReadBlock, exception_code: int) -> str:
    """What a person reads for an exception response, e.g. 'HR100..HR124: Modbus exception 2 (illegal ...)'."""
    name = _EXCEPTION_NAMES.get(exception_code, "unknown exception")
    span = f"{block.table.upper()}{block.start}..{block.table.upper()}{block.end - 1}"
    return f"{span}: Modbus exception {exception_code} ({name})"


def _exception_name(exception_code: int) -> str:
    return _EXCEPTION_NAMES.get(exception_code, "unknown exception")


_TABLE_NAMES = {"ir": "input registers", "di": "discrete inputs", "hr": "holding registers", "co": "coils"}


def exception_quality(exception_code: int) -> Quality:
    """Quality for a Modbus exception response.

    Illegal function/address means the tag is configured wrong; a gateway that cannot reach the device
    behind it is a communication failure; anything else is the device's own failure.
    """
    if exception_code in (ExcCodes.ILLEGAL_FUNCTION, ExcCodes.ILLEGAL_ADDRESS):
        return Quality.BAD_CONFIG_ERROR
    if exception_code in GATEWAY_EXCEPTIONS:
        return Quality.BAD_COMM_FAILURE
    return Quality.BAD_DEVICE_FAILURE


_NUMPY_TYPES = {"int16": ">i2", "uint16": ">u2", "int32": ">i4", "uint32": ">u4", "float32": ">f4", "float64": ">f8"}


def decode_register_rows(
    registers: np.ndarray,
    data_type: str,
    *,
    word_order: Literal["big", "little"] = "big",
    byte_order: Literal["big", "little"] = "big",
) -> np.ndarray:
    """Decode values of one data type (not bools), one per row of `registers` (uint16, in address order), to float64.

    word_order "little" puts the least significant register first (32/64-bit values); byte_order "little" swaps
    the two bytes inside every register.
    """
    regs: np.ndarray = np.asarray(registers, dtype=np.uint16).reshape(len(registers), -1)
    if word_order == "little":
        regs = regs[:, ::-1]
    if byte_order == "little":
        regs = (regs >> 8) | (regs << 8)
    raw = np.ascontiguousarray(regs, dtype=">u2").tobytes()
    return np.frombuffer(raw, dtype=_NUMPY_TYPES[data_type]).astype(np.float64)


def decode_registers(
    registers: Sequence[int],
    data_type: str,
    *,
    word_order: Literal["big", "little"] = "big",
    byte_order: Literal["big", "little"] = "big",
) -> float:
    """Decode the registers of one value (not bools: see decode_bit)."""
    row = np.array([list(registers)], dtype=np.uint16)
    value = decode_register_rows(row, data_type, word_order=word_order, byte_order=byte_order)[0]
    return int(value) if data_type in ("int16", "uint16", "int32", "uint32") else float(value)


_STRUCT_FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}


def encode_registers(
    raw: int | float,
    data_type: str,
    *,
    word_order: Literal["big", "little"] = "big",
    byte_order: Literal["big", "little"] = "big",
) -> list[int]:
    """The registers of one value (the inverse of decode_registers), in address order."""
    data = struct.pack(">" + _STRUCT_FORMATS[data_type], raw)
    words = [int.from_bytes(data[i : i + 2], byte_order) for i in range(0, len(data), 2)]
    return words[::-1] if word_order == "little" else words


def encode_string(text: str, count: int, *, byte_order: Literal["big", "little"] = "big") -> list[int]:
    """`count` registers holding `text` (latin-1, two characters per register), padded with NULs (the inverse of
    decode_string). Raises WriteRefused for a text that does not fit or holds what a register text cannot."""
    if "\0" in text:
        raise WriteRefused("a string tag's text cannot hold NUL characters (NUL ends the text on the device)")
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise WriteRefused(f"{bad!r} cannot be written: register texts hold latin-1 characters only") from exc
    if len(data) > 2 * count:
        raise WriteRefused(f"{len(data)} characters do not fit in {count} registers (at most {2 * count})")
    data = data.ljust(2 * count, b"\0")
    return [int.from_bytes(data[i : i + 2], byte_order) for i in range(0, len(data), 2)]


Order = Literal["big", "little"]
_ORDERS: tuple[Order, ...] = ("big", "little")


class _Group(NamedTuple):
    """Points decoded together: one table, one data type (or "bit"), one word and byte order."""

    table: str
    kind: str  # data type, or "bit"
    indices: np.ndarray  # point indices
    gather: np.ndarray  # [k x registers] (or [k] for bits) indices into the table's array
    bits: np.ndarray | None  # bit numbers within registers, or None (coils, inputs, whole registers)
    word_order: Order
    byte_order: Order


@dataclass
class _DecodePlan:
    """How to turn a read's responses into a ReadingBatch, worked out once per list of points.

    Registers (bits) land in one array per table at their own address; each data type (in each word and byte
    order its tags use) is then decoded for all its points by one gather over those arrays.
    """

    tag_ids: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    invalid: dict[int, str]  # point index -> why its address (or its order) is invalid
    addresses: dict[int, ModbusAddress]  # valid addresses by point index
    sizes: dict[str, int]  # per table: one past the highest address read
    groups: list[_Group]
    strings: list[tuple[int, Order]]  # point indices of string tags, with their byte order


def decode_string(registers: Sequence[int], *, byte_order: Literal["big", "little"] = "big") -> str:
    """Decode a string tag's registers: two characters per register, the high byte first ("big"), or the low byte
    first ("little", the device's byte order setting: many PLCs swap the bytes of a register).

    The text ends at the first NUL (what follows is left over from a longer earlier text) and trailing spaces
    (fixed-width padding) are dropped. Bytes are decoded as latin-1: ASCII as is, and any other byte still becomes
    one character (no reading is lost to a decoding error). Word order does not apply: the characters run in
    register order.
    """
    raw = b"".join(int(r).to_bytes(2, byte_order) for r in registers)
    return raw.split(b"\0", 1)[0].decode("latin-1").rstrip(" ")


class ModbusTcpDriver(Driver):
    """Reads one unit id of a Modbus TCP device (or of a gateway: several drivers may share host:port)."""

    def __init__(
        self,
        host: str,
        port: int = 502,
        unit_id: int = 1,
        *,
        timeout: float = 2.0,
        word_order: str = "big",  # a Device's columns: checked here
        byte_order: str = "big",
        max_registers: int = MAX_REGISTERS_PER_READ,
        max_bits: int = MAX_BITS_PER_READ,
        max_gap_registers: int = 8,
        max_gap_bits: int = 32,
        write_multiple: bool = False,
    ) -> None:
        """`write_multiple`: write single coils and registers with FC 15 / 16 too (devices without FC 5 / 6)."""
        if word_order not in _ORDERS or byte_order not in _ORDERS:
            raise ValueError("word_order and byte_order must be 'big' or 'little'")
        if not 4 <= max_registers <= MAX_REGISTERS_PER_READ:
            raise ValueError(f"max_registers must be 4..{MAX_REGISTERS_PER_READ} (a float64 needs 4)")
        if not 1 <= max_bits <= MAX_BITS_PER_READ:
            raise ValueError(f"max_bits must be 1..{MAX_BITS_PER_READ}")
        if not 0 <= max_gap_registers < max_registers or not 0 <= max_gap_bits < max_bits:
            raise ValueError("max_gap_registers and max_gap_bits must be 0 or more and below the request limits")
        if not 0 <= unit_id <= 255:
            raise ValueError("unit_id must be 0..255")
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.timeout = timeout
        self.word_order: Order = word_order
        self.byte_order: Order = byte_order
        self.max_registers = max_registers
        self.max_bits = max_bits
        self.max_gap_registers = max_gap_registers
        self.max_gap_bits = max_gap_bits
        self.write_multiple = write_multiple
        # retries=0: one attempt per request, so a silent device costs `timeout`, not 4 x timeout.
        self._client = ModbusTcpClient(host, port=port, timeout=timeout, retries=0)
        self._parsed: dict[tuple[str, str], ModbusAddress | InvalidTagAddress] = {}
        self._plan_key: tuple[tuple[str, str], ...] | None = None
        self._plan: list[ReadBlock] = []
        self._plan_index: list[int] = []
        self._decode_points: Sequence[PointRequest] | None = None
        self._decode: _DecodePlan | None = None

    def __repr__(self) -> str:
        return f"<ModbusTcpDriver {self.host}:{self.port} unit {self.unit_id}>"

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    def connect(self) -> None:
        if self._client.connected:
            return
        if not self._client.connect():
            self._client.close()
            raise DeviceUnreachable(
                f"cannot connect to Modbus device {self.host}:{self.port} "
                f"(refused, unreachable or no answer within {self.timeout:g} s)"
            )

    def close(self) -> None:
        self._client.close()

    def parse(self, address: str, data_type: str) -> ModbusAddress:
        """Parse an address, cached; raises InvalidTagAddress."""
        key = (address, data_type)
        parsed = self._parsed.get(key)
        if parsed is None:
            try:
                parsed = self._string_fits(parse_modbus_address(address, data_type))
            except InvalidTagAddress as exc:
                parsed = exc
            self._parsed[key] = parsed
        if isinstance(parsed, InvalidTagAddress):
            raise parsed
        return parsed

    def _string_fits(self, addr: ModbusAddress) -> ModbusAddress:
        """A string is read in one request, so it cannot be longer than this device's request limit."""
        if addr.data_type == "string" and addr.count > self.max_registers:
            raise InvalidTagAddress(
                f"{addr}: a string of {addr.count} registers is longer than this device's {self.max_registers} "
                "registers per request"
            )
        return addr

    def read(self, points: Sequence[PointRequest]) -> list[PointReading]:
        return self.read_batch(points).readings()

    def read_batch(self, points: Sequence[PointRequest]) -> ReadingBatch:
        plan = self._decode_plan(points)
        blocks, index = self._planned(points)
        quality = np.full(len(points), Quality.GOOD, dtype=np.int16)
        reasons: dict[int, str] = {}
        for i, reason in plan.invalid.items():
            quality[i] = Quality.BAD_CONFIG_ERROR
            reasons[int(plan.tag_ids[i])] = reason
        data = {table: np.zeros(size, dtype=np.uint16) for table, size in plan.sizes.items()}
        if blocks:
            self.connect()
        pending = list(blocks)
        while pending:
            block = pending.pop(0)
            response = self._request(block)
            received: Sequence[int] | Sequence[bool] = ()
            reason = ""
            if response.isError():
                code = getattr(response, "exception_code", 0)
                if code == ExcCodes.ILLEGAL_ADDRESS and (parts := self._without_gaps(block, index, plan.addresses)):
                    # The unused registers read to fill a gap do not exist on this device: read the parts
                    # separately, now and from now on.
                    pending[:0] = parts
                    continue
                if code in GATEWAY_EXCEPTIONS:
                    # The gateway answers, the unit behind it does not: this unit's link is down (issue 11.2).
                    # The TCP connection to the gateway stays open: its other units share that address.
                    reason = exception_reason(block, code)
                    raise DeviceUnreachable(f"{self.host}:{self.port} unit {self.unit_id}: {reason}")
                bad = exception_quality(code)
                reason = exception_reason(block, code)
            else:
                received = response.bits if block.table in BIT_TABLES else response.registers
                # A response shorter than asked for is the device's fault, not the link's.
                bad = Quality.GOOD if len(received) >= block.count else Quality.BAD_DEVICE_FAILURE
                if bad != Quality.GOOD:
                    reason = f"{block.table.upper()}{block.start}: asked for {block.count}, device sent {len(received)}"
            if bad != Quality.GOOD:
                members = [index[m] for m in block.members]
                quality[members] = bad
                for i in members:
                    reasons[int(plan.tag_ids[i])] = reason
                continue
            data[block.table][block.start : block.end] = received[: block.count]
        return self._decoded(plan, data, quality, reasons)

    # -- internals -----------------------------------------------------------------------------------------

    def _without_gaps(self, block: ReadBlock, index: list[int], addresses: dict[int, ModbusAddress]) -> list[ReadBlock]:
        """`block` split where it filled gaps (members re-indexed like the block's), or [] if it has none.

        Turns gap filling off for this driver: a device that refuses one gap is likely to refuse others.
        """
        members = [addresses[index[m]] for m in block.members]
        parts = plan_reads(members, max_registers=self.max_registers, max_bits=self.max_bits)
        if len(parts) < 2:
            return []
        if self.max_gap_registers or self.max_gap_bits:
            logger.warning("%r refused a read across unused addresses; reading without gap filling", self)
            self.max_gap_registers = self.max_gap_bits = 0
            self._plan_key = None
        return [
            ReadBlock(part.table, part.start, part.count, tuple(block.members[j] for j in part.members))
            for part in parts
        ]

    def _planned(self, points: Sequence[PointRequest]) -> tuple[list[ReadBlock], list[int]]:
        """Blocks and block member -> point index. A poller reads the same points every scan: the plan is kept."""
        addresses = self._decode_plan(points).addresses
        if self._plan_key is None:
            self._plan_index = list(addresses)
            self._plan = plan_reads(
                [addresses[i] for i in self._plan_index],
                max_registers=self.max_registers,
                max_bits=self.max_bits,
                max_gap_registers=self.max_gap_registers,
                max_gap_bits=self.max_gap_bits,
            )
            self._plan_key = tuple((p.address, p.data_type) for p in points)
        return self._plan, self._plan_index

    def _decode_plan(self, points: Sequence[PointRequest]) -> _DecodePlan:
        """The decode plan of `points`, kept while the poller passes the same list (its configuration)."""
        if points is self._decode_points and self._decode is not None:
            return self._decode
        invalid: dict[int, str] = {}
        addresses: dict[int, ModbusAddress] = {}
        orders: dict[int, tuple[Order, Order]] = {}
        for i, point in enumerate(points):
            try:
                addresses[i] = self._string_fits(self.parse(point.address, point.data_type))
                orders[i] = self._orders(point)
            except InvalidTagAddress as exc:
                addresses.pop(i, None)
                invalid[i] = str(exc)
        sizes: dict[str, int] = {}
        members: dict[tuple[str, str, Order, Order], list[int]] = defaultdict(list)
        strings: list[tuple[int, Order]] = []
        for i, addr in addresses.items():
            sizes[addr.table] = max(sizes.get(addr.table, 0), addr.end)
            word_order, byte_order = orders[i]
            if addr.data_type == "string":
                strings.append((i, byte_order))  # texts vary in length: decoded one by one (they are few)
                continue
            if addr.table in BIT_TABLES or addr.bit is not None:
                members[(addr.table, "bit", "big", "big")].append(i)  # bits are numbered within the register
            else:
                members[(addr.table, addr.data_type, word_order, byte_order)].append(i)
        groups = []
        for (table, kind, word_order, byte_order), indices in members.items():
            first = np.array([addresses[i].offset for i in indices], dtype=np.intp)
            if kind == "bit":
                bits = None if table in BIT_TABLES else np.array([addresses[i].bit for i in indices], dtype=np.uint16)
                gather = first
            else:
                bits = None
                gather = first[:, None] + np.arange(addresses[indices[0]].count, dtype=np.intp)[None, :]
            groups.append(_Group(table, kind, np.array(indices, dtype=np.intp), gather, bits, word_order, byte_order))
        plan = _DecodePlan(
            tag_ids=np.array([p.tag_id for p in points], dtype=np.int32),
            scale=np.array([p.scale for p in points], dtype=np.float64),
            offset=np.array([p.offset for p in points], dtype=np.float64),
            invalid=invalid,
            addresses=addresses,
            sizes=sizes,
            groups=groups,
            strings=strings,
        )
        if points is not self._decode_points:
            self._plan_key = None  # other points: plan the reads again
        self._decode_points, self._decode = points, plan
        return plan

    def _orders(self, point: PointRequest) -> tuple[Order, Order]:
        """The point's word and byte order: its own where it has one (a tag's override), else the device's."""
        word_order = point.word_order or self.word_order
        byte_order = point.byte_order or self.byte_order
        if word_order not in _ORDERS or byte_order not in _ORDERS:
            raise InvalidTagAddress(
                f"word order {word_order!r} / byte order {byte_order!r}: each must be 'big' or 'little'"
            )
        return word_order, byte_order

    def _decoded(
        self, plan: _DecodePlan, data: dict[str, np.ndarray], quality: np.ndarray, reasons: dict[int, str]
    ) -> ReadingBatch:
        raw = np.full(len(plan.tag_ids), np.nan)
        for group in plan.groups:
            registers = data[group.table][group.gather]
            if group.kind != "bit":
                raw[group.indices] = decode_register_rows(
                    registers, group.kind, word_order=group.word_order, byte_order=group.byte_order
                )
            elif group.bits is None:
                raw[group.indices] = registers != 0
            else:
                raw[group.indices] = (registers >> group.bits) & 1
        good = quality == Quality.GOOD
        with np.errstate(invalid="ignore", over="ignore"):
            values = raw * plan.scale + plan.offset
        texts: dict[int, str] = {}
        for i, byte_order in plan.strings:
            if good[i]:
                addr = plan.addresses[i]
                registers = data[addr.table][addr.offset : addr.end].tolist()
                texts[int(plan.tag_ids[i])] = decode_string(registers, byte_order=byte_order)
            good[i] = False  # not a number: never "broken" below
        broken = good & ~np.isfinite(values)
        for i in np.flatnonzero(broken).tolist():
            # A NaN/inf float from the device: the sensor or its conversion has failed.
            reasons[int(plan.tag_ids[i])] = f"{plan.addresses[i]}: device sent {float(raw[i])}"
        quality[broken] = Quality.BAD_SENSOR_FAILURE
        values[quality != Quality.GOOD] = np.nan
        return ReadingBatch(tag_ids=plan.tag_ids, values=values, qualities=quality, reasons=reasons, texts=texts)

    # -- writing -------------------------------------------------------------------------------------------

    def write(self, point: PointRequest, value: WriteValue, *, timeout: float = 5.0) -> WriteOutcome:
        """Write `value` to a coil (FC 5, or 15), a holding register (FC 6) or registers (FC 16), then read it back
        until it matches or `timeout` runs out. A bit of a register is read, changed and written whole (the other
        bits as read), then read back. Input registers and discrete inputs are refused, and so is a value that does
        not fit the tag's type: in both cases nothing is sent."""
        started = time.monotonic()
        deadline = started + timeout

        def outcome(status: WriteStatus, **kwargs: object) -> WriteOutcome:
            return WriteOutcome(status, value, seconds=time.monotonic() - started, **kwargs)  # type: ignore[arg-type]

        try:
            addr = self.parse(point.address, point.data_type)
            word_order, byte_order = self._orders(point)
            if addr.table in ("ir", "di"):
                raise WriteRefused(f"{addr}: {_TABLE_NAMES[addr.table]} are read-only")
            raw = raw_from_engineering(point, value)
            registers = None
            if addr.data_type == "string":
                registers = encode_string(str(raw), addr.count, byte_order=byte_order)
            elif addr.table == "hr" and addr.bit is None:
                registers = encode_registers(
                    raw,  # type: ignore[arg-type]  # a number: raw_from_engineering keeps the type's kind
                    addr.data_type,
                    word_order=word_order,
                    byte_order=byte_order,
                )
        except (InvalidTagAddress, WriteRefused) as exc:
            return outcome(WriteStatus.FAILED, error=str(exc))
        sent = False
        written: WriteValue | None = None
        try:
            self.connect()
            if addr.table == "co":
                written = bool(raw)
                sent = True
                response = (
                    self._client.write_coils(addr.offset, [written], device_id=self.unit_id)
                    if self.write_multiple
                    else self._client.write_coil(addr.offset, written, device_id=self.unit_id)
                )
            else:
                if registers is None:  # a bit of a register: read, modify, write
                    current = self._read_registers(addr.offset, 1)
                    if isinstance(current, str):
                        return outcome(WriteStatus.FAILED, error=f"reading {addr} before changing its bit: {current}")
                    mask = 1 << (addr.bit or 0)
                    registers = [(current[0] & ~mask) | (mask if raw else 0)]
                written = registers[0] if len(registers) == 1 else None
                sent = True
                response = (
                    self._client.write_register(addr.offset, registers[0], device_id=self.unit_id)
                    if len(registers) == 1 and not self.write_multiple
                    else self._client.write_registers(addr.offset, registers, device_id=self.unit_id)
                )
            if addr.table == "hr" and addr.bit is None:
                written = raw
            if response.isError():
                code = getattr(response, "exception_code", 0)
                error = f"{addr}: the device refused the write: Modbus exception {code} ({_exception_name(code)})"
                return outcome(WriteStatus.FAILED, written=written, sent=True, error=error)
            return self._read_back(point, addr, raw, written, word_order, byte_order, deadline, outcome)
        except DeviceUnreachable as exc:
            return outcome(WriteStatus.FAILED, written=written, sent=sent, error=str(exc))
        except (ModbusException, OSError) as exc:
            self._client.close()
            return outcome(WriteStatus.FAILED, written=written, sent=sent, error=f"{self.host}:{self.port}: {exc}")

    def _read_back(
        self,
        point: PointRequest,
        addr: ModbusAddress,
        raw: WriteValue,
        written: WriteValue | None,
        word_order: Order,
        byte_order: Order,
        deadline: float,
        outcome: Callable[..., WriteOutcome],
    ) -> WriteOutcome:
        """Read `addr` until it holds `raw` or the deadline passes (a PLC may take a scan to apply a write)."""
        expected = raw
        if addr.data_type == "float32":
            expected = float(np.float32(raw))
        elif addr.data_type == "string":
            expected = str(raw).rstrip(" ")
        while True:
            got: WriteValue
            if addr.table == "co":
                response = self._request(ReadBlock("co", addr.offset, 1, ()))
                if response.isError():
                    error = f"reading {addr} back: exception {getattr(response, 'exception_code', 0)}"
                    return outcome(WriteStatus.FAILED, written=written, sent=True, error=error)
                got = bool(response.bits[0])
            else:
                registers = self._read_registers(addr.offset, addr.count)
                if isinstance(registers, str):
                    return outcome(
                        WriteStatus.FAILED, written=written, sent=True, error=f"reading {addr} back: {registers}"
                    )
                if addr.data_type == "string":
                    got = decode_string(registers, byte_order=byte_order)
                elif addr.bit is not None:
                    got = bool((registers[0] >> addr.bit) & 1)
                else:
                    got = decode_registers(registers, addr.data_type, word_order=word_order, byte_order=byte_order)
            read_back = engineering_from_raw(point, got)
            if got == expected:
                return outcome(
                    WriteStatus.CONFIRMED, written=written, sent=True, read_back=read_back, read_back_raw=got
                )
            if time.monotonic() >= deadline:
                return outcome(
                    WriteStatus.MISMATCHED,
                    written=written,
                    sent=True,
                    read_back=read_back,
                    read_back_raw=got,
                    error=f"{addr}: wrote {written!r}, the device holds {got!r}",
                )
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def _read_registers(self, offset: int, count: int) -> list[int] | str:
        """Holding registers `offset`..: the values, or the reason they could not be read (an exception)."""
        response = self._request(ReadBlock("hr", offset, count, ()))
        if response.isError():
            code = getattr(response, "exception_code", 0)
            return f"Modbus exception {code} ({_exception_name(code)})"
        registers = list(response.registers)
        if len(registers) < count:
            return f"asked for {count} registers, the device sent {len(registers)}"
        return registers[:count]

    def identify(self) -> DeviceIdentity | None:
        """The unit's device identification (FC 43/14), regular objects where it has them, else basic ones.

        None when the unit does not implement it (an exception answer, as many PLCs give).
        """
        self.connect()
        for read_code in (_READ_REGULAR, _READ_BASIC):
            objects = self._identification_objects(read_code)
            if objects:
                return DeviceIdentity({IDENTIFICATION_OBJECTS[oid]: value for oid, value in sorted(objects.items())})
        return None

    def _identification_objects(self, read_code: int) -> dict[int, str]:
        objects: dict[int, str] = {}
        next_object = 0x00
        for _ in range(len(IDENTIFICATION_OBJECTS)):  # a device streams its objects over several answers at most
            try:
                response = self._client.read_device_information(
                    read_code=read_code, object_id=next_object, device_id=self.unit_id
                )
            except (ModbusException, OSError) as exc:
                self._client.close()
                raise DeviceUnreachable(f"{self.host}:{self.port} unit {self.unit_id}: {exc}") from exc
            if response.isError() or not isinstance(response, ReadDeviceInformationResponse):
                return objects
            for oid, raw in response.information.items():
                if oid in IDENTIFICATION_OBJECTS:
                    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
                    objects[oid] = text.strip()[:200]
            if not response.more_follows or response.next_object_id <= next_object:
                return objects
            next_object = response.next_object_id
        return objects

    def _request(self, block: ReadBlock) -> ModbusPDU:
        readers: dict[str, Callable[..., ModbusPDU]] = {
            "hr": self._client.read_holding_registers,
            "ir": self._client.read_input_registers,
            "co": self._client.read_coils,
            "di": self._client.read_discrete_inputs,
        }
        try:
            response = readers[block.table](block.start, count=block.count, device_id=self.unit_id)
        except (ModbusException, OSError) as exc:
            # Timeout, reset or closed by peer: the stream may hold a late answer, so start afresh.
            self._client.close()
            raise DeviceUnreachable(f"{self.host}:{self.port} unit {self.unit_id}: {exc}") from exc
        return response
