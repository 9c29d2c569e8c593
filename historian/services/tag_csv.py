"""Bulk tag configuration as CSV: an export, and an import that shows its diff (dry run) before it applies it.

The file has one row per tag and carries everything the tag needs, so export then import is a no-op:

- `path`, `name`, then every other field of the tag under its own name (`address`, `scale`, `deadband`, ...);
- `site`, `area`, `line`, `machine`: the machine by its names in the hierarchy (created when missing), and
  `machine_state`: whether the tag is its machine's state tag;
- `device` (by name) and `device_<field>` for the device's connection settings, repeated on each of its tags (all
  rows of one device must agree); the device is created when missing and updated when the columns differ. Not in
  the file: its connection status and its password (a secret; an imported device keeps the one it has);
- `scan_class` (by name) and `scan_class_<field>`, the same way.

- the columns of the apps listed in settings.HISTORIAN_TAG_CSV_EXTENSIONS, last (alarms: `alarms`, the tag's
  alarm definitions; see alarms/tag_csv.py).

Columns follow the models, so a field added to Tag, Device or ScanClass becomes a column (and the import then asks
for it, except the tag columns of TAG_COLUMNS_OPTIONAL, which older files lack: their tags keep what they have). An
empty cell is the field's default (NULL where the field allows it). Tags absent from the file are left alone: the
import creates and updates, it never deletes. Values are written so they read back exactly: floats as
Python's shortest round-tripping form, booleans as true/false, value labels as JSON with sorted keys.
"""

import contextlib
import copy
import csv
import io
import json
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from auditlog.context import set_actor
from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from historian.device_fields import STATUS_FIELDS
from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag
from historian.signals import tag_csv_applied, tags_imported

# Written by the poll service (connection status) or secret: not configuration the file carries.
DEVICE_NOT_IN_FILE = frozenset({"id", "name", "password", *STATUS_FIELDS})
TAG_REFERENCES = ("machine", "device", "scan_class")
#: Tag columns added after files were exported (the word and byte order overrides): a file without them still
#: imports, and its tags keep what they have (a new tag gets the default: the device's order).
TAG_COLUMNS_OPTIONAL = ("word_order", "byte_order")
HIERARCHY_COLUMNS = ("site", "area", "line", "machine")
PROGRESS_EVERY = 500

Progress = Callable[[str, int, int], None]


class TagCsvFormatError(ValueError):
    """The file as a whole cannot be read: not UTF-8, not CSV, or not the expected columns."""


class TagCsvExtension:
    """Columns that another app adds to the tag CSV (its path listed in settings.HISTORIAN_TAG_CSV_EXTENSIONS).

    One instance serves one export or one import: it loads what it needs when created. Historian knows the other
    apps only through this interface.
    """

    columns: tuple[str, ...] = ()

    def export_cells(self, tag: "Tag") -> list[str]:
        """The tag's cells, in the order of `columns`."""
        raise NotImplementedError

    def check_row(
        self, *, line: int, tag: "Tag", exists: bool, cells: dict[str, str]
    ) -> tuple[dict[str, tuple[str, str]], list[str]]:
        """The row's changes (column -> (before, after)) and its problems; writes nothing."""
        raise NotImplementedError

    def check_file(self, *, paths: set[str]) -> list["RowError"]:
        """Errors that need every row (e.g. references to tags), once all are read. `paths`: every tag's path."""
        return []

    def apply(self, *, audit: "_AuditBatch") -> None:
        """Write the checked changes, after the tags are saved (new tags have their primary keys)."""
        raise NotImplementedError


def _extension_classes() -> list[type[TagCsvExtension]]:
    return [import_string(path) for path in getattr(settings, "HISTORIAN_TAG_CSV_EXTENSIONS", [])]


@dataclass(frozen=True)
class _Codec:
    column: str
    field: models.Field

    def encode(self, value: Any) -> str:
        return encode_value(self.field, value)

    def decode(self, text: str) -> Any:
        return decode_value(self.field, text)


