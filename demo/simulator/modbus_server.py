"""Serve a PlantSimulator over Modbus TCP, like a gateway in front of one PLC per line.

Built on pymodbus 3.16's SimDevice/SimData datastore (ModbusDeviceContext & co. are deprecated there):
each line is a SimDevice whose holding registers are refreshed from the plant every tick. An
unknown unit id is answered like a real gateway does, with exception 0x0B (target device failed to
respond).

Writes (FC 6 / 16) reach the machines' writable signals (plant.WRITABLE_SIGNALS: speed setpoint, feed override,
command register) through ``Machine.write``; the registers then hold what the machine made of the write (a clamped
setpoint, the last accepted command), so a read-back shows it. A write touching any other register is answered
with exception 2 (illegal data address), as a PLC protects its read-only area.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self, cast

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.device import ModbusDeviceIdentification
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from demo.simulator.plant import MACHINE_BLOCK_SIZE, SIGNAL_FORMATS, WRITABLE_SIGNALS, Line, PlantSimulator, SignalSpec

Address = tuple[str, int]
ReadyCallback = Callable[[Address], None]
TracePdu = Callable[[bool, ModbusPDU], ModbusPDU]

#: What the simulated line PLCs answer to device identification (FC 43/14), as a real PLC names itself.
PLANT_IDENTITY = {
    "VendorName": "Millwright Simulator",
    "ProductCode": "MW-SIM-PLC",
    "MajorMinorRevision": "1.0",
    "ProductName": "Simulated line PLC",
    "ModelName": "Demo line",
}


def device_identification(fields: dict[str, str] | None) -> ModbusDeviceIdentification | None:
    return ModbusDeviceIdentification(info_name=fields) if fields else None


class ServerBindError(OSError):
    """The server could not listen on the requested host:port (in use, not a local address ...)."""


@contextlib.asynccontextmanager
async def running_modbus_server(
    devices: Sequence[SimDevice],
    *,
    host: str,
    port: int,
    trace_pdu: TracePdu | None = None,
    identity: dict[str, str] | None = None,
) -> AsyncIterator[Address]:
    """Listen on host:port (port 0: any free port) while the block runs; yields the bound address.

    `identity`: the device identification objects answered to FC 43/14 (None: the function is refused).
    """
    server = ModbusTcpServer(
        list(devices), address=(host, port), trace_pdu=trace_pdu, identity=device_identification(identity)
    )
    try:
        await server.serve_forever(background=True)
    except RuntimeError as exc:  # pymodbus swallows the OSError and only says "Could not start listen"
        raise _bind_error(host, port) from exc
    try:
        sockname = cast(asyncio.Server, server.transport).sockets[0].getsockname()
        yield (sockname[0], sockname[1])
    finally:
        await server.shutdown()


async def serve_devices(
    devices: Sequence[SimDevice],
    *,
    host: str,
    port: int,
    trace_pdu: TracePdu | None = None,
    ready: ReadyCallback | None = None,
    identity: dict[str, str] | None = None,
) -> None:
    """Serve a fixed datastore until cancelled (for tests that need known register contents)."""
    async with running_modbus_server(devices, host=host, port=port, trace_pdu=trace_pdu, identity=identity) as address:
        if ready:
            ready(address)
        await asyncio.Event().wait()


async def serve_plant(
    *,
    host: str,
    port: int,
    plant: PlantSimulator,
    tick_seconds: float = 0.5,
    trace_pdu: TracePdu | None = None,
    ready: ReadyCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Serve `plant` (unit ids = its lines' unit ids) until cancelled, stepping it every tick to `clock()`.

    `ready` is called with the bound (host, port) once the server accepts connections. `clock` is the plant's
    time source: the monotonic clock (real time), or a test's, which then runs the plant as fast as it likes.
    """
    snapshots: dict[int, list[int]] = {}

    def refresh() -> None:
        plant.step(clock())
        for line in plant.lines:
            snapshots[line.unit_id] = line.registers()

    refresh()
    devices = [_line_device(line, snapshots) for line in plant.lines]
    devices.append(_unknown_unit_device())
    async with running_modbus_server(
        devices, host=host, port=port, trace_pdu=trace_pdu, identity=PLANT_IDENTITY
    ) as address:
        if ready:
            ready(address)
        while True:
            await asyncio.sleep(tick_seconds)
            refresh()


#: register offset inside a machine's block -> the writable signal that occupies it
_WRITABLE_REGISTERS = {spec.offset + i: spec for spec in WRITABLE_SIGNALS for i in range(spec.register_count)}


