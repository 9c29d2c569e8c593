"""Reading a file and checking it against the database: the plan of what it changes (the dry run's diff), nothing
written."""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Generic, TypeAlias, TypeVar

from django.core.exceptions import ValidationError
from django.db import models

from common.csv import csv_unguard
from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag
from historian.services.tag_csv.codecs import (
    DEVICE_COLUMNS_OPTIONAL,
    HIERARCHY_COLUMNS,
    TAG_COLUMNS_OPTIONAL,
    TAG_NAMED_REFERENCES,
    TAG_REFERENCES,
    Codec,
    decode_value,
    device_field_codecs,
    encode_value,
    same_value,
    scan_class_field_codecs,
    tag_csv_columns,
    tag_field_codecs,
)
from historian.services.tag_csv.extensions import extension_classes
from historian.services.tag_csv.report import ImportReport, ObjectChange, RowChange, RowError, TagCsvFormatError

#: A level of the ISA-95 hierarchy a row names (each has a `name`, and all but the site a parent).
HierarchyObject: TypeAlias = Site | Area | Line | Machine
#: A device or a scan class: what a row names by its name, shared by every row that names it.
RelatedModel = TypeVar("RelatedModel", Device, ScanClass)


def read_rows(file: IO[bytes] | IO[str] | bytes | str) -> tuple[list[str], list[tuple[int, list[str]]]]:
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
                rows.append((first_line, [csv_unguard(c) for c in cells]))  # the export's formula guard
    except csv.Error as exc:
        raise TagCsvFormatError(f"Line {reader.line_num}: the file is not valid CSV ({exc}).") from None
    if header is None:
        raise TagCsvFormatError("The file is empty: it needs a header line naming the columns.")
    _check_header(header)
    return header, rows


def _check_header(header: list[str]) -> None:
    expected = tag_csv_columns()
    duplicates = sorted({c for c in header if header.count(c) > 1})
    optional = (*TAG_COLUMNS_OPTIONAL, *DEVICE_COLUMNS_OPTIONAL)
    missing = [c for c in expected if c not in header and c not in optional]
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
class PlannedRelated(Generic[RelatedModel]):
    """A device or scan class as the file wants it, with the line that first named it."""

    obj: RelatedModel
    line: int
    values: dict[str, Any]
    before: RelatedModel | None  # None: created
    changes: dict[str, tuple[str, str]]
    error: str | None = None


