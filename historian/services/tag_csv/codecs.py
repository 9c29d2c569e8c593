"""Columns and cell values: which model fields are columns, and how a value becomes a cell and back."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import models

from historian.device_fields import STATUS_FIELDS
from historian.models import Device, ScanClass, Tag, ValueLabelSet
from historian.services.tag_csv.extensions import extension_classes

# Written by the poll service (connection status) or secret: not configuration the file carries.
DEVICE_NOT_IN_FILE = frozenset({"id", "name", "password", *STATUS_FIELDS})
TAG_REFERENCES = ("machine", "device", "scan_class")
#: Tag columns added after files were exported (the word and byte order overrides, edge_publish): a file without
#: them still imports, and its tags keep what they have (a new tag gets the default: the device's order, not
#: published).
TAG_COLUMNS_OPTIONAL = ("word_order", "byte_order", "edge_publish")
#: Device columns added after files were exported (OPC UA source or scan time): a file without them still imports,
#: and its devices keep what they have (a new device gets the default).
DEVICE_COLUMNS_OPTIONAL = ("device_timestamp_source",)
HIERARCHY_COLUMNS = ("site", "area", "line", "machine")


@dataclass(frozen=True)
class Codec:
    column: str
    field: models.Field

    def encode(self, value: Any) -> str:
        return encode_value(self.field, value)

    def cell(self, value: Any) -> Any:
        return export_cell(self.field, value)

    def decode(self, text: str) -> Any:
        return decode_value(self.field, text)


#: Tag foreign keys written as the name of what they point at (the value label set: "Machine state").
TAG_NAMED_REFERENCES = ("value_labels",)


@dataclass(frozen=True)
class ValueLabelsCodec(Codec):
    """The tag's value label set by its name; an empty cell (or an older file's empty JSON "{}"): none."""

    @cached_property
    def _names(self) -> dict[int, str]:
        # Read once per export or import, on first use (the column list alone needs no database).
        return dict(ValueLabelSet.objects.values_list("pk", "name"))

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {name: pk for pk, name in self._names.items()}

    def encode(self, value: Any) -> str:
        return "" if value is None else self._names[value]

    def cell(self, value: Any) -> Any:
        return self.encode(value)

    def decode(self, text: str) -> Any:
        name = text.strip()
        if name in ("", "{}"):
            return None
        if name not in self._ids:
            raise ValueError(f"no value label set is named {name!r} (add it in the admin, or leave the cell empty)")
        return self._ids[name]


def _tag_fields() -> list[models.Field]:
    return [f for f in Tag._meta.concrete_fields if f.name != "id" and f.name not in TAG_REFERENCES]


def _device_fields() -> list[models.Field]:
    return [f for f in Device._meta.concrete_fields if f.name not in DEVICE_NOT_IN_FILE]


def _scan_class_fields() -> list[models.Field]:
    return [f for f in ScanClass._meta.concrete_fields if f.name not in ("id", "name")]


def tag_field_codecs() -> list[Codec]:
    first = {"path": 0, "name": 1}
    fields = sorted(_tag_fields(), key=lambda f: first.get(f.name, 2))  # stable: model order after path, name
    return [ValueLabelsCodec(f.name, f) if f.name in TAG_NAMED_REFERENCES else Codec(f.name, f) for f in fields]


def device_field_codecs() -> list[Codec]:
    return [Codec(f"device_{f.name}", f) for f in _device_fields()]


def scan_class_field_codecs() -> list[Codec]:
    return [Codec(f"scan_class_{f.name}", f) for f in _scan_class_fields()]


def tag_csv_columns() -> list[str]:
    tag = [c.column for c in tag_field_codecs()]
    return [
        *tag[:2],
        *HIERARCHY_COLUMNS,
        "machine_state",
        *tag[2:],
        "device",
        *(c.column for c in device_field_codecs()),
        "scan_class",
        *(c.column for c in scan_class_field_codecs()),
        *(column for cls in extension_classes() for column in cls.columns),
    ]


_TRUE = {"true", "1", "yes", "y"}


_FALSE = {"false", "0", "no", "n"}


def encode_value(model_field: models.Field, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(model_field, models.BooleanField):
        return "true" if value else "false"
    if isinstance(model_field, models.FloatField):
        return repr(float(value))
    if isinstance(model_field, models.JSONField):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def decode_value(model_field: models.Field, text: str) -> Any:
    """The cell as the field's value; ValueError with the reason when it is not one."""
    if text == "" and not isinstance(model_field, models.CharField | models.TextField):
        if model_field.null:
            return None
        if model_field.has_default():
            return model_field.get_default()
        raise ValueError("must not be empty")
    if isinstance(model_field, models.BooleanField):
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{text!r} is not true or false")
    if isinstance(model_field, models.FloatField):
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        return number
    if isinstance(model_field, models.IntegerField):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if isinstance(model_field, models.JSONField):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"is not valid JSON ({exc})") from None
    if text == "" and model_field.has_default() and not model_field.blank:
        return model_field.get_default()
    return text


def export_cell(model_field: models.Field, value: Any) -> Any:
    """The exported cell: numbers as numbers (the CSV writer never quotes them), anything else as encode_value."""
    if value is not None and isinstance(model_field, models.FloatField):
        return float(value)
    if value is not None and isinstance(model_field, models.IntegerField):
        return int(value)
    return encode_value(model_field, value)


def same_value(model_field: models.Field, a: Any, b: Any) -> bool:
    if isinstance(model_field, models.FloatField) and a is not None and b is not None:
        return float(a) == float(b)
    return a == b