def _line_device(line: Line, snapshots: dict[int, list[int]]) -> SimDevice:
    """A PLC whose registers are copied from the latest snapshot whenever a request touches them, and whose
    machines take writes of their writable signals."""
    unit_id = line.unit_id
    size = len(snapshots[unit_id])

    async def action(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is not None:
            return _line_write(line, snapshots, address, [int(v) for v in set_values], set_values)
        registers[:size] = snapshots[unit_id]
        return None

    block = SimData(0, count=size, values=0, datatype=DataType.REGISTERS)
    return SimDevice(id=unit_id, simdata=[block], action=action)


def _line_write(
    line: Line, snapshots: dict[int, list[int]], address: int, values: list[int], set_values: list[int] | list[bool]
) -> ExcCodes | None:
    """Apply a register write to the line's machines; `set_values` is changed in place to what they now hold."""
    touched: dict[tuple[int, str], SignalSpec] = {}
    for register in range(address, address + len(values)):
        machine_index, offset = divmod(register, MACHINE_BLOCK_SIZE)
        spec = _WRITABLE_REGISTERS.get(offset)
        if spec is None or machine_index >= len(line.machines):
            return ExcCodes.ILLEGAL_ADDRESS
        touched[(machine_index, spec.name)] = spec
    image = list(snapshots[line.unit_id])
    image[address : address + len(values)] = values
    for (machine_index, name), spec in touched.items():
        start = machine_index * MACHINE_BLOCK_SIZE + spec.offset
        words = image[start : start + spec.register_count]
        data = b"".join(w.to_bytes(2, "big") for w in words)
        value = struct.unpack(SIGNAL_FORMATS[spec.data_type], data)[0]
        line.machines[machine_index].write(name, value)
    snapshots[line.unit_id] = line.registers()
    set_values[:] = snapshots[line.unit_id][address : address + len(values)]  # type: ignore[assignment]
    return None


def _unknown_unit_device() -> SimDevice:
    """Device id 0 is pymodbus's catch-all: answer 'gateway target failed to respond' for any address."""

    async def action(*_args: object) -> ExcCodes | None:
        return ExcCodes.GATEWAY_NO_RESPONSE

    block = SimData(0, count=65536, values=0, datatype=DataType.REGISTERS, readonly=True)
    return SimDevice(id=0, simdata=[block], action=action)


def _bind_error(host: str, port: int) -> ServerBindError:
    """Recover the real reason a listen failed by trying the bind ourselves."""
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's create_server does
            probe.bind(sockaddr)
    except OSError as exc:
        error = ServerBindError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        error.errno = exc.errno
        return error
    return ServerBindError(f"cannot listen on {host}:{port}")


class ServerThread:
    """Runs an async server in a background thread with its own event loop (for tests and tools).

    `serve(ready)` must call `ready((host, port))` once it accepts connections and run until cancelled.
    """

    def __init__(self, serve: Callable[[ReadyCallback], Awaitable[None]], *, name: str = "modbus-server") -> None:
        self._serve = serve
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.address: Address | None = None

    @property
    def host(self) -> str:
        assert self.address is not None, "server not started"
        return self.address[0]

    @property
    def port(self) -> int:
        assert self.address is not None, "server not started"
        return self.address[1]

    def start(self, timeout: float = 30.0) -> Self:
        """Start the thread; return once the server accepts connections (or raise its startup error)."""
        if self._thread is not None:
            raise RuntimeError("server thread already started")
        self._started.clear()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name=self._name, daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            self.stop()
            raise TimeoutError(f"{self._name} did not start within {timeout} s")
        if self._error is not None:
            self._thread.join(timeout)
            self._thread = None
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (closing its connections) and join the thread; idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout)
        self._loop = self._task = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._error = None

        def ready(address: Address) -> None:
            self.address = address
            self._started.set()

        try:
            await self._serve(ready)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # handed to the thread that called start()
            self._error = exc
        finally:
            self._started.set()


class PlantServerThread(ServerThread):
    """serve_plant() in a background thread: ``with PlantServerThread(plant) as srv: ... srv.port``.

    port=0 picks a free port. Touch `plant` only while the server is stopped (or accept that the
    server thread steps it concurrently).
    """

    def __init__(
        self,
        plant: PlantSimulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tick_seconds: float = 0.5,
        trace_pdu: TracePdu | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plant = plant if plant is not None else PlantSimulator()

        async def serve(ready: ReadyCallback) -> None:
            await serve_plant(
                host=host,
                port=port,
                plant=self.plant,
                tick_seconds=tick_seconds,
                trace_pdu=trace_pdu,
                ready=ready,
                clock=clock,
            )

        super().__init__(serve, name=f"plant-server:{port}")
