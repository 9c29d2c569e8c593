"""Reads of the plant model for finding tags: the Site/Area/Line/Machine tree and tag search."""

from django.db.models import Count, Prefetch, Q, QuerySet

from historian.models import Area, Device, Line, Machine, Site, Tag


def hierarchy_tree() -> list[dict]:
    """Every site with its areas, lines and machines (and each machine's tag count), in 5 queries."""
    machines = Machine.objects.annotate(tag_count=Count("tags")).order_by("name")
    sites = Site.objects.prefetch_related(
        Prefetch(
            "areas",
            queryset=Area.objects.order_by("name").prefetch_related(
                Prefetch(
                    "lines",
                    queryset=Line.objects.order_by("name").prefetch_related(Prefetch("machines", queryset=machines)),
                )
            ),
        )
    ).order_by("name")
    return [
        {
            "id": site.pk,
            "name": site.name,
            "areas": [
                {
                    "id": area.pk,
                    "name": area.name,
                    "lines": [
                        {
                            "id": line.pk,
                            "name": line.name,
                            "machines": [_machine_entry(m) for m in line.machines.all()],
                        }
                        for line in area.lines.all()
                    ],
                }
                for area in site.areas.all()
            ],
        }
        for site in sites
    ]


def _machine_entry(machine: Machine) -> dict:
    # tag_count is hierarchy_tree's annotation on its machines queryset, which the type checker cannot see.
    return {"id": machine.pk, "name": machine.name, "tag_count": machine.tag_count}  # type: ignore[attr-defined]


def tags_find(
    *,
    search: str = "",
    site_id: int | None = None,
    area_id: int | None = None,
    line_id: int | None = None,
    machine_id: int | None = None,
    units: str | None = None,
    ids: list[int] | None = None,
) -> QuerySet[Tag]:
    """Tags matching every given filter; `search` matches words in the path, name or description."""
    tags = Tag.objects.select_related("machine__line__area__site").order_by("path")
    for word in search.split():
        tags = tags.filter(Q(path__icontains=word) | Q(name__icontains=word) | Q(description__icontains=word))
    given = {
        "machine__line__area__site_id": site_id,
        "machine__line__area_id": area_id,
        "machine__line_id": line_id,
        "machine_id": machine_id,
        "units": units,
        "pk__in": ids,
    }
    return tags.filter(**{lookup: value for lookup, value in given.items() if value is not None})


def devices_by_name() -> QuerySet[Device]:
    """Every device, by name (the API lists their link status)."""
    return Device.objects.order_by("name")


def devices_quarantined() -> list[Device]:
    """The devices an administrator quarantined (their values are marked, nothing is written to them)."""
    return list(Device.objects.filter(quarantined_at__isnull=False).order_by("name"))
