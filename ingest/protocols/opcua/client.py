"""Connecting to an OPC UA server: settings, security and login, errors a person can act on, node ids resolved
against the server's namespace table.

Every connection goes through `opcua_connect`, which turns asyncua's errors into DeviceUnreachable with a sentence
a person can act on (wrong password, certificate rejected, no such endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.crypto import security_policies
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from historian.addresses import InvalidTagAddress
from historian.quality import Quality
from ingest.protocols.base import DeviceUnreachable, PointReading, PointRequest
from ingest.protocols.opcua.address import OpcUaNodeId, parse_opcua_address

CLIENT_APPLICATION_URI = "urn:millwright:client"

_S = ua.StatusCodes
_LOGIN_REJECTED = {
    _S.BadUserAccessDenied,
    _S.BadIdentityTokenInvalid,
    _S.BadIdentityTokenRejected,
    _S.BadUserSignatureInvalid,
}
_CERTIFICATE_REJECTED = {
    _S.BadCertificateInvalid,
    _S.BadCertificateUntrusted,
    _S.BadCertificateTimeInvalid,
    _S.BadCertificateHostNameInvalid,
    _S.BadCertificateUriInvalid,
    _S.BadCertificateUseNotAllowed,
    _S.BadCertificateRevoked,
    _S.BadSecurityChecksFailed,
    _S.BadSecurityPolicyRejected,
}


@dataclass(frozen=True)
class OpcUaSettings:
    """How to reach and log in to one OPC UA server."""

    endpoint: str
    security_policy: str = "None"  # None | Basic256Sha256
    security_mode: str = "None"  # None | Sign | SignAndEncrypt
    client_certificate: str = ""
    client_private_key: str = ""
    server_certificate: str = ""  # pinned server certificate; empty: the one the server's endpoint shows
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 4.0

    @classmethod
    def from_device(cls, device: Any) -> OpcUaSettings:
        return cls(
            endpoint=device.opcua_endpoint,
            security_policy=device.security_policy,
            security_mode=device.security_mode,
            client_certificate=device.client_certificate,
            client_private_key=device.client_private_key,
            server_certificate=device.server_certificate,
            username=device.username,
            password=device.password,
            timeout=device.timeout_seconds,
        )


def _application_uri(certificate_path: str) -> str:
    """The URI in the client certificate's SubjectAltName: servers check it against our application URI."""
    with contextlib.suppress(Exception):
        data = Path(certificate_path).read_bytes()
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
        if uris:
            return uris[0]
    return CLIENT_APPLICATION_URI


async def opcua_connect(settings: OpcUaSettings) -> Client:
    """A connected, activated asyncua Client; raises DeviceUnreachable with a readable reason."""
    # asyncua probes the server every watchdog interval, with that interval as the probe's timeout: at its 1 s
    # default a server busy for a second (creating thousands of monitored items) counts as lost.
    client = Client(settings.endpoint, timeout=settings.timeout, watchdog_intervall=max(5.0, 2 * settings.timeout))
    client.session_timeout = 600_000  # asyncua asks for an hour, servers commonly revise to 10 min
    where = f"OPC UA server {settings.endpoint}"
    try:
        if settings.security_policy != "None":
            policy = getattr(security_policies, f"SecurityPolicy{settings.security_policy}", None)
            if policy is None:
                raise DeviceUnreachable(f"{where}: unsupported security policy {settings.security_policy!r}")
            for path in (settings.client_certificate, settings.client_private_key, settings.server_certificate):
                if path and not await asyncio.to_thread(Path(path).is_file):
                    raise DeviceUnreachable(f"{where}: certificate or key file {path!r} does not exist")
            client.application_uri = await asyncio.to_thread(_application_uri, settings.client_certificate)
            await client.set_security(
                policy,
                settings.client_certificate,
                settings.client_private_key,
                server_certificate=settings.server_certificate or None,
                mode=getattr(ua.MessageSecurityMode, settings.security_mode),
            )
        if settings.username:
            client.set_user(settings.username)
            client.set_password(settings.password)
        await client.connect()
    except DeviceUnreachable:
        await disconnect_quietly(client)
        raise
    except Exception as exc:
        await disconnect_quietly(client)
        changed = await _pinned_certificate_changed(settings)
        if changed:
            raise changed from exc
        raise DeviceUnreachable(connect_error_text(settings, exc)) from exc
    return client


def certificate_der(data: bytes) -> bytes:
    """A certificate as DER, from PEM or DER."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return data


def certificate_sha256(data: bytes) -> str:
    """A certificate's thumbprint as shown to people (admin, audit trail, inventory): SHA-256 of its DER form."""
    return hashlib.sha256(certificate_der(data)).hexdigest()


