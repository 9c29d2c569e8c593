"""Serve a PlantSimulator over Modbus TCP, like a gateway in front of one PLC per line.

Built on pymodbus 3.16's SimDevice/SimData datastore (ModbusDeviceContext & co. are deprecated there):
each line is a SimDevice whose read-only holding registers are refreshed from the plant every tick. An
unknown unit id is answered like a real gateway does, with exception 0x0B (target device failed to
respond).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
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

from demo.simulator.plant import PlantSimulator

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
    devices = [_line_device(unit_id, snapshots) for unit_id in plant.unit_ids]
    devices.append(_unknown_unit_device())
    async with running_modbus_server(
        devices, host=host, port=port, trace_pdu=trace_pdu, identity=PLANT_IDENTITY
    ) as address:
        if ready:
            ready(address)
        while True:
            await asyncio.sleep(tick_seconds)
            refresh()


def _line_device(unit_id: int, snapshots: dict[int, list[int]]) -> SimDevice:
    """A PLC whose registers are copied from the latest snapshot whenever a request touches them."""
    size = len(snapshots[unit_id])

    async def action(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        registers[:size] = snapshots[unit_id]
        return None

    block = SimData(0, count=size, values=0, datatype=DataType.REGISTERS, readonly=True)
    return SimDevice(id=unit_id, simdata=[block], action=action)


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

    def start(self, timeout: float = 10.0) -> Self:
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
