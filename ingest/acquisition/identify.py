"""Asking polled devices what they are, for the asset inventory: at the first poll, then every few minutes.

A device swapped for another, or given new firmware, is noticed within INVENTORY_IDENTIFY_SECONDS. Identifying
never disturbs polling: a device that cannot say, a link that drops or a database away only means no observation.

OPC UA servers also say which endpoints they offer (security mode and policy, login types): the first set is the
baseline on the asset, and a later weaker one (inventory.services.baseline.endpoints_weakened) is reported as a
WEAKER_ENDPOINT_SECURITY security event, once, with the sets before and after. A device that answered
identification before and now does not (it still answers polls) is reported as COMMUNICATION_CHANGED, once until
it answers again.
"""

import logging
import time
from datetime import datetime

from django.conf import settings

from historian.models import Device, Protocol
from ingest.acquisition.security import security_report
from ingest.pipeline.store import DATABASE_DOWN_ERRORS, database_connection_reset
from ingest.protocols.base import DeviceUnreachable, Driver
from inventory.queries import asset_answered_identification
from inventory.security_events import SecurityEvent, SecurityEventKind
from inventory.services.assets import asset_observe
from inventory.services.baseline import asset_endpoints_observe

logger = logging.getLogger(__name__)


class IdentifySchedule:
    """When each device was last asked (monotonic seconds), by one poller (Polling) or subscription runner."""

    def __init__(self) -> None:
        self._asked: dict[int, float] = {}
        self._refusing: set[int] = set()  # devices found not answering identification they used to answer

    def due(self, device_id: int, *, now: float) -> bool:
        asked = self._asked.get(device_id)
        return asked is None or now - asked >= settings.INVENTORY_IDENTIFY_SECONDS

    def asked(self, device_id: int, *, now: float) -> None:
        self._asked[device_id] = now

    def refused(self, device_id: int, refuses: bool) -> bool:
        """Record whether the device now refuses identification; True when that is new."""
        new = refuses and device_id not in self._refusing
        if refuses:
            self._refusing.add(device_id)
        else:
            self._refusing.discard(device_id)
        return new


def device_address(device: Device) -> str:
    """Where Millwright reaches the device: the OPC UA endpoint, or the Modbus host:port."""
    return device.opcua_endpoint if device.protocol == Protocol.OPCUA else f"{device.host}:{device.port}"


def device_asset_key(device: Device) -> str:
    """The asset a device is: its address, and the unit id behind a Modbus address (one gateway, several PLCs)."""
    address = device_address(device)
    return address if device.protocol == Protocol.OPCUA else f"{address}/{device.unit_id}"


def device_identify_when_due(
    *, device: Device, driver: Driver, schedule: IdentifySchedule, observed_at: datetime
) -> bool:
    """Ask `device` what it is if it is due, and record the answer; True when an observation was recorded."""
    now = time.monotonic()
    if not schedule.due(device.pk, now=now):
        return False
    schedule.asked(device.pk, now=now)
    try:
        identity = driver.identify()
    except DeviceUnreachable as exc:
        logger.info("%s: device identification not read: %s", device, exc)
        return False
    # A server that offers its endpoints but says nothing about itself has not answered identification.
    answered = identity is not None and bool(identity.fields or identity.certificate_thumbprint)
    try:
        if schedule.refused(device.pk, not answered):
            _identification_refused(device, observed_at)
        asset_observe(
            protocol=device.protocol,
            key=device_asset_key(device),
            observed_at=observed_at,
            device_id=device.pk,
            name=device.name,
            addresses=[device_address(device)],
            identity=identity.fields if identity is not None and answered else None,
            certificate_thumbprint=identity.certificate_thumbprint if identity is not None and answered else None,
        )
        if identity is not None and identity.endpoints is not None:
            _endpoints_check(device, identity.endpoints, observed_at)
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
        schedule.asked(device.pk, now=now - settings.INVENTORY_IDENTIFY_SECONDS)  # ask again at the next poll
        return False
    return True


def _endpoints_check(device: Device, endpoints: list[dict[str, str]], observed_at: datetime) -> None:
    """Record the OPC UA endpoints offered (the baseline) and report a weaker set than before."""
    observed = asset_endpoints_observe(
        protocol=device.protocol, key=device_asset_key(device), endpoints=endpoints, observed_at=observed_at
    )
    if observed is None or not observed.weakened:
        return
    security_report(
        SecurityEvent(
            kind=SecurityEventKind.WEAKER_ENDPOINT_SECURITY,
            subject=f"asset:{observed.asset.pk}:endpoints",
            message=f"OPC UA server {device_address(device)} ({device.name}) offers weaker security: "
            + "; ".join(observed.weakened),
            at=observed_at,
            evidence={
                "endpoint": device_address(device),
                "reasons": observed.weakened,
                "before": observed.before,
                "after": observed.after,
                "observed_at": observed_at.isoformat(),
            },
            asset_id=observed.asset.pk,
            device_id=device.pk,
        )
    )


def _identification_refused(device: Device, observed_at: datetime) -> None:
    """A device that answered identification before and no longer does (while its values still come): reported."""
    asset_id = asset_answered_identification(protocol=device.protocol, key=device_asset_key(device))
    if asset_id is None:
        return  # never answered: many devices do not
    security_report(
        SecurityEvent(
            kind=SecurityEventKind.COMMUNICATION_CHANGED,
            subject=f"asset:{asset_id}:identification",
            message=f"{device} ({device_address(device)}) no longer answers the device identification it used to "
            "answer",
            at=observed_at,
            evidence={"address": device_address(device), "asked_at": observed_at.isoformat()},
            asset_id=asset_id,
            device_id=device.pk,
        )
    )
