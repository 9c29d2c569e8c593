"""historian/services/tag_csv/plan.py: checking a file, the dry-run diff, errors by line; nothing written."""

import pytest

from historian.models import Area, Device, Tag
from historian.services.tag_csv import TagCsvFormatError, tag_csv_columns, tag_import_csv
from tests.historian.services.tag_csv.support import (
    export_text,
    line_numbers,
    rows_of,
    write_rows,
)


def test_a_dry_run_reports_the_exact_diff_and_writes_nothing(plant, admin_user):
    rows = rows_of(export_text())
    rows[0]["deadband"] = "2.5"
    rows[0]["units"] = "bar"
    assert rows[1]["scan_class"] == "Fast"
    rows[1]["scan_class"], rows[1]["scan_class_period_ms"], rows[1]["scan_class_description"] = "Slow", "10000", ""
    new = dict(rows[2], path="Plant Ü/New/Line 9/M900.speed", area="New", line="Line 9", machine="M900")
    new["machine_state"] = "false"
    rows.append(new)
    before = list(Tag.objects.order_by("pk").values())

    text = write_rows(rows)
    report = tag_import_csv(file=text, dry_run=True, actor=admin_user)

    assert report.errors == []
    assert [(c.line, c.path) for c in report.created] == [(line_numbers(text)[new["path"]], new["path"])]
    assert [(c.line, c.path, c.changes) for c in report.updated] == [
        (2, rows[0]["path"], {"units": ("", "bar"), "deadband": ("0.0", "2.5")}),
        (3, rows[1]["path"], {"scan_class": ("Fast", "Slow")}),
    ]
    assert report.unchanged == len(rows) - 3
    assert {(o.kind, o.name, o.created) for o in report.objects} == {
        ("area", "Plant Ü/New", True),
        ("line", "Plant Ü/New/Line 9", True),
        ("machine", "Plant Ü/New/Line 9/M900", True),
    }
    assert list(Tag.objects.order_by("pk").values()) == before
    assert not Area.objects.filter(name="New").exists()


def test_bad_rows_are_reported_with_their_line_and_reason(plant, admin_user):
    rows = rows_of(export_text())
    rows[0]["scale"] = "fast"
    rows[1]["address"] = "XY12"
    rows[2]["span_high"] = "-100"
    rows[3]["path"] = rows[0]["path"]
    rows[4]["device_host"] = "elsewhere"  # the same device as row 0, disagreeing

    report = tag_import_csv(file=write_rows(rows), dry_run=True, actor=admin_user)

    # Rows 0..4 start on lines 2, 3, 4, 6, 7: row 2's description spans two lines.
    errors = {e.line: e.message for e in report.errors}
    assert sorted(errors) == [2, 3, 4, 6, 7]
    assert errors[2] == "scale: 'fast' is not a number"
    assert errors[3].startswith("address: 'XY12' is not a Modbus address")
    assert errors[4] == "span_high: The upper end of the range must be above the lower end."
    assert errors[6] == f"path {rows[0]['path']!r} is already on line 2"
    assert errors[7].startswith(f"device {rows[0]['device']!r}: device_host differ from line 2")


def test_line_numbers_count_the_physical_lines_of_quoted_multi_line_cells(plant, admin_user):
    rows = rows_of(export_text())
    multi = next(i for i, r in enumerate(rows) if "\n" in r["description"])
    rows[multi + 1]["scale"] = "x"

    report = tag_import_csv(file=write_rows(rows), dry_run=True, actor=admin_user)

    # The header, the rows before, and the extra physical line of each multi-line description before it.
    extra = sum(r["description"].count("\n") for r in rows[: multi + 1])
    assert [e.line for e in report.errors] == [1 + (multi + 1) + extra + 1]


