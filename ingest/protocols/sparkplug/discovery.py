"""Sparkplug B discovery: a birth message records its device and metrics; an administrator turns metrics into tags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from historian.addresses import InvalidTagAddress
from historian.models import Device, DiscoveredMetric, Machine, Protocol, ScanClass, Tag
from ingest.protocols.sparkplug.address import RESERVED_NAMES, RESERVED_PREFIXES, parse_sparkplug_address
from ingest.protocols.sparkplug.codec import TAG_DATA_TYPES, Metric, data_type_name
from ingest.protocols.sparkplug.session import BrokerSettings

DeviceKey = tuple[str, str, str]  # (group id, edge node id, device id or "" for the node itself)


def is_control_metric(name: str) -> bool:
    """The protocol's own metrics (bdSeq, Node Control/..., Properties/...): never a tag."""
    return name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES)


def _unique_name(base: str) -> str:
    name, n = base[:100], 2
    while Device.objects.filter(name=name).exists():
        suffix = f" ({n})"
        name, n = base[: 100 - len(suffix)] + suffix, n + 1
    return name


@transaction.atomic
def sparkplug_device_discover(
    *, broker: BrokerSettings, key: DeviceKey, known: Device | None, metrics: Sequence[Metric]
) -> tuple[Device, bool]:
    """Record a birth: the device (created disabled and "discovered" when new) and a DiscoveredMetric per metric."""
    group_id, edge_node_id, device_id = key
    identity = {
        "protocol": Protocol.SPARKPLUG,
        "host": broker.host,
        "port": broker.port,
        "username": broker.username,
        "sparkplug_group_id": group_id,
        "sparkplug_edge_node_id": edge_node_id,
        "sparkplug_device_id": device_id,
    }
    device = known or Device.objects.filter(**identity).first()
    created = device is None
    if device is None:
        device = Device.objects.create(
            **identity,
            name=_unique_name("/".join(p for p in key if p)),
            password=broker.password,
            enabled=False,
            discovered=True,
            description="Discovered from its Sparkplug birth message.",
        )
    now = timezone.now()
    announced = {m.name: m for m in metrics if m.name and not is_control_metric(m.name)}
    existing = {dm.name: dm for dm in DiscoveredMetric.objects.filter(device=device, name__in=list(announced))}
    new, changed = [], []
    for name, metric in announced.items():
        sparkplug_type = data_type_name(metric.datatype)
        data_type = TAG_DATA_TYPES.get(metric.datatype, "")
        record = existing.get(name)
        if record is None:
            if len(name) <= 200:
                new.append(
                    DiscoveredMetric(
                        device=device,
                        name=name,
                        sparkplug_type=sparkplug_type,
                        data_type=data_type,
                        alias=metric.alias,
                        last_birth_at=now,
                    )
                )
            continue
        record.sparkplug_type, record.data_type, record.alias, record.last_birth_at = (
            sparkplug_type,
            data_type,
            metric.alias,
            now,
        )
        changed.append(record)
    DiscoveredMetric.objects.bulk_create(new, ignore_conflicts=True)
    DiscoveredMetric.objects.bulk_update(changed, ["sparkplug_type", "data_type", "alias", "last_birth_at"])
    return device, created


# -- turning discovered metrics into tags (the admin's action) --------------------------------------------------


@dataclass
class TagsCreated:
    created: list[Tag] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<metric>: why", for the person who chose it


@transaction.atomic
def sparkplug_tags_create(
    *, metrics: Sequence[DiscoveredMetric], machine: Machine, scan_class: ScanClass
) -> TagsCreated:
    """A tag per chosen metric on `machine` (address = the metric name); enables the metrics' devices.

    Metrics that are not numbers, already have a tag, or whose tag path is taken are skipped with the reason.
    """
    result = TagsCreated()
    machine = Machine.objects.select_related("line__area__site").get(pk=machine.pk)
    line = machine.line
    prefix = f"{line.area.site.name}/{line.area.name}/{line.name}/{machine.name}"
    devices: set[int] = set()
    for metric in metrics:
        if not metric.data_type:
            result.skipped.append(f"{metric}: a {metric.sparkplug_type} is not a number, a tag cannot store it")
            continue
        if metric.tag_id is not None:
            result.skipped.append(f"{metric}: already stored as tag {metric.tag}")
            continue
        if Tag.objects.filter(device=metric.device_id, address=metric.name).exists():
            result.skipped.append(f"{metric}: the device has a tag with this address already")
            continue
        short = metric.name.rsplit("/", 1)[-1][:100]
        path = f"{prefix}.{metric.name.replace('/', '.')}"[:255]
        if Tag.objects.filter(path=path).exists():
            result.skipped.append(f"{metric}: a tag {path!r} exists already")
            continue
        try:
            parse_sparkplug_address(metric.name, metric.data_type)
        except InvalidTagAddress as exc:
            result.skipped.append(f"{metric}: {exc}")
            continue
        tag = Tag.objects.create(
            path=path,
            name=short,
            machine=machine,
            device_id=metric.device_id,
            scan_class=scan_class,
            address=metric.name,
            data_type=metric.data_type,
        )
        metric.tag = tag
        metric.save(update_fields=["tag"])
        devices.add(metric.device_id)
        result.created.append(tag)
    Device.objects.filter(pk__in=devices).update(enabled=True, discovered=False)
    return result