class ServerCertificateChanged(DeviceUnreachable):
    """The server offers another certificate than the one pinned: refused (the thumbprints, in full, for alarms)."""

    def __init__(self, message: str, *, trusted_sha256: str, offered_sha256: str) -> None:
        super().__init__(message)
        self.trusted_sha256 = trusted_sha256
        self.offered_sha256 = offered_sha256


async def _pinned_certificate_changed(settings: OpcUaSettings) -> ServerCertificateChanged | None:
    """Why a secure connect failed when the server now offers another certificate than the one pinned; else None.

    A changed server certificate is refused (it may be a replaced PLC, or a machine in the middle): the link stays
    down until an administrator trusts the new certificate in the device admin."""
    if settings.security_policy == "None" or not settings.server_certificate:
        return None
    try:
        pinned = certificate_der(await asyncio.to_thread(Path(settings.server_certificate).read_bytes))
        probe = Client(settings.endpoint, timeout=settings.timeout)
        endpoints = await probe.connect_and_get_server_endpoints()
    except Exception:
        return None
    offered = {e.ServerCertificate for e in endpoints if e.ServerCertificate}
    if not offered or pinned in offered:
        return None
    new, old = certificate_sha256(min(offered)), certificate_sha256(pinned)
    return ServerCertificateChanged(
        f"OPC UA server {settings.endpoint}: its certificate changed (trusted SHA-256 {old[:16]}..., now offered "
        f"{new[:16]}...); refused until an administrator trusts the new certificate (device admin)",
        trusted_sha256=old,
        offered_sha256=new,
    )


def connect_error_text(settings: OpcUaSettings, exc: BaseException) -> str:
    where = f"OPC UA server {settings.endpoint}"
    code = getattr(exc, "code", None)
    if isinstance(exc, ua.UaStatusCodeError) and code is not None:
        name = ua.StatusCode(code).name
        base = code & 0xFFFF0000
        if base in _LOGIN_REJECTED:
            if settings.username:
                return f"{where} rejected the login of user {settings.username!r}: wrong user name or password ({name})"
            return f"{where} rejected an anonymous login: it needs a user name and password ({name})"
        if base in _CERTIFICATE_REJECTED:
            return f"{where} rejected the secure connection: the server does not trust the client certificate ({name})"
        return f"{where}: {name}"
    if isinstance(exc, ua.UaError) and "endpoint" in str(exc).lower():
        return (
            f"{where} offers no endpoint with security policy {settings.security_policy} and mode "
            f"{settings.security_mode}: set the device's security to one the server offers ({exc})"
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"cannot connect to {where}: no answer within {settings.timeout:g} s"
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return f"cannot connect to {where}: {type(exc).__name__}: {exc}"


async def disconnect_quietly(client: Client) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 2.0)
    with contextlib.suppress(Exception):
        client.disconnect_socket()


class NamespaceResolver:
    """Turns parsed node ids into ua.NodeId, resolving ``nsu=`` URIs against the server's namespace array."""

    def __init__(self, namespaces: Sequence[str]) -> None:
        self._index = {uri: i for i, uri in enumerate(namespaces)}

    def node_id(self, parsed: OpcUaNodeId) -> ua.NodeId | None:
        # Exactly one of namespace_uri / namespace_index is set (OpcUaNodeId).
        ns = parsed.namespace_index if parsed.namespace_uri is None else self._index.get(parsed.namespace_uri)
        if ns is None:
            return None
        kind = {
            "i": ua.NodeIdType.Numeric,
            "s": ua.NodeIdType.String,
            "g": ua.NodeIdType.Guid,
            "b": ua.NodeIdType.ByteString,
        }[parsed.kind]
        if (
            kind == ua.NodeIdType.Numeric
            and isinstance(parsed.identifier, int)
            and parsed.identifier <= 255
            and ns == 0
        ):
            kind = ua.NodeIdType.TwoByte
        return ua_node_id(parsed.identifier, ns, kind)


def ua_node_id(
    identifier: int | str | uuid.UUID | bytes, namespace_index: int, kind: ua.NodeIdType | None = None
) -> ua.NodeId:
    """ua.NodeId of plain values: asyncua annotates its fields with its own subclasses (ua.Int32, ua.String...),
    but takes (and its decoder makes) plain ints, strings, UUIDs and bytes."""
    return ua.NodeId(identifier, namespace_index, kind)  # type: ignore[arg-type]  # asyncua's annotations, above


def parse_address(address: str, data_type: str) -> OpcUaNodeId | InvalidTagAddress:
    try:
        return parse_opcua_address(address, data_type)
    except InvalidTagAddress as exc:
        return exc


def unresolved_reading(point: PointRequest, parsed: OpcUaNodeId | InvalidTagAddress) -> PointReading:
    reason = str(parsed) if isinstance(parsed, InvalidTagAddress) else f"{point.address}: unknown namespace URI"
    return PointReading(point.tag_id, None, Quality.BAD_CONFIG_ERROR, reason)
