"""The client certificate Millwright shows an OPC UA server that asks for signed or encrypted connections."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from ingest.protocols.opcua.client import CLIENT_APPLICATION_URI


def opcua_client_certificate_generate(
    *, directory: Path, application_uri: str = CLIENT_APPLICATION_URI, host_name: str | None = None
) -> tuple[Path, Path]:
    """A self-signed client certificate (DER) and private key (PEM) in `directory`, kept if already valid.

    Returns (certificate path, key path). The server must trust the certificate (most do after an operator
    accepts it once; the simulator trusts every client).
    """
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "client-cert.der", directory / "client-key.pem"
    asyncio.run(
        setup_self_signed_certificate(
            key,
            cert,
            application_uri,
            host_name or socket.gethostname(),
            [ExtendedKeyUsageOID.CLIENT_AUTH],
            {"commonName": "Millwright"},
        )
    )
    return cert, key
