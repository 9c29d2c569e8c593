"""Trust on first use for OPC UA server certificates: the certificate a server presents on the first secure
connection is pinned to its device, and a different one later is refused (ingest.protocols.opcua.client) until an
administrator trusts it (device admin). Pinning is in the audit trail."""

import logging

from audit.models import AuditAction
from audit.services.events import audit_record
from historian.models import Device, Protocol
from ingest.pipeline.store import DATABASE_DOWN_ERRORS, database_connection_reset
from ingest.protocols.base import Driver
from ingest.protocols.opcua.configure import opcua_server_certificate_pin
from ingest.protocols.opcua.driver import OpcUaDriver

logger = logging.getLogger(__name__)


def opcua_certificate_pin_on_first_use(*, device: Device, driver: Driver) -> bool:
    """Pin the server certificate `driver` was presented, if `device` is secure and trusts none yet."""
    if device.protocol != Protocol.OPCUA or device.security_policy == "None" or device.server_certificate:
        return False
    if not isinstance(driver, OpcUaDriver) or not driver.peer_certificate:
        return False
    try:
        thumbprint = opcua_server_certificate_pin(device=device, certificate=driver.peer_certificate)
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
