"""OPC UA servers shared by the ingest and demo tests: plain, secure, and a client PKI.

Session-scoped: an asyncua server takes about a second to start, a secure one a little longer.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.simulator.opcua_server import OpcUaPlantServerThread
from demo.simulator.plant import PlantSimulator
from ingest.protocols.opcua.driver import opcua_client_certificate_generate

OPCUA_USER = "operator"
OPCUA_PASSWORD = "s3cret-Pass"


@pytest.fixture(scope="session")
def opcua_plant_server() -> Iterator[OpcUaPlantServerThread]:
    """The 1-line x 2-machine plant over OPC UA, no security, anonymous logins."""
    with OpcUaPlantServerThread(PlantSimulator(lines=1, machines_per_line=2, seed=7), tick_seconds=0.2) as server:
        yield server


@pytest.fixture(scope="session")
def opcua_secure_server(tmp_path_factory) -> Iterator[OpcUaPlantServerThread]:
    """The plant over OPC UA with Basic256Sha256 Sign and SignAndEncrypt only, user name and password required."""
    cert_dir = tmp_path_factory.mktemp("opcua-server-pki")
    with OpcUaPlantServerThread(
        PlantSimulator(lines=1, machines_per_line=2, seed=7),
        tick_seconds=0.2,
        security_modes=("Sign", "SignAndEncrypt"),
        users={OPCUA_USER: OPCUA_PASSWORD},
        cert_dir=cert_dir,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def opcua_client_pki(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed client certificate and key: (certificate path, key path)."""
    return opcua_client_certificate_generate(directory=tmp_path_factory.mktemp("opcua-client-pki"))
