"""The communication baseline: what is normal on the OT network, so that what leaves it can be reported.

* Sparkplug B: the edge nodes and devices configured as Devices, plus those an administrator accepted into the
  baseline from the inventory (`asset_baseline_accept`, audited). The host application asks
  `sparkplug_baseline_accepted` about a node or device it does not have configured.
* OPC UA: the endpoints a server offered (security mode and policy each), recorded on its asset
  (`asset_endpoints_observe`); a later set that is weaker (`endpoints_weakened`) is reported by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditAction
from audit.services.events import audit_record
from inventory.models import Asset, AssetChange, AssetProtocol

# -- accepting into the baseline ---------------------------------------------------------------------------------


def asset_baseline_accept(
    *,
    asset: Asset,
    user: User | AnonymousUser | None,
    remote_addr: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Accept `asset` as belonging on the network; False when it already was. Audited."""
    at = at or timezone.now()
    actor = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        updated = Asset.objects.filter(pk=asset.pk, baseline_accepted_at__isnull=True).update(
            baseline_accepted_at=at, baseline_accepted_by=actor
        )
        if not updated:
            return False
        asset.baseline_accepted_at, asset.baseline_accepted_by = at, actor
        audit_record(
            actor=user,
            action=AuditAction.ASSET_BASELINE_ACCEPT,
            target=str(asset)[:300],
            details={"asset": asset.pk, "protocol": asset.protocol, "key": asset.key},
            remote_addr=remote_addr,
        )
    return True


def sparkplug_baseline_accepted(*, group_id: str, edge_node_id: str, device_id: str = "") -> bool:
    """Whether an administrator accepted this edge node (any of its devices counts for the node) or device."""
    node = f"{group_id}/{edge_node_id}"
    keys = Q(key=f"{node}/{device_id}") if device_id else Q(key=node) | Q(key__startswith=f"{node}/")
    return Asset.objects.filter(keys, protocol=AssetProtocol.SPARKPLUG, baseline_accepted_at__isnull=False).exists()


# -- OPC UA endpoints ----------------------------------------------------------------------------------------------

#: Security policies, weakest first (OPC UA 1.05 Part 7: Basic128Rsa15 and Basic256 are deprecated).
POLICY_STRENGTH: dict[str, int] = {
    "None": 0,
    "Basic128Rsa15": 1,
    "Basic256": 2,
    "Aes128_Sha256_RsaOaep": 3,
    "Basic256Sha256": 4,
    "Aes256_Sha256_RsaPss": 5,
}
MODE_STRENGTH: dict[str, int] = {"None": 0, "Sign": 1, "SignAndEncrypt": 2}


def _strength(endpoint: Mapping[str, str]) -> tuple[int, int]:
    mode = MODE_STRENGTH.get(endpoint.get("mode", ""), 0)
    policy = POLICY_STRENGTH.get(endpoint.get("policy", ""), 0)
    return (0, 0) if mode == 0 else (policy, mode)


def _offer(endpoint: Mapping[str, str]) -> tuple[str, str]:
    return (endpoint.get("mode", ""), endpoint.get("policy", ""))


def _anonymous(endpoints: Iterable[Mapping[str, str]]) -> bool:
    return any("Anonymous" in e.get("tokens", "").split(",") for e in endpoints)


def endpoints_weakened(before: Sequence[Mapping[str, str]], after: Sequence[Mapping[str, str]]) -> list[str]:
    """Why `after` offers weaker security than `before` (empty: it does not).

    Weaker: a new endpoint without security or signing only, a new endpoint with a weaker policy than the strongest
    offered before, the strongest offer of before gone with nothing as strong in its place, or anonymous logins
    accepted where none were. A server that drops a weak endpoint, or adds a stronger one, is not weaker.
    """
    if not before:
        return []
    old = {_offer(e) for e in before}
    strongest_before = max(_strength(e) for e in before)
    reasons = []
    for endpoint in sorted(after, key=_offer):
        if _offer(endpoint) in old:
            continue
        mode, policy = _offer(endpoint)
        if mode in ("None", "Sign"):
            reasons.append(f"new endpoint with security mode {mode} (policy {policy})")
        elif _strength(endpoint) < strongest_before:
            reasons.append(f"new endpoint with the weaker policy {policy} ({mode})")
    if _anonymous(after) and not _anonymous(before):
        reasons.append("anonymous login newly allowed")
    strongest_after = max((_strength(e) for e in after), default=(0, 0))
    if strongest_after < strongest_before:
        dropped = sorted(f"{m} {p}" for m, p in old if _strength({"mode": m, "policy": p}) == strongest_before)
        reasons.append(f"the strongest security offered before is gone: {', '.join(dropped)}")
    return list(dict.fromkeys(reasons))


def _endpoints_text(endpoints: Iterable[Mapping[str, str]]) -> str:
    return "; ".join(sorted({f"{e.get('mode')} {e.get('policy')}" for e in endpoints}))


@dataclass(frozen=True)
class EndpointsObserved:
    asset: Asset
    before: list[dict[str, str]] = field(default_factory=list)
    after: list[dict[str, str]] = field(default_factory=list)
    weakened: list[str] = field(default_factory=list)  # why the new set is weaker; empty: it is not


@transaction.atomic
def asset_endpoints_observe(
    *, protocol: AssetProtocol | str, key: str, endpoints: Sequence[Mapping[str, str]], observed_at: datetime
) -> EndpointsObserved | None:
    """Record the endpoints the asset offers now; a change is an AssetChange, the new set the baseline from now on
    (so a weaker set is reported once, when it appears). None when the asset is not in the inventory yet."""
    asset = Asset.objects.select_for_update().filter(protocol=protocol, key=key).first()
    if asset is None:
        return None
    after = sorted(({k: str(v) for k, v in e.items()} for e in endpoints), key=lambda e: sorted(e.items()))
    before: list[dict[str, str]] = list(asset.endpoints or [])
    if after == before:
        return EndpointsObserved(asset, before, after)
    weakened = endpoints_weakened(before, after)
    if before:
        AssetChange.objects.create(
            asset=asset, at=observed_at, field="endpoints", before=_endpoints_text(before), after=_endpoints_text(after)
        )
        asset.changed_at = observed_at
    asset.endpoints = after
    asset.save(update_fields=["endpoints", "changed_at"])
    return EndpointsObserved(asset, before, after, weakened)


# -- communication of polled devices -------------------------------------------------------------------------------


def asset_communication_save(*, protocol: AssetProtocol | str, key: str, communication: Mapping[str, object]) -> bool:
    """Keep what acquisition learned of the asset's communication (ingest.acquisition.communication); one UPDATE."""
    saved = {**communication, "saved_at": timezone.now().isoformat()}
    return bool(Asset.objects.filter(protocol=protocol, key=key).update(communication=saved))