@pytest.mark.parametrize(
    ("header_change", "message"),
    [
        (
            lambda cols: [c for c in cols if c not in ("deadband", "device_host")],
            "missing columns: deadband, device_host",
        ),
        (lambda cols: [*cols, "colour"], "unknown columns: colour"),
        (lambda cols: [*cols, "scale"], "columns named more than once: scale"),
    ],
)
def test_a_file_with_wrong_columns_is_refused_naming_them(plant, admin_user, header_change, message):
    header = header_change(tag_csv_columns())
    with pytest.raises(TagCsvFormatError, match=message):
        tag_import_csv(file=",".join(header) + "\r\n", dry_run=True, actor=admin_user)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "The file is empty"), (b"\xff\xfe\x00p", "not UTF-8"), (b'"path\n', "not valid CSV")],
)
def test_an_unreadable_file_is_refused_with_the_reason(db, content, message):
    with pytest.raises(TagCsvFormatError, match=message):
        tag_import_csv(file=content, dry_run=True, actor=None)


def test_a_word_order_on_a_16_bit_tag_in_the_file_is_an_error_of_its_line(plant, admin_user):
    rows = rows_of(export_text())
    index = next(i for i, r in enumerate(rows) if r["data_type"] == "int16")
    rows[index]["word_order"] = "little"

    text = write_rows(rows)
    report = tag_import_csv(file=text, dry_run=True, actor=admin_user)

    assert [(e.line, e.message) for e in report.errors] == [
        (
            line_numbers(text)[rows[index]["path"]],
            "word_order: Word order applies to 32- and 64-bit values (int32, uint32, float32, float64), whose "
            "registers it orders; not to int16: leave it empty.",
        )
    ]


def test_a_file_exported_before_the_order_columns_still_imports_and_keeps_the_tags_orders(plant, admin_user):
    cdab = Tag.objects.filter(data_type="float32").order_by("path").first()
    Tag.objects.filter(pk=cdab.pk).update(word_order="little")
    old_columns = [c for c in tag_csv_columns() if c not in ("word_order", "byte_order")]
    rows = rows_of(export_text())
    new = dict(rows[2], path="Plant Ü/Old/Line 1/M1.speed", area="Old", machine_state="false")
    rows.append(new)
    rows[0]["units"] = "bar"

    report = tag_import_csv(file=write_rows(rows, old_columns), dry_run=False, actor=admin_user)

    assert report.errors == []
    assert [c.path for c in report.created] == [new["path"]]
    assert [(c.path, c.changes) for c in report.updated] == [(rows[0]["path"], {"units": ("", "bar")})]
    assert Tag.objects.get(pk=cdab.pk).word_order == "little"
    created = Tag.objects.get(path=new["path"])
    assert (created.word_order, created.byte_order) == ("", "")


def test_a_file_exported_before_the_device_timestamps_column_still_imports_and_keeps_the_devices_choice(
    plant, admin_user
):
    Device.objects.filter(name="PLC 1").update(timestamp_source="scan")
    rows = rows_of(export_text())
    assert {r["device_timestamp_source"] for r in rows if r["device"] == "PLC 1"} == {"scan"}
    old_columns = [c for c in tag_csv_columns() if c != "device_timestamp_source"]
    rows[0]["units"] = "bar"
    rows.append(dict(rows[0], path="Plant Ü/Old/Line 1/M1.speed", area="Old", device="PLC 9", machine_state="false"))

    report = tag_import_csv(file=write_rows(rows, old_columns), dry_run=False, actor=admin_user)

    assert report.errors == []
    assert Device.objects.get(name="PLC 1").timestamp_source == "scan"
    assert Device.objects.get(name="PLC 9").timestamp_source == "source"  # a new device: the default


def test_the_edge_publish_column_marks_tags_for_the_central_and_an_older_file_keeps_it(plant, admin_user):
    rows = rows_of(export_text())
    number = next(i for i, r in enumerate(rows) if r["data_type"] == "float32")
    rows[number]["edge_publish"] = "true"

    report = tag_import_csv(file=write_rows(rows), dry_run=False, actor=admin_user)

    assert report.errors == []
    assert [(c.path, c.changes) for c in report.updated] == [
        (rows[number]["path"], {"edge_publish": ("false", "true")})
    ]
    assert Tag.objects.get(path=rows[number]["path"]).edge_publish
    # A file exported before the column keeps the tags' choice.
    old_columns = [c for c in tag_csv_columns() if c != "edge_publish"]
    assert tag_import_csv(file=write_rows(rows, old_columns), dry_run=False, actor=admin_user).updated == []
    assert Tag.objects.get(path=rows[number]["path"]).edge_publish
