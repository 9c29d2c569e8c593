"""Fixtures shared by the whole suite: a small plant wired to a real Modbus TCP simulator, a live ASGI server."""

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from historian.models import Device, Machine, ScanClass, Tag
from ingest.drivers.registry import drivers_close_all
from ingest.simulator.modbus_server import PlantServerThread
from ingest.simulator.plant import PlantSimulator


@pytest.fixture
def plant_server() -> Iterator[PlantServerThread]:
    """A real Modbus TCP server on a free loopback port, serving a 1-line x 2-machine simulated plant."""
    with PlantServerThread(PlantSimulator(lines=1, machines_per_line=2, seed=7), tick_seconds=0.2) as server:
        yield server


@pytest.fixture
def demo_plant(db, plant_server):
    """The demo plant model (1 line, 2 machines) pointed at `plant_server`."""
    from ingest.services.demo_plant import demo_plant_load

    demo_plant_load(host=plant_server.host, port=plant_server.port, lines=1, machines_per_line=2)
    yield
    drivers_close_all()


@pytest.fixture
def device(demo_plant) -> Device:
    return Device.objects.get(name="Line 1 PLC")


@pytest.fixture
def scan_class(demo_plant) -> ScanClass:
    return ScanClass.objects.get(name="Fast")


@pytest.fixture
def machine(demo_plant) -> Machine:
    return Machine.objects.order_by("pk").first()


@pytest.fixture
def machine_tags(machine) -> list[Tag]:
    return list(machine.tags.order_by("pk"))


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    yield
    with contextlib.suppress(Exception):
        cache.clear()


class LiveAsgiServer:
    """The project's ASGI application (HTTP + WebSockets) under uvicorn, in a thread of the test process."""

    def __init__(self) -> None:
        import uvicorn

        from config.asgi import application
        from ingest.ports import free_port

        self.port = free_port()
        config = uvicorn.Config(application, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-asgi", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveAsgiServer":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_asgi(transactional_db) -> Iterator[LiveAsgiServer]:
    server = LiveAsgiServer().start()
    yield server
    server.stop()