def _tag_fields() -> list[models.Field]:
    return [f for f in Tag._meta.concrete_fields if f.name != "id" and f.name not in TAG_REFERENCES]


def _device_fields() -> list[models.Field]:
    return [f for f in Device._meta.concrete_fields if f.name not in DEVICE_NOT_IN_FILE]


def _scan_class_fields() -> list[models.Field]:
    return [f for f in ScanClass._meta.concrete_fields if f.name not in ("id", "name")]


def _tag_codecs() -> list[_Codec]:
    first = {"path": 0, "name": 1}
    fields = sorted(_tag_fields(), key=lambda f: first.get(f.name, 2))  # stable: model order after path, name
    return [_Codec(f.name, f) for f in fields]


def _device_codecs() -> list[_Codec]:
    return [_Codec(f"device_{f.name}", f) for f in _device_fields()]


def _scan_class_codecs() -> list[_Codec]:
    return [_Codec(f"scan_class_{f.name}", f) for f in _scan_class_fields()]


def tag_csv_columns() -> list[str]:
    tag = [c.column for c in _tag_codecs()]
    return [
        *tag[:2],
        *HIERARCHY_COLUMNS,
        "machine_state",
        *tag[2:],
        "device",
        *(c.column for c in _device_codecs()),
        "scan_class",
        *(c.column for c in _scan_class_codecs()),
        *(column for cls in _extension_classes() for column in cls.columns),
    ]


# -- values ------------------------------------------------------------------------------------------------------

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


def _same(model_field: models.Field, a: Any, b: Any) -> bool:
    if isinstance(model_field, models.FloatField) and a is not None and b is not None:
        return float(a) == float(b)
    return a == b


# -- export ------------------------------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def tag_export_csv(*, queryset: QuerySet[Tag] | None = None) -> Iterator[str]:
    """The tags of `queryset` (default: all) as CSV lines, streamed, ordered by path."""
    queryset = Tag.objects.all() if queryset is None else queryset
    tag_codecs, device_codecs, scan_codecs = _tag_codecs(), _device_codecs(), _scan_class_codecs()
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    state_tags = set(Machine.objects.exclude(state_tag=None).values_list("state_tag_id", flat=True))
    devices = {d.pk: d for d in Device.objects.all()}
    scan_classes = {s.pk: s for s in ScanClass.objects.all()}
    machines = {m.pk: m for m in Machine.objects.select_related("line__area__site")}
    extensions = [cls() for cls in _extension_classes()]
    yield writer.writerow(tag_csv_columns())
    for tag in queryset.order_by("path").iterator(chunk_size=2000):
        machine, device, scan_class = machines[tag.machine_id], devices[tag.device_id], scan_classes[tag.scan_class_id]
        values = [c.encode(getattr(tag, c.field.attname)) for c in tag_codecs]
        yield writer.writerow(
            [
                *values[:2],
                machine.line.area.site.name,
                machine.line.area.name,
                machine.line.name,
                machine.name,
                encode_value(models.BooleanField(), tag.pk in state_tags),
                *values[2:],
                device.name,
                *(c.encode(getattr(device, c.field.attname)) for c in device_codecs),
                scan_class.name,
                *(c.encode(getattr(scan_class, c.field.attname)) for c in scan_codecs),
                *(cell for extension in extensions for cell in extension.export_cells(tag)),
            ]
        )


# -- import: the report --------------------------------------------------------------------------------------------


@dataclass
class RowChange:
    line: int
    path: str
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (before, after); {} when created


@dataclass
class RowError:
    line: int
    message: str


@dataclass
class ObjectChange:
    kind: str  # site, area, line, machine, device, scan class
    name: str
    line: int
    created: bool
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class ImportReport:
    total: int = 0
    created: list[RowChange] = field(default_factory=list)
    updated: list[RowChange] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    objects: list[ObjectChange] = field(default_factory=list)
    dry_run: bool = True
    applied: bool = False

    def summary(self) -> dict[str, int]:
        return {
            "rows": self.total,
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "errors": len(self.errors),
            "other_objects_created": sum(1 for o in self.objects if o.created),
            "other_objects_updated": sum(1 for o in self.objects if not o.created),
        }


