"""Fixtures shared by the whole suite: a small plant wired to a real Modbus TCP simulator, a live ASGI server."""

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from demo.simulator.modbus_server import PlantServerThread
from historian.models import Device, Machine, ScanClass, Tag
from ingest.acquisition.poll import Polling
from ingest.pipeline.context import IngestContext
from tests.simulated_plant import plant_simulator
from tests.timescale.harness import UNAVAILABLE_VAR
from tests.waiting import wait_until

pytest_plugins = ["tests.opcua_fixtures", "tests.browser"]  # shared fixtures: the OPC UA servers, the browser

# Tests in these folders and modules (under tests/) also run against TimescaleDB; any other test opts in with
# @pytest.mark.timescale. With MILLWRIGHT_TEST_BACKEND=timescaledb (`make test`'s second run) only those run.
TIMESCALE_PATHS = (
    "historian/queries",
    "historian/storage",
    *(f"historian/services/test_{name}.py" for name in ("samples", "text_samples", "retention", "rollups")),
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        if any(item.path.is_relative_to(tests_dir / path) for path in TIMESCALE_PATHS):
            item.add_marker(pytest.mark.timescale)
    if settings.TEST_BACKEND != "timescaledb":
        return
    selected = [item for item in items if item.get_closest_marker("timescale")]
    config.hook.pytest_deselected(items=[item for item in items if not item.get_closest_marker("timescale")])
    items[:] = selected
    unavailable = os.environ.get(UNAVAILABLE_VAR)
    for item in items:
        if unavailable:
            item.add_marker(pytest.mark.skip(reason=f"TimescaleDB backend unavailable: {unavailable}"))
        elif item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason="tests the plain-PostgreSQL storage layout"))


@pytest.fixture
def plant_server() -> Iterator[PlantServerThread]:
    """A real Modbus TCP server on a free loopback port, serving a 1-line x 2-machine simulated plant."""
    with PlantServerThread(plant_simulator(lines=1, machines_per_line=2, seed=7), tick_seconds=0.2) as server:
        yield server


@pytest.fixture
def demo_plant(db, plant_server):
    """The demo plant model (1 line, 2 machines) pointed at `plant_server`."""
    from demo.plant import demo_plant_load

    demo_plant_load(host=plant_server.host, port=plant_server.port, lines=1, machines_per_line=2)


@pytest.fixture
def polling() -> Iterator[Polling]:
    """What this test's polls remember (store context, open drivers, source times ...), as a poller's; closed after."""
    state = Polling()
    yield state
    state.close()


@pytest.fixture
def ingest_context(polling) -> IngestContext:
    """This test's writer of values: the store state of `polling`, so polls and direct stores share it."""
    return polling.ingest


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


@pytest.fixture
def program(machine, device, scan_class) -> Tag:
    """A string tag of the demo machine on the demo device: 4 registers the simulator leaves at 0 (an empty text)."""
    return Tag.objects.create(
        path="Demo/program",
        name="program",
        machine=machine,
        device=device,
        scan_class=scan_class,
        address="HR90:4",
        data_type="string",
        is_key=True,
    )


@pytest.fixture(autouse=True)
def _ingest_isolation(settings, tmp_path) -> None:
    """Each test its own store-and-forward buffer file (the default one is per host, shared by every run)."""
    settings.INGEST_BUFFER_PATH = str(tmp_path / "ingest-buffer.sqlite")
    settings.INGEST_EDGE_OUTBOX_PATH = str(tmp_path / "edge-outbox.sqlite")


@pytest.fixture
def make_user(db):
    """`make_user("operator")`: a user holding one role (accounts/services/roles.py), password pw-<name>-1.

    The fixture form of tests/factories.py's UserFactory, for tests that take their data as fixtures."""
    from accounts.services.roles import Role
    from tests.factories import UserFactory

    def make(username: str, *, role: Role | None = Role.OPERATOR, password: str | None = None):
        return UserFactory(username=username, role=role, **({"password": password} if password else {}))

    return make


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs) -> None:
    """The controller's own embedded servers stay its own: its workers (started next, inheriting its environment)
    start theirs (config/settings/test.py). Shared, one worker's `cache.clear()` after each test emptied the Redis
    the other worker's test was using: leases, queues and version tokens vanished mid-test."""
    for name in getattr(settings, "EMBEDDED_TEST_VARS", ()):
        os.environ.pop(name, None)


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    yield
    with contextlib.suppress(Exception):
        cache.clear()


@pytest.fixture(autouse=True)
def _fresh_channel_layers() -> Iterator[None]:
    """Each test its own channel layers. A test's event loop ends with the test, and channels_redis keeps asyncio
    locks on the layer object (its receive and per-channel clean locks), bound to the loop that used them first: a
    receive still finishing when a loop ended left the next test's consumers "bound to a different event loop".
    A web process has one loop for its life; only the tests make one per test."""
    yield
    from channels.layers import channel_layers

    channel_layers.backends.clear()


class LiveAsgiServer:
    """The project's ASGI application (HTTP + WebSockets) under uvicorn, in a thread of the test process."""

    def __init__(self, application=None) -> None:
        import uvicorn

        from common.net import free_port

        if application is None:
            from config.asgi import application

        self.port = free_port()
        config = uvicorn.Config(application, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-asgi", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveAsgiServer":
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), timeout=15, what="uvicorn to start")
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")
        return self

    def stop(self) -> None:
        from channels.layers import channel_layers

        self.server.should_exit = True
        self.thread.join(10)
        # A consumer still receiving when the server's loop stopped leaves the shared channel layer locked to that
        # dead loop ("Two event loops are trying to receive()"): the next test gets fresh layers.
        channel_layers.backends.clear()


@pytest.fixture
def live_asgi(transactional_db) -> Iterator[LiveAsgiServer]:
    server = LiveAsgiServer().start()
    yield server
    server.stop()
