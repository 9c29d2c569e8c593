"""The tag CSV's `alarms` column: every alarm definition of the tag, as a JSON list (historian/services/tag_csv/).

One object per definition with the definition's fields ({"name": "Temperature high", "kind": "hi", "limit": 80.0,
"priority": "high", ...}); the tags a definition refers to (setpoint, suppression) by path. A field left out takes
its default, so a hand-written cell can be short. The cell lists all of the tag's alarms: an alarm of the tag that
is not in it is deleted (and the dry run says so); an empty cell means no alarms. Export then import is a no-op.
"""

import json
from collections import defaultdict
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from alarms.models import AlarmDefinition
from alarms.services.definitions import definitions_invalidate
from historian.models import Tag
from historian.services.tag_csv import RowError, TagCsvExtension

COLUMN = "alarms"
_NOT_IN_CELL = ("id", "tag", "updated_at", "category", "source")  # a tag's alarms are process alarms
_TAG_REFERENCES = ("setpoint_tag", "suppress_tag")
# A tag that the same file creates has no primary key while the file is checked: validation sees this one.
_NEW_TAG_PLACEHOLDER_ID = -1


def _fields() -> list[models.Field]:
    return [f for f in AlarmDefinition._meta.concrete_fields if f.name not in _NOT_IN_CELL]


