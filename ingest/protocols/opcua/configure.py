"""OPC UA configuration services: browse a server's address space, create tags from its variables, store PKI files."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from historian.models import Device, Machine, Protocol, ScanClass, Tag
from ingest.protocols.opcua.certificates import opcua_client_certificate_generate
from ingest.protocols.opcua.client import certificate_sha256
from ingest.protocols.opcua.driver import BrowseNode, OpcUaDriver, OpcUaSettings

MAX_BROWSE_DEPTH = 8


def opcua_browse(*, device: Device, node_id: str | None = None, depth: int = 4) -> list[BrowseNode]:
    """The address space below `node_id` (default: Objects), `depth` levels deep.

    Raises DeviceUnreachable (with the reason) when the server cannot be reached or refuses the login.
    """
    if device.protocol != Protocol.OPCUA:
        raise ValueError(f"{device} is not an OPC UA device")
    depth = max(1, min(depth, MAX_BROWSE_DEPTH))
    with OpcUaDriver(OpcUaSettings.from_device(device)) as driver:
        return driver.browse(node_id, depth=depth)


@dataclass
class TagsCreated:
    created: list[Tag] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<node>: why", for the person who chose it


def opcua_tag_path(machine: Machine, name: str) -> str:
    line = machine.line
    return f"{line.area.site.name}/{line.area.name}/{line.name}/{machine.name}.{name}"


@transaction.atomic
def opcua_tags_create(
    *, device: Device, machine: Machine, scan_class: ScanClass, nodes: Sequence[BrowseNode]
) -> TagsCreated:
    """A tag per chosen variable: address = its node id (namespace by URI, see driver.browse_address), data type
    from its OPC UA type, units and span from its EngineeringUnits and EURange properties. Variables we cannot
    store and paths already taken are skipped."""
    result = TagsCreated()
    machine = Machine.objects.select_related("line__area__site").get(pk=machine.pk)
    for node in nodes:
        if node.node_class != "Variable" or node.data_type is None:
            kind = node.ua_data_type or node.node_class
            result.skipped.append(f"{node.node_id}: {kind} is not a number, a tag cannot store it")
            continue
        path = opcua_tag_path(machine, node.browse_name)
        if Tag.objects.filter(path=path).exists():
            result.skipped.append(f"{node.node_id}: a tag {path!r} exists already")
            continue
        span = node.eu_range or ((0.0, 1.0) if node.data_type == "bool" else (0.0, 100.0))
        tag = Tag(
            path=path,
            name=(node.display_name or node.browse_name)[:100],
            machine=machine,
            device=device,
            scan_class=scan_class,
            address=node.node_id,
            data_type=node.data_type,
            units=node.units[:20],
            span_low=span[0],
            span_high=span[1],
            description=node.description,
        )
        try:
            tag.full_clean(validate_unique=False)
        except ValidationError as exc:
            result.skipped.append(f"{node.node_id}: {'; '.join(exc.messages)}")
            continue
        tag.save()
        result.created.append(tag)
    return result


def opcua_pki_dir(device: Device) -> Path:
    return Path(settings.MILLWRIGHT_STATE_DIR) / "opcua" / f"device-{device.pk}"


def device_opcua_pki_check(
    *,
    client_certificate: bytes | None = None,
    client_private_key: bytes | None = None,
    server_certificate: bytes | None = None,
) -> dict[str, str]:
    """The file name suffix (pem / der) for each given file; ValidationError (per field) for one that is not a
    certificate, or not an unencrypted private key."""
    checks = {
        "client_certificate": (client_certificate, _check_certificate),
        "client_private_key": (client_private_key, _check_private_key),
        "server_certificate": (server_certificate, _check_certificate),
    }
    errors: dict[str, str] = {}
    suffixes: dict[str, str] = {}
    for name, (data, check) in checks.items():
        if data is None:
            continue
        try:
            suffixes[name] = check(data)
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise ValidationError(errors)
    return suffixes


_STEMS = {"client_certificate": "client-cert", "client_private_key": "client-key", "server_certificate": "server-cert"}


def device_opcua_client_certificate_generate(*, device: Device) -> str:
    """A new self-signed client certificate and key for `device` (its server must then trust the certificate),
    kept like uploaded ones; the server certificate it trusts is left as it is. Returns the certificate's SHA-256."""
    with tempfile.TemporaryDirectory() as scratch:
        cert, key = opcua_client_certificate_generate(directory=Path(scratch))
        certificate, private_key = cert.read_bytes(), key.read_bytes()
    device_opcua_pki_store(device=device, client_certificate=certificate, client_private_key=private_key)
    return certificate_sha256(certificate)


def opcua_server_certificate_pin(*, device: Device, certificate: bytes) -> str:
    """Trust `certificate` (DER) as `device`'s server certificate from now on; returns its SHA-256."""
    device_opcua_pki_store(device=device, server_certificate=certificate)
    return certificate_sha256(certificate)


def opcua_server_certificate_unpin(*, device: Device) -> str:
    """Forget the pinned server certificate: the next secure connection pins what the server offers then.
    Returns the SHA-256 that was trusted ("" if none)."""
    thumbprint = certificate_thumbprint(device.server_certificate)
    device.server_certificate = ""
    device.save(update_fields=["server_certificate"])
    return thumbprint


def certificate_thumbprint(path: str) -> str:
    """SHA-256 of the certificate at `path` (PEM or DER), as shown in admin; "" when there is none."""
    if not path or not Path(path).is_file():
        return ""
    return certificate_sha256(Path(path).read_bytes())


def device_opcua_pki_store(
    *,
    device: Device,
    client_certificate: bytes | None = None,
    client_private_key: bytes | None = None,
    server_certificate: bytes | None = None,
) -> Device:
    """Keep uploaded certificates / key (PEM or DER) under MILLWRIGHT_STATE_DIR (owner-only) and point the device
    at them. Checks them first (device_opcua_pki_check): nothing is written when one is wrong."""
    files = {
        "client_certificate": client_certificate,
        "client_private_key": client_private_key,
        "server_certificate": server_certificate,
    }
    suffixes = device_opcua_pki_check(**files)
    if not suffixes:
        return device
    folder = opcua_pki_dir(device)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for name, suffix in suffixes.items():
        path = folder / f"{_STEMS[name]}.{suffix}"
        path.write_bytes(files[name])  # type: ignore[arg-type]
        path.chmod(0o600)
        setattr(device, name, str(path))
    device.save(update_fields=list(suffixes))
    return device


def _check_certificate(data: bytes) -> str:
    try:
        if b"-----BEGIN" in data:
            x509.load_pem_x509_certificate(data)
            return "pem"
        x509.load_der_x509_certificate(data)
        return "der"
    except ValueError:
        raise ValueError("This is not an X.509 certificate (PEM or DER).") from None


def _check_private_key(data: bytes) -> str:
    try:
        if b"-----BEGIN" in data:
            serialization.load_pem_private_key(data, password=None)
            return "pem"
        serialization.load_der_private_key(data, password=None)
        return "der"
    except TypeError:
        raise ValueError("The private key is encrypted: upload it without a password.") from None
    except ValueError:
        raise ValueError("This is not a private key (PEM or DER).") from None
