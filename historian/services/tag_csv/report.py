"""What an import reports: rows created, updated, unchanged, errors by line, other objects; and the file error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[str, int, int], None]


class TagCsvFormatError(ValueError):
    """The file as a whole cannot be read: not UTF-8, not CSV, or not the expected columns."""


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
