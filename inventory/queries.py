"""Reads of the asset inventory."""

from django.db.models import Count, Prefetch, QuerySet

from inventory.models import Asset, AssetChange


def assets_list() -> QuerySet[Asset]:
    return Asset.objects.select_related("device").annotate(change_count=Count("changes")).order_by("protocol", "key")


def asset_changes_recent(*, limit: int = 100) -> QuerySet[AssetChange]:
    return AssetChange.objects.select_related("asset").order_by("-at", "-pk")[:limit]


#: How many of its latest changes an asset brings along in the API's asset list (older ones: its changes endpoint).
RECENT_CHANGES_PER_ASSET = 10


def assets_with_recent_changes(*, per_asset: int = RECENT_CHANGES_PER_ASSET) -> QuerySet[Asset]:
    """Every asset with its `per_asset` latest changes, newest first, in `recent_changes`, and how many it has in
    all (`change_count`). One query for the changes of a page of assets, however many each has (a sliced
    prefetch: one row-number window per asset), so an asset that changed a thousand times costs no more."""
    changes = AssetChange.objects.order_by("-at", "-pk")[:per_asset]
    return (
        Asset.objects.select_related("device")
        .annotate(change_count=Count("changes"))
        .prefetch_related(Prefetch("changes", queryset=changes, to_attr="recent_changes"))
    )


def asset_changes(*, asset_id: int) -> QuerySet[AssetChange]:
    """One asset's changes, newest first (the API pages them)."""
    return AssetChange.objects.filter(asset_id=asset_id).order_by("-at", "-pk")


def asset_exists(*, asset_id: int) -> bool:
    return Asset.objects.filter(pk=asset_id).exists()


def asset_id_find(*, protocol: str, key: str) -> int | None:
    return Asset.objects.filter(protocol=protocol, key=key).values_list("pk", flat=True).first()


def asset_communication_get(*, protocol: str, key: str) -> dict | None:
    """The communication an asset was learned to have (inventory.models.Asset.communication); None: no asset."""
    return Asset.objects.filter(protocol=protocol, key=key).values_list("communication", flat=True).first()


def asset_answered_identification(*, protocol: str, key: str) -> int | None:
    """The asset's id when it has answered identification before (its identity is known), else None."""
    return Asset.objects.filter(protocol=protocol, key=key).exclude(identity={}).values_list("pk", flat=True).first()
