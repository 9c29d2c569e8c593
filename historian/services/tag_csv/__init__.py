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
  alarm definitions, see alarms/tag_csv.py; production: `production_role`, `state_map`, `fault_codes`, see
  production/tag_csv.py).

Columns follow the models, so a field added to Tag, Device or ScanClass becomes a column (and the import then asks
for it, except the columns of TAG_COLUMNS_OPTIONAL and DEVICE_COLUMNS_OPTIONAL, which older files lack: their tags
and devices keep what they have). An empty cell is the field's default (NULL where the field allows it). Tags
absent from the file are left alone: the import creates and updates, it never deletes. Values are written so they
read back exactly: floats as Python's shortest round-tripping form, booleans as true/false, value labels as JSON
with sorted keys.

Modules, by job: `codecs` (columns, cell values), `extensions` (other apps' columns), `export`, `plan` (reading
and checking a file: the diff), `apply` (writing a plan; tag_import_csv), `audit` (the auditlog rows of bulk
writes), `report`. What other code needs is imported from here.

Formulas: the export goes through common.csv, so a text cell that a spreadsheet would run (starting with
= + - @, a tab or a carriage return, e.g. a description "+1+1" or a name "=SUM(A1)") is written with a single
quote in front ('=SUM(A1)); number columns are written as numbers, never quoted (an offset of -40.0 stays -40.0).
The import takes that quote off again: a cell that starts with a quote followed by one of = + - @ tab CR has that
one quote removed (common.csv.csv_unguard; a text that really starts with quotes then one of those characters is
exported with one more quote), so export then import gives back "=SUM(A1)" exactly. Any other cell is read as it
is: "'abc" stays "'abc".
"""

from historian.services.tag_csv.apply import PROGRESS_EVERY, tag_import_csv
from historian.services.tag_csv.codecs import decode_value, encode_value, export_cell, tag_csv_columns
from historian.services.tag_csv.export import tag_export_csv
from historian.services.tag_csv.extensions import TagCsvExtension
from historian.services.tag_csv.report import (
    ImportReport,
    ObjectChange,
    Progress,
    RowChange,
    RowError,
    TagCsvFormatError,
)

__all__ = [
    "PROGRESS_EVERY",
    "ImportReport",
    "ObjectChange",
    "Progress",
    "RowChange",
    "RowError",
    "TagCsvExtension",
    "TagCsvFormatError",
    "decode_value",
    "encode_value",
    "export_cell",
    "tag_csv_columns",
    "tag_export_csv",
    "tag_import_csv",
]