# -- import: reading and checking -------------------------------------------------------------------------------


def _read_rows(file: IO[bytes] | IO[str] | bytes | str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    data = file if isinstance(file, bytes | str) else file.read()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TagCsvFormatError(f"The file is not UTF-8 text (byte {exc.start} cannot be read).") from None
    data = data.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(data, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    try:
        last_line = 0
        for cells in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if not cells or all(c == "" for c in cells):
                continue  # blank line
            if header is None:
                header = [c.strip() for c in cells]
            else:
                rows.append((first_line, cells))
    except csv.Error as exc:
        raise TagCsvFormatError(f"Line {reader.line_num}: the file is not valid CSV ({exc}).") from None
    if header is None:
        raise TagCsvFormatError("The file is empty: it needs a header line naming the columns.")
    _check_header(header)
    return header, rows


def _check_header(header: list[str]) -> None:
    expected = tag_csv_columns()
    duplicates = sorted({c for c in header if header.count(c) > 1})
    missing = [c for c in expected if c not in header and c not in TAG_COLUMNS_OPTIONAL]
    unknown = [c for c in header if c not in expected]
    problems = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown columns: {', '.join(unknown)}")
    if duplicates:
        problems.append(f"columns named more than once: {', '.join(duplicates)}")
    if problems:
        raise TagCsvFormatError(
            f"The header does not match the tag CSV format ({'; '.join(problems)}). "
            "Export the tags to get a file with the right columns."
        )


def _validation_message(exc: ValidationError, prefix: str = "") -> str:
    if hasattr(exc, "error_dict"):
        parts = [f"{prefix}{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items()]
        return "; ".join(parts)
    return prefix + " ".join(exc.messages)


@dataclass
class _Related:
    """A device or scan class as the file wants it, with the line that first named it."""

    obj: models.Model
    line: int
    values: dict[str, Any]
    before: models.Model | None  # None: created
    changes: dict[str, tuple[str, str]]
    error: str | None = None


class _Plan:
    """Everything the file asks for, checked against the database; nothing written."""

    def __init__(self, *, lock: bool) -> None:
        self.tag_codecs = _tag_codecs()
        self.device_codecs = _device_codecs()
        self.scan_codecs = _scan_class_codecs()
        # Applying: the tags stay as read until the changes are written (a concurrent edit waits, then sees them).
        tags = Tag.objects.select_for_update() if lock else Tag.objects.all()
        self.tags = {t.path: t for t in tags}
        self.devices = {d.name: d for d in Device.objects.all()}
        self.devices_by_id = {d.pk: d for d in self.devices.values()}
        self.scan_classes = {s.name: s for s in ScanClass.objects.all()}
        self.scan_classes_by_id = {s.pk: s for s in self.scan_classes.values()}
        self.sites = {s.name: s for s in Site.objects.all()}
        self.areas = {(a.site.name, a.name): a for a in Area.objects.select_related("site")}
        self.lines = {(x.area.site.name, x.area.name, x.name): x for x in Line.objects.select_related("area__site")}
        self.machines = {
            (m.line.area.site.name, m.line.area.name, m.line.name, m.name): m
            for m in Machine.objects.select_related("line__area__site")
        }
        self.machines_by_id = {m.pk: m for m in self.machines.values()}
        self.state_tag_of = {m.pk: m.state_tag_id for m in self.machines.values()}

        self.extensions = [cls() for cls in _extension_classes()]
        self.report = ImportReport()
        self.paths_seen: dict[str, int] = {}
        self.related_devices: dict[str, _Related] = {}
        self.related_scan_classes: dict[str, _Related] = {}
        self.new_hierarchy: list[tuple[str, models.Model, int]] = []
        self.tags_create: list[Tag] = []
        self.tags_update: list[tuple[Tag, Tag, set[str]]] = []  # before, after, changed fields
        self.state_wanted: dict[tuple[str, str, str, str], tuple[Tag, int]] = {}
        self.state_unset: list[tuple[Machine, Tag]] = []

    # Each row -------------------------------------------------------------------------------------------------
    def add_row(self, line: int, header: list[str], cells: list[str]) -> None:
        if len(cells) != len(header):
            self._error(line, f"has {len(cells)} cells where the header has {len(header)}")
            return
        row = dict(zip(header, cells, strict=True))
        path = row["path"]
        problems: list[str] = []
        if not path:
            self._error(line, "path: must not be empty")
            return
        if path in self.paths_seen:
            self._error(line, f"path {path!r} is already on line {self.paths_seen[path]}")
            return
        self.paths_seen[path] = line
        before = self.tags.get(path)
        for codec in self.tag_codecs:
            if codec.column in TAG_COLUMNS_OPTIONAL and codec.column not in row:
                kept = getattr(before, codec.field.attname) if before is not None else codec.field.get_default()
                row[codec.column] = codec.encode(kept)

        values = self._decode(row, self.tag_codecs, problems)
        machine_state = self._decode_one(row, "machine_state", models.BooleanField(), problems)
        names = tuple(row[c] for c in HIERARCHY_COLUMNS)
        empty = [c for c, n in zip(HIERARCHY_COLUMNS, names, strict=True) if not n]
        if empty:
            problems.append(f"{', '.join(empty)}: must not be empty")
        device = self._related(
            line, row, "device", self.related_devices, self.devices, Device, self.device_codecs, problems
        )
        scan_class = self._related(
            line, row, "scan_class", self.related_scan_classes, self.scan_classes, ScanClass, self.scan_codecs, problems
        )
        if problems:
            self._error(line, "; ".join(problems))
            return
        machine = self._machine(line, names, problems)  # type: ignore[arg-type]
        if machine is None:
            self._error(line, "; ".join(problems))
            return

        tag = _snapshot(before) if before is not None else Tag()
        for codec in self.tag_codecs:
            setattr(tag, codec.field.attname, values[codec.column])
        tag.machine, tag.device, tag.scan_class = machine, device, scan_class  # type: ignore[assignment]
        try:
            tag.full_clean(exclude=list(TAG_REFERENCES), validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            self._error(line, _validation_message(exc))
            return

        changes = self._tag_changes(before, tag) if before is not None else {}
        for extension in self.extensions:
            extension_changes, problems = extension.check_row(line=line, tag=tag, exists=before is not None, cells=row)
            if problems:
                self._error(line, "; ".join(problems))
                return
            changes.update(extension_changes)
        state_change = self._machine_state(line, names, machine, tag, before, bool(machine_state))  # type: ignore[arg-type]
        if state_change is None:
            return
        if state_change:
            changes["machine_state"] = state_change
        if before is None:
            self.tags_create.append(tag)
            self.report.created.append(RowChange(line, path))
        elif changes:
            tag_columns = {c.column for c in self.tag_codecs}
            changed_fields = {f for f in changes if f in tag_columns or f in TAG_REFERENCES}
            self.tags_update.append((before, tag, changed_fields))
            self.report.updated.append(RowChange(line, path, changes))
        else:
            self.report.unchanged += 1

    def _error(self, line: int, message: str) -> None:
        self.report.errors.append(RowError(line, message))

    @staticmethod
    def _decode_one(row: dict[str, str], column: str, model_field: models.Field, problems: list[str]) -> Any:
        try:
            return decode_value(model_field, row[column])
        except ValueError as exc:
            problems.append(f"{column}: {exc}")
            return None

    def _decode(self, row: dict[str, str], codecs: list[_Codec], problems: list[str]) -> dict[str, Any]:
        return {c.column: self._decode_one(row, c.column, c.field, problems) for c in codecs}

    def _related(
        self,
        line: int,
        row: dict[str, str],
        prefix: str,
        seen: dict[str, _Related],
        existing: dict[str, Any],
        model: type[models.Model],
        codecs: list[_Codec],
        problems: list[str],
    ) -> models.Model | None:
        """The device (or scan class) of the row: the same object for every row that names it."""
        name = row[prefix]
        if not name:
            problems.append(f"{prefix}: must not be empty")
            return None
        values = self._decode(row, codecs, problems)
        if name in seen:
            first = seen[name]
            differ = [c.column for c in codecs if not _same(c.field, values[c.column], first.values[c.column])]
            if differ:
                problems.append(
                    f"{prefix} {name!r}: {', '.join(differ)} differ from line {first.line}"
                    " (all rows of one " + prefix.replace("_", " ") + " must agree)"
                )
            return first.obj
        before = existing.get(name)
        obj = _snapshot(before) if before is not None else model(name=name)
        for codec in codecs:
            if values[codec.column] is not None or codec.field.null:
                setattr(obj, codec.field.attname, values[codec.column])
        changes: dict[str, tuple[str, str]] = {}
        if before is not None:
            for codec in codecs:
                old, new = getattr(before, codec.field.attname), getattr(obj, codec.field.attname)
                if not _same(codec.field, old, new):
                    changes[codec.column] = (codec.encode(old), codec.encode(new))
        related = _Related(obj, line, values, before, changes)
        seen[name] = related
        if before is None or changes:
            try:
                obj.full_clean(validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                related.error = _validation_message(exc, f"{prefix} {name!r}: ")
                problems.append(related.error)
        return obj

    def _machine(self, line: int, names: tuple[str, str, str, str], problems: list[str]) -> Machine | None:
        site_name, area_name, line_name, machine_name = names
        levels: list[tuple[str, dict, Any, Callable[[Any], models.Model]]] = [
            ("site", self.sites, site_name, lambda _: Site(name=site_name)),
            ("area", self.areas, names[:2], lambda parent: Area(site=parent, name=area_name)),
            ("line", self.lines, names[:3], lambda parent: Line(area=parent, name=line_name)),
            ("machine", self.machines, names, lambda parent: Machine(line=parent, name=machine_name)),
        ]
        parent: models.Model | None = None
        for kind, known, key, make in levels:
            obj = known.get(key)
            if obj is None:
                obj = make(parent)
                try:
                    obj.full_clean(exclude=["site", "area", "line"], validate_unique=False, validate_constraints=False)
                except ValidationError as exc:
                    problems.append(_validation_message(exc, f"{kind} {key!r}: "))
                    return None
                known[key] = obj
                self.new_hierarchy.append((kind, obj, line))
            parent = obj
        return parent  # type: ignore[return-value]

    def _tag_changes(self, before: Tag, after: Tag) -> dict[str, tuple[str, str]]:
        changes: dict[str, tuple[str, str]] = {}
        for codec in self.tag_codecs:
            old, new = getattr(before, codec.field.attname), getattr(after, codec.field.attname)
            if not _same(codec.field, old, new):
                changes[codec.column] = (codec.encode(old), codec.encode(new))
        if after.machine.pk != before.machine_id:
            changes["machine"] = (_machine_label(self.machines_by_id[before.machine_id]), _machine_label(after.machine))
        old_device = self.devices_by_id[before.device_id].name
        if after.device.name != old_device:
            changes["device"] = (old_device, after.device.name)
        old_scan = self.scan_classes_by_id[before.scan_class_id].name
        if after.scan_class.name != old_scan:
            changes["scan_class"] = (old_scan, after.scan_class.name)
        return changes

    def _machine_state(
        self, line: int, names: tuple[str, str, str, str], machine: Machine, tag: Tag, before: Tag | None, wanted: bool
    ) -> tuple[str, str] | tuple[()] | None:
        """The machine_state change of the row: () none, a (before, after) pair, or None after an error."""
        is_now = before is not None and machine.pk is not None and self.state_tag_of.get(machine.pk) == before.pk
        if wanted:
            if names in self.state_wanted:
                self._error(
                    line, f"machine {'/'.join(names)!r} already has its state tag on line {self.state_wanted[names][1]}"
                )
                return None
            self.state_wanted[names] = (tag, line)
        elif is_now:
            self.state_unset.append((machine, tag))
        if wanted == is_now:
            return ()
        return (encode_value(models.BooleanField(), is_now), encode_value(models.BooleanField(), wanted))

    def finish(self) -> None:
        """The related objects' changes and the extensions' checks, once every row is read."""
        for extension in self.extensions:
            self.report.errors += extension.check_file(paths=set(self.paths_seen) | set(self.tags))
        self.report.errors.sort(key=lambda e: e.line)
        for kind, related in (("device", self.related_devices), ("scan class", self.related_scan_classes)):
            for name, r in related.items():
                if r.error is None and (r.before is None or r.changes):
                    self.report.objects.append(ObjectChange(kind, name, r.line, r.before is None, r.changes))
        for kind, obj, line in self.new_hierarchy:
            self.report.objects.append(ObjectChange(kind, _machine_label(obj), line, True))
        self.report.objects.sort(key=lambda o: o.line)


def _snapshot(obj: Any) -> Any:
    """A copy that can change without changing `obj` (its own state and cache of related objects)."""
    clone = copy.copy(obj)
    clone._state = copy.copy(obj._state)
    clone._state.fields_cache = dict(obj._state.fields_cache)
    return clone


def _machine_label(obj: models.Model) -> str:
    names = []
    while obj is not None:
        names.append(obj.name)  # type: ignore[attr-defined]
        obj = next((getattr(obj, p) for p in ("line", "area", "site") if hasattr(type(obj), p)), None)
    return "/".join(reversed(names))


# -- import: applying --------------------------------------------------------------------------------------------


class _AuditBatch:
    """django-auditlog entries for bulk writes (bulk_create / bulk_update send no signals), written in bulk."""

    def __init__(self, *, actor: AbstractBaseUser | None, cid: str) -> None:
        self.actor, self.cid = actor, cid
        self.entries: list[LogEntry] = []
        self.json_changes = settings.AUDITLOG_STORE_JSON_CHANGES

    def add(self, before: models.Model | None, after: models.Model, *, repr_: str | None = None) -> None:
        changes = model_instance_diff(before, after, use_json_for_changes=self.json_changes)
        if not changes:
            return
        self.entries.append(
            LogEntry(
                content_type=ContentType.objects.get_for_model(after),
                object_pk=str(after.pk),
                object_id=after.pk,
                object_repr=repr_ or str(after),
                action=LogEntry.Action.CREATE if before is None else LogEntry.Action.UPDATE,
                changes=changes,
                actor=self.actor,
                actor_email=getattr(self.actor, "email", None) or None,
                cid=self.cid,
                additional_data={"source": "tag_csv_import"},
            )
        )

    def write(self, progress: Progress | None) -> None:
        for start in range(0, len(self.entries), 1000):
            LogEntry.objects.bulk_create(self.entries[start : start + 1000])
            if progress:
                progress("auditing", min(start + 1000, len(self.entries)), len(self.entries))


def _apply(plan: _Plan, *, actor: AbstractBaseUser | None, progress: Progress | None) -> str:
    cid = f"tag-csv-{uuid.uuid4()}"
    audit = _AuditBatch(actor=actor, cid=cid)
    for kind in ("site", "area", "line", "machine"):
        objs = [obj for k, obj, _ in plan.new_hierarchy if k == kind]
        if objs:
            type(objs[0]).objects.bulk_create(objs)
        for obj in objs:
            audit.add(None, obj, repr_=_machine_label(obj))
    for related, model in ((plan.related_devices, Device), (plan.related_scan_classes, ScanClass)):
        new = [r.obj for r in related.values() if r.before is None]
        model.objects.bulk_create(new)
        changed = [r for r in related.values() if r.before is not None and r.changes]
        if changed:
            fields = sorted({c.removeprefix("device_").removeprefix("scan_class_") for r in changed for c in r.changes})
            model.objects.bulk_update([r.obj for r in changed], fields)
        for r in related.values():
            if r.before is None or r.changes:
                audit.add(r.before, r.obj)

    total = len(plan.tags_create) + sum(1 for u in plan.tags_update if u[2])
    done = 0
    for start in range(0, len(plan.tags_create), 1000):
        Tag.objects.bulk_create(plan.tags_create[start : start + 1000])
        done += len(plan.tags_create[start : start + 1000])
        if progress:
            progress("writing", done, total)
    field_updates = [u for u in plan.tags_update if u[2]]  # not only a machine_state change
    if field_updates:
        update_fields = sorted({f for _, _, fields in field_updates for f in fields})
        for start in range(0, len(field_updates), 1000):
            chunk = field_updates[start : start + 1000]
            Tag.objects.bulk_update([after for _, after, _ in chunk], update_fields)
            done += len(chunk)
            if progress:
                progress("writing", done, total)
    for tag in plan.tags_create:
        audit.add(None, tag)
    for before, after, _ in plan.tags_update:
        audit.add(before, after)

    machines: dict[int, tuple[Machine, Machine]] = {}
    for machine, _tag in plan.state_unset:
        machines.setdefault(machine.pk, (_snapshot(machine), machine))
        machine.state_tag = None
    for key, (tag, _line) in plan.state_wanted.items():
        machine = plan.machines[key]
        if machine.state_tag_id != tag.pk:
            machines.setdefault(machine.pk, (_snapshot(machine), machine))
            machine.state_tag = tag
    if machines:
        Machine.objects.bulk_update([m for _, m in machines.values()], ["state_tag"])
        for before, after in machines.values():
            audit.add(before, after, repr_=_machine_label(after))
    for extension in plan.extensions:
        extension.apply(audit=audit)
    audit.write(progress)
    return cid


def tag_import_csv(
    *,
    file: IO[bytes] | IO[str] | bytes | str,
    dry_run: bool,
    actor: AbstractBaseUser | AnonymousUser | None,
    filename: str = "",
    progress: Progress | None = None,
) -> ImportReport:
    """Read a tag CSV (format: this module's docstring) and report what it changes; unless `dry_run`, apply it.

    The diff is computed the same way for both, inside one transaction that the apply commits: a file with any
    error writes nothing. Raises TagCsvFormatError when the file as a whole is unreadable or has the wrong columns.
    """
    header, rows = _read_rows(file)
    user = actor if actor is not None and actor.is_authenticated else None
    with transaction.atomic():
        plan = _Plan(lock=not dry_run)
        plan.report.total = len(rows)
        plan.report.dry_run = dry_run
        for index, (line, cells) in enumerate(rows, start=1):
            plan.add_row(line, header, cells)
            if progress and (index % PROGRESS_EVERY == 0 or index == len(rows)):
                progress("checking", index, len(rows))
        plan.finish()
        report = plan.report
        if dry_run or report.errors:
            return report
        # set_actor: deletions an extension makes through the ORM are logged by auditlog's signals, with the actor.
        with set_actor(user) if user is not None else contextlib.nullcontext():
            cid = _apply(plan, actor=user, progress=progress)  # type: ignore[arg-type]
        # In this transaction: the audit app records it (audit/receivers.py), or the import rolls back.
        tag_csv_applied.send(
            sender=Tag, actor=user, filename=filename, details={**report.summary(), "auditlog_cid": cid}
        )
        report.applied = True
        created_ids = [t.pk for t in plan.tags_create]
        updated_ids = [after.pk for _, after, _ in plan.tags_update]
        # Pollers re-read their tags now (ingest/signals.py).
        transaction.on_commit(lambda: tags_imported.send(sender=Tag, created_ids=created_ids, updated_ids=updated_ids))
    return report
