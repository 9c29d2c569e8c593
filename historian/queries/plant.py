"""Reads of the plant model for the pages: which machines, their key tags, their current values."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Prefetch

from historian.models import Line, Machine, Tag

from .history import CurrentValue, current_values


@dataclass
class TagView:
    tag: Tag
    current: CurrentValue | None

    def as_json(self) -> dict:
        t = self.tag
        return {
            "id": t.pk,
            "name": t.name,
            "path": t.path,
            "units": t.units,
            "data_type": t.data_type,
            "plot_interpolation": t.plot_interpolation,
            "span": [t.span_low, t.span_high],
            "labels": t.value_labels,
            "key": t.is_key,
            "value": self.current.value if self.current else None,
            "quality": self.current.quality if self.current else None,
            "time": round(self.current.time.timestamp() * 1000) if self.current else None,
        }


@dataclass
class MachineView:
    machine: Machine
    tags: list[TagView] = field(default_factory=list)

    @property
    def state(self) -> TagView | None:
        return next((v for v in self.tags if v.tag.pk == self.machine.state_tag_id), None)

    def as_json(self) -> dict:
        return {
            "id": self.machine.pk,
            "name": self.machine.name,
            "line": self.machine.line.name,
            "state_tag": self.machine.state_tag_id,
            "tags": [v.as_json() for v in self.tags],
        }


def existing_machine_ids(*, ids: Iterable[int]) -> set[int]:
    return set(Machine.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))


def _with_values(machines: Iterable[Machine], tags_of) -> list[MachineView]:
    views = [MachineView(m, [TagView(t, None) for t in tags_of(m)]) for m in machines]
    values = current_values(tag_ids=[tv.tag.pk for view in views for tv in view.tags])
    for view in views:
        for tv in view.tags:
            tv.current = values.get(tv.tag.pk)
    return views


def plant_overview() -> list[tuple[Line, list[MachineView]]]:
    """Every line with its machines, each with its key tags and their current values (3 queries in all)."""
    key_tags = Tag.objects.filter(is_key=True).order_by("pk")
    lines = list(
        Line.objects.select_related("area__site")
        .prefetch_related(
            Prefetch(
                "machines",
                queryset=Machine.objects.select_related("line").prefetch_related(
                    Prefetch("tags", queryset=key_tags, to_attr="key_tags")
                ),
            )
        )
        .order_by("area__site__name", "area__name", "name")
    )
    views = _with_values([m for line in lines for m in line.machines.all()], lambda m: m.key_tags)
    by_machine = {v.machine.pk: v for v in views}
    return [(line, [by_machine[m.pk] for m in line.machines.all()]) for line in lines]


def machine_view(*, machine_id: int) -> MachineView:
    """One machine with all its tags and their current values; Machine.DoesNotExist if unknown."""
    machine = Machine.objects.select_related("line__area__site").get(pk=machine_id)
    return _with_values([machine], lambda m: list(m.tags.order_by("-is_key", "pk")))[0]


def machine_trend_tags(*, machine_id: int) -> list[Tag]:
    """The analog key tags drawn on the machine's live trend (not booleans, not strings: their text shows in the
    tag table)."""
    return list(
        Tag.objects.filter(machine_id=machine_id, is_key=True, value_labels={})
        .exclude(data_type__in=["bool", "string"])
        .order_by("pk")
    )
