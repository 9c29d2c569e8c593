"""Reads of the asset inventory."""

from django.db.models import Count, Prefetch, QuerySet

from inventory.models import Asset, AssetChange


def assets_list() -> QuerySet[Asset]:
    return Asset.objects.select_related("device").annotate(change_count=Count("changes")).order_by("protocol", "key")


def asset_changes_recent(*, limit: int = 100) -> QuerySet[AssetChange]:
    return AssetChange.objects.select_related("asset").order_by("-at", "-pk")[:limit]


def assets_with_changes() -> QuerySet[Asset]:
    """Every asset with its changes prefetched, newest first (one query for all: changes are rare events)."""
    changes = AssetChange.objects.order_by("-at", "-pk")
    return Asset.objects.select_related("device").prefetch_related(Prefetch("changes", queryset=changes))


def asset_id_find(*, protocol: str, key: str) -> int | None:
    return Asset.objects.filter(protocol=protocol, key=key).values_list("pk", flat=True).first()


def asset_communication_get(*, protocol: str, key: str) -> dict | None:
    """The communication an asset was learned to have (inventory.models.Asset.communication); None: no asset."""
    return Asset.objects.filter(protocol=protocol, key=key).values_list("communication", flat=True).first()


def asset_answered_identification(*, protocol: str, key: str) -> int | None:
    """The asset's id when it has answered identification before (its identity is known), else None."""
    return Asset.objects.filter(protocol=protocol, key=key).exclude(identity={}).values_list("pk", flat=True).first()
