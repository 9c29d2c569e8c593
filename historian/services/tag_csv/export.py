"""The export: every tag as one row, streamed through common.csv (formula guard: the package docstring)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import models
from django.db.models import QuerySet

from common.csv import csv_stream
from historian.models import Device, Machine, ScanClass, Tag
from historian.services.tag_csv.codecs import (
    device_field_codecs,
    encode_value,
    scan_class_field_codecs,
    tag_csv_columns,
    tag_field_codecs,
)
from historian.services.tag_csv.extensions import extension_classes


def tag_export_csv(*, queryset: QuerySet[Tag] | None = None) -> Iterator[str]:
    """The tags of `queryset` (default: all) as CSV text, streamed, ordered by path (formula guard: the module's
    docstring)."""
    queryset = Tag.objects.all() if queryset is None else queryset
    return csv_stream(tag_csv_columns(), _export_rows(queryset))


def _export_rows(queryset: QuerySet[Tag]) -> Iterator[list[Any]]:
    tag_codecs, device_codecs, scan_codecs = tag_field_codecs(), device_field_codecs(), scan_class_field_codecs()
    state_tags = set(Machine.objects.exclude(state_tag=None).values_list("state_tag_id", flat=True))
    devices = {d.pk: d for d in Device.objects.all()}
    scan_classes = {s.pk: s for s in ScanClass.objects.all()}
    machines = {m.pk: m for m in Machine.objects.select_related("line__area__site")}
    extensions = [cls() for cls in extension_classes()]
    for tag in queryset.order_by("path").iterator(chunk_size=2000):
        machine, device, scan_class = machines[tag.machine_id], devices[tag.device_id], scan_classes[tag.scan_class_id]
        values = [c.cell(getattr(tag, c.field.attname)) for c in tag_codecs]
        yield [
            *values[:2],
            machine.line.area.site.name,
            machine.line.area.name,
            machine.line.name,
            machine.name,
            encode_value(models.BooleanField(), tag.pk in state_tags),
            *values[2:],
            device.name,
            *(c.cell(getattr(device, c.field.attname)) for c in device_codecs),
            scan_class.name,
            *(c.cell(getattr(scan_class, c.field.attname)) for c in scan_codecs),
            *(cell for extension in extensions for cell in extension.export_cells(tag)),
        ]
