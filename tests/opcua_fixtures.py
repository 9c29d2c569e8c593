"""OPC UA servers shared by the ingest and demo tests: plain, secure, and a client PKI.

Session-scoped: an asyncua server takes about a second to start, a secure one a little longer.
"""

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Self

import pytest
from asyncua import Server, ua

from common.net import free_port
from demo.simulator.modbus_server import ReadyCallback, ServerThread
from demo.simulator.opcua_server import OpcUaPlantServerThread
from ingest.protocols.opcua.driver import opcua_client_certificate_generate
from tests.simulated_plant import plant_simulator

OPCUA_USER = "operator"
OPCUA_PASSWORD = "s3cret-Pass"
#: An asyncua server builds its standard address space before it listens: seconds on a busy two-core machine.
START_TIMEOUT = 60.0


@contextmanager
def opcua_plant_serving(*, seed: int) -> Iterator[OpcUaPlantServerThread]:
    """A 1-line x 2-machine plant over OPC UA, no security, anonymous logins: started (up to START_TIMEOUT), stopped
    on leaving. Tests that change its machines take one of their own with their own seed."""
    server = OpcUaPlantServerThread(plant_simulator(lines=1, machines_per_line=2, seed=seed), tick_seconds=0.2)
    server.start(timeout=START_TIMEOUT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def opcua_plant_server() -> Iterator[OpcUaPlantServerThread]:
    """The 1-line x 2-machine plant over OPC UA, no security, anonymous logins."""
    with opcua_plant_serving(seed=7) as server:
        yield server


@pytest.fixture(scope="session")
def opcua_secure_server(tmp_path_factory) -> Iterator[OpcUaPlantServerThread]:
    """The plant over OPC UA with Basic256Sha256 Sign and SignAndEncrypt only, user name and password required."""
    cert_dir = tmp_path_factory.mktemp("opcua-server-pki")
    server = OpcUaPlantServerThread(
        plant_simulator(lines=1, machines_per_line=2, seed=7),
        tick_seconds=0.2,
        security_modes=("Sign", "SignAndEncrypt"),
        users={OPCUA_USER: OPCUA_PASSWORD},
        cert_dir=cert_dir,
    )
    server.start(timeout=START_TIMEOUT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def opcua_client_pki(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed client certificate and key: (certificate path, key path)."""
    return opcua_client_certificate_generate(directory=tmp_path_factory.mktemp("opcua-client-pki"))


class OpcUaVariablesServer(ServerThread):
    """An asyncua server holding the given variables, each at ``s=<name>`` in its namespace URI.

    `namespaces` are registered in this order (the first gets index 2, unless `before` URIs are registered ahead
    of them: a server whose namespace table changed order). `variables` maps a name to (namespace URI, value,
    variant type). `write()` sets a value with the timestamps and status code a test chooses.
    """

    def __init__(
        self,
        variables: Mapping[str, tuple[str, object, ua.VariantType]],
        *,
        namespaces: Sequence[str],
        before: Sequence[str] = (),
        port: int = 0,
    ) -> None:
        self._port = port or free_port()
        self.node_ids: dict[str, ua.NodeId] = {}
        self.namespace_index: dict[str, int] = {}
        self._server: Server | None = None

        async def serve(ready: ReadyCallback) -> None:
            server = Server()
            await server.init()
            server.set_endpoint(f"opc.tcp://127.0.0.1:{self._port}/")
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            for uri in [*before, *namespaces]:
                self.namespace_index[uri] = await server.register_namespace(uri)
            folder_ns = self.namespace_index[namespaces[0]]
            folder = await server.nodes.objects.add_folder(
                ua.NodeId("Test", folder_ns), ua.QualifiedName("Test", folder_ns)
            )
            for name, (uri, value, kind) in variables.items():
                ns = self.namespace_index[uri]
                node = await folder.add_variable(ua.NodeId(name, ns), name, ua.Variant(value, kind), varianttype=kind)
                self.node_ids[name] = node.nodeid
            self._server = server
            await server.start()
            try:
                ready(("127.0.0.1", self._port))
                await asyncio.Event().wait()
            finally:
                await server.stop()

        super().__init__(serve, name="opcua-variables-server")

    def start(self, timeout: float = START_TIMEOUT) -> Self:
        """As ServerThread.start, with room for a loaded machine (an asyncua server builds its standard nodes)."""
        return super().start(timeout)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/"

    def write(
        self,
        name: str,
        value: object,
        kind: ua.VariantType,
        *,
        source_timestamp: datetime | None = None,
        server_timestamp: datetime | None = None,
        status: int = ua.StatusCodes.Good,
    ) -> None:
        """Set `name`'s value as a PLC would, with exactly these timestamps (None: left out)."""
        assert self._server is not None
        assert self._loop is not None
        data_value = ua.DataValue(
            ua.Variant(value, kind),
            StatusCode=ua.StatusCode(status),
            SourceTimestamp=source_timestamp,
            ServerTimestamp=server_timestamp,
        )
        coro = self._server.write_attribute_value(self.node_ids[name], data_value)
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)