class Plan:
    """Everything the file asks for, checked against the database; nothing written."""

    def __init__(self, *, lock: bool) -> None:
        self.tag_codecs = tag_field_codecs()
        self.device_codecs = device_field_codecs()
        self.scan_codecs = scan_class_field_codecs()
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

        self.extensions = [cls() for cls in extension_classes()]
        self.report = ImportReport()
        self.paths_seen: dict[str, int] = {}
        self.related_devices: dict[str, PlannedRelated[Device]] = {}
        self.related_scan_classes: dict[str, PlannedRelated[ScanClass]] = {}
        self.new_hierarchy: list[tuple[str, HierarchyObject, int]] = []
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
        site_name, area_name, line_name, machine_name = (row[c] for c in HIERARCHY_COLUMNS)
        names = (site_name, area_name, line_name, machine_name)
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
        # _related returns None only with a problem, reported just above.
        assert device is not None
        assert scan_class is not None
        machine = self._machine(line, names, problems)
        if machine is None:
            self._error(line, "; ".join(problems))
            return

        tag = snapshot(before) if before is not None else Tag()
        for codec in self.tag_codecs:
            setattr(tag, codec.field.attname, values[codec.column])
        tag.machine, tag.device, tag.scan_class = machine, device, scan_class
        try:
            tag.full_clean(
                exclude=[*TAG_REFERENCES, *TAG_NAMED_REFERENCES], validate_unique=False, validate_constraints=False
            )
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
        state_change = self._machine_state(line, names, machine, tag, before, bool(machine_state))
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

    def _decode(self, row: dict[str, str], codecs: list[Codec], problems: list[str]) -> dict[str, Any]:
        return {c.column: self._decode_codec(row, c, problems) for c in codecs}

    @staticmethod
    def _decode_codec(row: dict[str, str], codec: Codec, problems: list[str]) -> Any:
        try:
            return codec.decode(row[codec.column])
        except ValueError as exc:
            problems.append(f"{codec.column}: {exc}")
            return None

    def _related(
        self,
        line: int,
        row: dict[str, str],
        prefix: str,
        seen: dict[str, PlannedRelated[RelatedModel]],
        existing: dict[str, RelatedModel],
        model: type[RelatedModel],
        codecs: list[Codec],
        problems: list[str],
    ) -> RelatedModel | None:
        """The device (or scan class) of the row: the same object for every row that names it."""
        name = row[prefix]
        if not name:
            problems.append(f"{prefix}: must not be empty")
            return None
        before = existing.get(name)
        for codec in codecs:
            if codec.column in DEVICE_COLUMNS_OPTIONAL and codec.column not in row:
                kept = getattr(before, codec.field.attname) if before is not None else codec.field.get_default()
                row[codec.column] = codec.encode(kept)
        values = self._decode(row, codecs, problems)
        if name in seen:
            first = seen[name]
            differ = [c.column for c in codecs if not same_value(c.field, values[c.column], first.values[c.column])]
            if differ:
                problems.append(
                    f"{prefix} {name!r}: {', '.join(differ)} differ from line {first.line}"
                    " (all rows of one " + prefix.replace("_", " ") + " must agree)"
                )
            return first.obj
        obj = snapshot(before) if before is not None else model(name=name)
        for codec in codecs:
            if values[codec.column] is not None or codec.field.null:
                setattr(obj, codec.field.attname, values[codec.column])
        changes: dict[str, tuple[str, str]] = {}
        if before is not None:
            for codec in codecs:
                old, new = getattr(before, codec.field.attname), getattr(obj, codec.field.attname)
                if not same_value(codec.field, old, new):
                    changes[codec.column] = (codec.encode(old), codec.encode(new))
        related = PlannedRelated(obj, line, values, before, changes)
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
        levels: list[tuple[str, dict, Any, Callable[[Any], HierarchyObject]]] = [
            ("site", self.sites, site_name, lambda _: Site(name=site_name)),
            ("area", self.areas, names[:2], lambda parent: Area(site=parent, name=area_name)),
            ("line", self.lines, names[:3], lambda parent: Line(area=parent, name=line_name)),
            ("machine", self.machines, names, lambda parent: Machine(line=parent, name=machine_name)),
        ]
        parent: HierarchyObject | None = None
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
        assert isinstance(parent, Machine)  # the last level
        return parent

    def _tag_changes(self, before: Tag, after: Tag) -> dict[str, tuple[str, str]]:
        changes: dict[str, tuple[str, str]] = {}
        for codec in self.tag_codecs:
            old, new = getattr(before, codec.field.attname), getattr(after, codec.field.attname)
            if not same_value(codec.field, old, new):
                changes[codec.column] = (codec.encode(old), codec.encode(new))
        if after.machine.pk != before.machine_id:
            changes["machine"] = (machine_label(self.machines_by_id[before.machine_id]), machine_label(after.machine))
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
            self.report.objects.append(ObjectChange(kind, machine_label(obj), line, True))
        self.report.objects.sort(key=lambda o: o.line)


def snapshot(obj: Any) -> Any:
    """A copy that can change without changing `obj` (its own state and cache of related objects)."""
    clone = copy.copy(obj)
    clone._state = copy.copy(obj._state)
    clone._state.fields_cache = dict(obj._state.fields_cache)
    return clone


def machine_label(obj: HierarchyObject) -> str:
    names = []
    level: HierarchyObject | None = obj
    while level is not None:
        names.append(level.name)
        level = next((getattr(level, p) for p in ("line", "area", "site") if hasattr(type(level), p)), None)
    return "/".join(reversed(names))
