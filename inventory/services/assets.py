"""Recording what the protocols learn about an asset, and what changed since it was last seen."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.db import transaction

from inventory.models import Asset, AssetChange, AssetProtocol
from inventory.security_events import SecurityEvent, SecurityEventKind, report_security_event


@dataclass(frozen=True)
class AssetObserved:
    asset: Asset
    created: bool
    changes: list[AssetChange] = field(default_factory=list)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _identity_changes(asset: Asset, identity: Mapping[str, str], at: datetime) -> list[AssetChange]:
    before: dict[str, str] = asset.identity or {}
    keys = sorted(set(before) | set(identity))
    return [
        AssetChange(
            asset=asset, at=at, field=f"identity.{key}", before=_text(before.get(key)), after=_text(identity.get(key))
        )
        for key in keys
        if _text(before.get(key)) != _text(identity.get(key))
    ]


def _security_events(asset: Asset, changes: list[AssetChange], at: datetime) -> list[SecurityEvent]:
    """What of `changes` is a security event: a known identity field or a known certificate that changed.

    Not a first learning (a field or a certificate that was empty before), and not a new address: a device
    answering on one more address is how DHCP, redundant NICs and gateways look, and is recorded as a change only.
    """
    where = {"asset": asset.pk, "protocol": asset.protocol, "key": asset.key, "name": asset.name}
    where |= {"addresses": list(asset.addresses), "device_id": asset.device_id}
    identity = [c for c in changes if c.field.startswith("identity.") and c.before]
    certificate = [c for c in changes if c.field == "certificate_thumbprint" and c.before]
    events = []
    label = asset.name or asset.key
    if identity:
        fields = ", ".join(c.field.removeprefix("identity.") for c in identity)
        events.append(
            SecurityEvent(
                kind=SecurityEventKind.IDENTITY_CHANGED,
                subject=f"asset:{asset.pk}",
                message=f"{label} identifies itself differently ({fields} changed)"[:400],
                at=at,
                evidence={
                    **where,
                    "changes": {
                        c.field.removeprefix("identity."): {"before": c.before, "after": c.after} for c in identity
                    },
                },
                asset_id=asset.pk,
                device_id=asset.device_id,
            )
        )
    for c in certificate:
        events.append(
            SecurityEvent(
                kind=SecurityEventKind.CERTIFICATE_CHANGED,
                subject=f"asset:{asset.pk}",
                message=f"{label} presents another certificate (SHA-256 {c.before[:16]}... -> {c.after[:16]}...)",
                at=at,
                evidence={**where, "before_sha256": c.before, "after_sha256": c.after},
                asset_id=asset.pk,
                device_id=asset.device_id,
            )
        )
    return events


@transaction.atomic
def asset_observe(
    *,
    protocol: AssetProtocol | str,
    key: str,
    observed_at: datetime,
    device_id: int | None = None,
    name: str = "",
    addresses: Iterable[str] = (),
    identity: Mapping[str, str] | None = None,
    certificate_thumbprint: str | None = None,
) -> AssetObserved:
    """Record that `key` was seen at `observed_at`, with what it said about itself.

    `identity` None (the device was not asked, or could not answer) leaves the known identity as it is; an
    identity that differs from the known one is recorded field by field as changes, as is a new certificate or a
    new address. The first observation is not a change. A known identity field or certificate that changed is
    also reported as a security event (IDENTITY_CHANGED, CERTIFICATE_CHANGED, before and after as evidence) once
    the observation commits.
    """
    asset = Asset.objects.select_for_update().filter(protocol=protocol, key=key).first()
    if asset is None:
        asset = Asset.objects.create(
            protocol=protocol,
            key=key,
            device_id=device_id,
            name=name,
            addresses=sorted(set(addresses)),
            identity=dict(identity or {}),
            certificate_thumbprint=certificate_thumbprint or "",
            first_seen=observed_at,
            last_seen=observed_at,
        )
        return AssetObserved(asset, created=True)

    changes: list[AssetChange] = []
    if identity is not None and dict(identity) != (asset.identity or {}):
        changes += _identity_changes(asset, identity, observed_at)
        asset.identity = dict(identity)
    if certificate_thumbprint is not None and certificate_thumbprint != asset.certificate_thumbprint:
        changes.append(
            AssetChange(
                asset=asset,
                at=observed_at,
                field="certificate_thumbprint",
                before=asset.certificate_thumbprint,
                after=certificate_thumbprint,
            )
        )
        asset.certificate_thumbprint = certificate_thumbprint
    new_addresses = sorted(set(addresses) - set(asset.addresses))
    if new_addresses:
        changes.append(
            AssetChange(
                asset=asset,
                at=observed_at,
                field="addresses",
                before=", ".join(asset.addresses),
                after=", ".join(sorted(set(asset.addresses) | set(new_addresses))),
            )
        )
        asset.addresses = sorted(set(asset.addresses) | set(new_addresses))
    if device_id is not None:
        asset.device_id = device_id
    if name:
        asset.name = name
    asset.last_seen = max(asset.last_seen, observed_at)
    if changes:
        AssetChange.objects.bulk_create(changes)
        asset.changed_at = observed_at
    asset.save()
    for event in _security_events(asset, changes, observed_at):
        # Once the observation is stored: a rolled-back observation raises nothing.
        transaction.on_commit(partial(report_security_event, event))
    return AssetObserved(asset, created=False, changes=changes)
