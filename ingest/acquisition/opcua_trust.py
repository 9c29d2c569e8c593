"""Trust on first use for OPC UA server certificates: the certificate a server presents on the first secure
connection is pinned to its device, and a different one later is refused (ingest.protocols.opcua.client) until an
administrator trusts it (device admin). Pinning is in the audit trail; a refusal is a security event
(CERTIFICATE_CHANGED, both thumbprints as evidence), reported once for each certificate offered by each owner of
the connections (a poller's `Polling`, the `SubscriptionRunner`), which keeps that memory in its
`CertificateRefusals`. Both the polled and the subscribed path pin and refuse the same way."""

import logging
import threading

from django.utils import timezone

from audit.models import AuditAction
from audit.services.events import audit_record
from historian.models import Device, Protocol
from ingest.pipeline.store import DATABASE_DOWN_ERRORS, database_connection_reset
from ingest.protocols.base import Driver
from ingest.protocols.opcua.client import ServerCertificateChanged
from ingest.protocols.opcua.configure import opcua_server_certificate_pin
from ingest.protocols.opcua.driver import OpcUaDriver
from inventory.security_events import SecurityEvent, SecurityEventKind, report_security_event

logger = logging.getLogger(__name__)


def opcua_certificate_pin_on_first_use(*, device: Device, driver: Driver) -> bool:
    """Pin the server certificate `driver` was presented, if `device` is secure and trusts none yet."""
    if not isinstance(driver, OpcUaDriver):
        return False
    return opcua_certificate_pin_offered(device=device, certificate=driver.peer_certificate)


def opcua_certificate_pin_offered(*, device: Device, certificate: bytes | None) -> bool:
    """Pin `certificate` (DER, presented on a secure connection that came up), if `device` is secure and trusts none
    yet; True if pinned."""
    if device.protocol != Protocol.OPCUA or device.security_policy == "None" or device.server_certificate:
        return False
    if not certificate:
        return False
    try:
        thumbprint = opcua_server_certificate_pin(device=device, certificate=certificate)
        audit_record(
            actor=None,
            action=AuditAction.OPCUA_SERVER_CERTIFICATE_PINNED,
            target=device.name,
            details={"device": device.pk, "sha256": thumbprint},
        )
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
        return False
    logger.info("%s: server certificate SHA-256 %s trusted on first use", device, thumbprint)
    return True


class CertificateRefusals:
    """The refused certificates one owner of connections has reported: (device, trusted, offered) triples.

    Polls and subscriptions retry with backoff while a certificate stays refused: each triple is reported once by
    its owner, so the alarm is raised once rather than again after every acknowledgement. Thread-safe (a poller
    polls devices from a pool of threads)."""

    def __init__(self) -> None:
        self._reported: set[tuple[int, str, str]] = set()
        self._lock = threading.Lock()

    def claim(self, key: tuple[int, str, str]) -> bool:
        """True the first time `key` is seen (the caller reports it)."""
        with self._lock:
            if key in self._reported:
                return False
            self._reported.add(key)
            return True

    def forget(self, key: tuple[int, str, str]) -> None:
        with self._lock:
            self._reported.discard(key)


def opcua_certificate_refused(*, device: Device, error: BaseException | None, refusals: CertificateRefusals) -> bool:
    """Report a refused changed certificate (`error` from the connect) as a security event; True if reported.

    Reported once per (device, trusted, offered) for `refusals`' owner (see CertificateRefusals)."""
    if not isinstance(error, ServerCertificateChanged):
        return False
    key = (device.pk, error.trusted_sha256, error.offered_sha256)
    if not refusals.claim(key):
        return False
    try:
        report_security_event(
            SecurityEvent(
                kind=SecurityEventKind.CERTIFICATE_CHANGED,
                subject=f"opcua-device:{device.pk}",
                message=f"{device.name}: the OPC UA server offers another certificate than the trusted one; refused",
                at=timezone.now(),
                evidence={
                    "device": device.name,
                    "endpoint": f"{device.host}:{device.port}",
                    "trusted_sha256": error.trusted_sha256,
                    "offered_sha256": error.offered_sha256,
                    "refusal": str(error),
                },
                device_id=device.pk,
            )
        )
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
        refusals.forget(key)  # told again on the next refusal
        return False
    return True
