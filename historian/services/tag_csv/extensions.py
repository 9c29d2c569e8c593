"""The interface through which other apps add columns (settings.HISTORIAN_TAG_CSV_EXTENSIONS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

from historian.models import Tag

if TYPE_CHECKING:
    from historian.services.tag_csv.audit import AuditBatch
    from historian.services.tag_csv.report import RowError


class TagCsvExtension:
    """Columns that another app adds to the tag CSV (its path listed in settings.HISTORIAN_TAG_CSV_EXTENSIONS).

    One instance serves one export or one import: it loads what it needs when created. Historian knows the other
    apps only through this interface.
    """

    columns: tuple[str, ...] = ()

    def export_cells(self, tag: Tag) -> list[str]:
        """The tag's cells, in the order of `columns`."""
        raise NotImplementedError

    def check_row(
        self, *, line: int, tag: Tag, exists: bool, cells: dict[str, str]
    ) -> tuple[dict[str, tuple[str, str]], list[str]]:
        """The row's changes (column -> (before, after)) and its problems; writes nothing."""
        raise NotImplementedError

    def check_file(self, *, paths: set[str]) -> list[RowError]:
        """Errors that need every row (e.g. references to tags), once all are read. `paths`: every tag's path."""
        return []

    def apply(self, *, audit: AuditBatch) -> None:
        """Write the checked changes, after the tags are saved (new tags have their primary keys)."""
        raise NotImplementedError


def extension_classes() -> list[type[TagCsvExtension]]:
    return [import_string(path) for path in getattr(settings, "HISTORIAN_TAG_CSV_EXTENSIONS", [])]