def _cell(items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    return json.dumps(sorted(items, key=lambda i: i["name"]), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _decode_item(item: Any, fields: dict[str, models.Field]) -> tuple[dict[str, Any], list[str]]:
    """One definition object of the cell, with defaults filled in and types checked (not the model's rules)."""
    if not isinstance(item, dict):
        return {}, ['each alarm must be an object such as {"name": "High", "kind": "hi", "limit": 80}']
    name = item.get("name")
    label = f"alarm {name!r}" if isinstance(name, str) and name else "an alarm"
    problems = []
    unknown = sorted(set(item) - set(fields))
    if unknown:
        problems.append(f"{label}: unknown keys {', '.join(unknown)} (use {', '.join(fields)})")
    values: dict[str, Any] = {}
    for key, model_field in fields.items():
        if key not in item:
            values[key] = model_field.get_default()  # "" for text without a default, None where null
            continue
        value = item[key]
        if value is None:
            ok = model_field.null
        elif isinstance(model_field, models.BooleanField):
            ok = isinstance(value, bool)
        elif isinstance(model_field, models.FloatField | models.IntegerField):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok and isinstance(model_field, models.FloatField):
                value = float(value)
        else:  # text, and the paths of referenced tags
            ok = isinstance(value, str)
        if not ok:
            problems.append(f"{label}: {key} cannot be {json.dumps(value)}")
        values[key] = value
    if not values.get("name"):
        problems.append(f"{label}: needs a name")
    return values, problems


class AlarmDefinitionsCsv(TagCsvExtension):
    columns = (COLUMN,)

    def __init__(self) -> None:
        self.fields = {f.name: f for f in _fields()}
        self.by_tag: dict[int, dict[str, AlarmDefinition]] = defaultdict(dict)
        # Referenced tags are named through the path map below, not joined: two outer joins of the tag table,
        # planned before a fresh import has statistics, ran for minutes on 10k tags.
        for definition in AlarmDefinition.objects.filter(tag__isnull=False):
            self.by_tag[cast(int, definition.tag_id)][definition.name] = definition  # tag__isnull=False
        self.tag_ids = dict(Tag.objects.values_list("path", "pk"))
        self.tag_paths = {pk: path for path, pk in self.tag_ids.items()}
        self.new_tags: dict[str, Tag] = {}
        # Per tag whose alarms change: (line, tag, wanted {name: values}).
        self.pending: list[tuple[int, Tag, dict[str, dict[str, Any]]]] = []
        self.checked: list[tuple[AlarmDefinition | None, AlarmDefinition]] = []
        self.deleted: list[AlarmDefinition] = []
        self.new_tag_references: list[tuple[AlarmDefinition, str, str]] = []  # definition, field, path

    def _item(self, definition: AlarmDefinition) -> dict[str, Any]:
        item = {}
        for name, model_field in self.fields.items():
            if name in _TAG_REFERENCES:
                related_id = getattr(definition, f"{name}_id")
                item[name] = self.tag_paths[related_id] if related_id is not None else None
            else:
                item[name] = model_field.value_from_object(definition)
        return item

    def export_cells(self, tag: Tag) -> list[str]:
        return [_cell([self._item(d) for d in self.by_tag.get(tag.pk, {}).values()])]

    def check_row(
        self, *, line: int, tag: Tag, exists: bool, cells: dict[str, str]
    ) -> tuple[dict[str, tuple[str, str]], list[str]]:
        text = cells[COLUMN].strip()
        if not exists:
            self.new_tags[tag.path] = tag
        try:
            items = json.loads(text) if text else []
        except ValueError as exc:
            return {}, [f"{COLUMN}: is not valid JSON ({exc})"]
        if not isinstance(items, list):
            return {}, [f'{COLUMN}: must be a JSON list of alarms, e.g. [{{"name": "High", "kind": "hi"}}]']
        wanted: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for item in items:
            values, item_problems = _decode_item(item, self.fields)
            problems += item_problems
            if values.get("name") in wanted:
                problems.append(f"alarm {values['name']!r}: named twice")
            elif values.get("name"):
                wanted[values["name"]] = values
        if problems:
            return {}, [f"{COLUMN}: {p}" for p in problems]
        before = _cell([self._item(d) for d in self.by_tag.get(tag.pk, {}).values()]) if exists else ""
        after = _cell(list(wanted.values()))
        if before == after:
            return {}, []
        self.pending.append((line, tag, wanted))
        return {COLUMN: (before, after)}, []

    def check_file(self, *, paths: set[str]) -> list[RowError]:
        errors = []
        for line, tag, wanted in self.pending:
            existing = self.by_tag.get(tag.pk, {}) if tag.pk is not None else {}
            problems = []
            for name, values in wanted.items():
                before = existing.get(name)
                if before is not None and self._item(before) == values:
                    continue
                definition = AlarmDefinition(pk=before.pk) if before is not None else AlarmDefinition()
                definition.tag = tag
                for key, value in values.items():
                    if key in _TAG_REFERENCES:
                        problems += self._reference(definition, key, value, name)
                    else:
                        setattr(definition, key, value)
                try:
                    definition.full_clean(
                        exclude=["tag", *_TAG_REFERENCES], validate_unique=False, validate_constraints=False
                    )
                except ValidationError as exc:
                    problems += [f"alarm {name!r}: {field}: {' '.join(m)}" for field, m in exc.message_dict.items()]
                self.checked.append((before, definition))
            self.deleted += [d for name, d in existing.items() if name not in wanted]
            if problems:
                errors.append(RowError(line, "; ".join(f"{COLUMN}: {p}" for p in problems)))
        for definition, key, path in self.new_tag_references:
            setattr(definition, key, self.new_tags[path])  # its primary key is filled in when it is saved
        return errors

    def _reference(self, definition: AlarmDefinition, key: str, path: str | None, name: str) -> list[str]:
        if path is None:
            setattr(definition, f"{key}_id", None)
        elif path in self.tag_ids:
            setattr(definition, f"{key}_id", self.tag_ids[path])
        elif path in self.new_tags:
            setattr(definition, f"{key}_id", _NEW_TAG_PLACEHOLDER_ID)
            self.new_tag_references.append((definition, key, path))
        else:
            return [f"alarm {name!r}: {key} {path!r} is no tag (neither in the database nor in this file)"]
        return []

    def apply(self, *, audit: Any) -> None:
        for _, definition in self.checked:
            definition.tag = definition.tag  # the tag's primary key, now that it is saved
        created = [d for before, d in self.checked if before is None]
        AlarmDefinition.objects.bulk_create(created)
        updated = [(before, d) for before, d in self.checked if before is not None]
        if updated:
            now = timezone.now()
            for _, definition in updated:
                definition.updated_at = now  # auto_now: bulk_update does not set it
            AlarmDefinition.objects.bulk_update([d for _, d in updated], [*self.fields, "updated_at"])
        for before, definition in self.checked:
            tag = cast(Tag, definition.tag)  # check_file gave each checked definition its row's tag
            audit.add(before, definition, repr_=f"{tag.path}: {definition.name}")
        if self.deleted:
            # One by one through the ORM: auditlog records each deletion, the alarms' signals see them.
            for definition in self.deleted:
                definition.delete()
        # The import's bulk writes (tags and definitions) send no post_save: the evaluation caches definitions with
        # their tags, so they are refreshed here, now and after commit (as alarms/signals.py does).
        definitions_invalidate()
        transaction.on_commit(definitions_invalidate)
