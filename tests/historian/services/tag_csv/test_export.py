"""historian/services/tag_csv/export.py: the export reads back as a no-op, losslessly, formulas neutralised."""

import pytest

from historian.models import Device, Tag
from historian.services.tag_csv import tag_import_csv
from tests.historian.services.tag_csv.support import (
    LINES,
    MACHINES_PER_LINE,
    TAGS_PER_MACHINE,
    export_text,
    plant_build,
    rows_of,
    write_rows,
)


@pytest.mark.slow
def test_a_10k_tag_export_imports_back_as_a_no_op(db, admin_user):
    from alarms.models import AlarmDefinition

    plant_build(LINES, MACHINES_PER_LINE, TAGS_PER_MACHINE)
    AlarmDefinition.objects.bulk_create(
        AlarmDefinition(tag=tag, name=f"High {tag.pk}", kind="hi", limit=tag.span_high * 0.9, message="{value}")
        for tag in Tag.objects.all()[::10]
    )
    text = export_text()
    assert len(rows_of(text)) == 10_000
    before = list(Tag.objects.order_by("pk").values())
    progress = []

    dry = tag_import_csv(file=text.encode(), dry_run=True, actor=admin_user, progress=lambda *p: progress.append(p))
    applied = tag_import_csv(file=text.encode(), dry_run=False, actor=admin_user)

    for report in (dry, applied):
        assert report.errors == []
        assert report.unchanged == 10_000
        assert report.created == report.updated == report.objects == []
    assert progress[-1] == ("checking", 10_000, 10_000)
    assert len(progress) == 20
    assert list(Tag.objects.order_by("pk").values()) == before
    assert export_text() == text
    assert sum(1 for row in rows_of(text) if row["alarms"]) == 1000


def test_a_string_tag_round_trips_and_a_new_one_imports_from_the_file(plant, admin_user):
    first = Tag.objects.order_by("path").first()
    Tag.objects.create(
        path=first.path.rsplit(".", 1)[0] + ".program",
        name="Program",
        machine=first.machine,
        device=first.device,
        scan_class=first.scan_class,
        address="HR900:8",
        data_type="string",
    )
    exported = export_text()
    rows = rows_of(exported)
    program = next(r for r in rows if r["path"].endswith(".program"))
    assert (program["data_type"], program["address"]) == ("string", "HR900:8")
    assert tag_import_csv(file=exported, dry_run=True, actor=admin_user).unchanged == len(rows)

    recipe = dict(program, path=program["path"].replace(".program", ".recipe"), name="Recipe", address="IR40:16")
    scaled = dict(program, path=program["path"].replace(".program", ".scaled"), address="HR950:2", scale="0.1")
    report = tag_import_csv(file=write_rows([*rows, recipe, scaled]), dry_run=True, actor=admin_user)

    assert [c.path for c in report.created] == [recipe["path"]]
    assert len(report.errors) == 1
    assert "Scale does not apply to a string tag" in str(report.errors[0])

    applied = tag_import_csv(file=write_rows([*rows, recipe]), dry_run=False, actor=admin_user)
    assert applied.applied
    made = Tag.objects.get(path=recipe["path"])
    assert (made.data_type, made.address, made.is_text) == ("string", "IR40:16", True)


FORMULAS = {".t0": "=SUM(A1)", ".t1": "+1+1", ".t2": "'=already quoted", ".t3": "'just a quote"}


def test_text_a_spreadsheet_would_run_is_exported_quoted_and_imports_back_exactly(plant, admin_user):
    tags = {tag.path[-3:]: tag for tag in Tag.objects.filter(machine__name="M000", machine__line__name="Line 1")}
    for suffix, text in FORMULAS.items():
        Tag.objects.filter(pk=tags[suffix].pk).update(description=text)
    Device.objects.filter(name="PLC 1").update(host="-h")

    text = export_text()
    rows = {row["path"][-3:]: row for row in rows_of(text) if row["machine"] == "M000" and row["line"] == "Line 1"}
    assert {suffix: rows[suffix]["description"] for suffix in FORMULAS} == {
        ".t0": "'=SUM(A1)",
        ".t1": "'+1+1",
        ".t2": "''=already quoted",
        ".t3": "'just a quote",  # nothing a spreadsheet runs: left as it is
    }
    assert rows[".t0"]["device_host"] == "'-h"
    # Numbers are numbers, never quoted: a negative offset or span stays as it is.
    assert (rows[".t1"]["offset"], rows[".t1"]["span_low"]) == ("-273.15", "-10.0")

    Tag.objects.filter(pk__in=[t.pk for t in tags.values()]).update(description="edited since")
    Device.objects.filter(name="PLC 1").update(host="plc-1")
    report = tag_import_csv(file=text.encode(), dry_run=False, actor=admin_user)

    assert report.errors == []
    assert {suffix: Tag.objects.get(pk=tags[suffix].pk).description for suffix in FORMULAS} == FORMULAS
    assert Device.objects.get(name="PLC 1").host == "-h"
    assert export_text() == text


def test_a_tags_word_and_byte_order_round_trip_and_import_from_the_file(plant, admin_user):
    floats = Tag.objects.filter(data_type="float32").order_by("path")
    Tag.objects.filter(pk=floats[0].pk).update(word_order="little", byte_order="little")
    exported = export_text()
    rows = rows_of(exported)
    by_path = {r["path"]: r for r in rows}
    assert (by_path[floats[0].path]["word_order"], by_path[floats[0].path]["byte_order"]) == ("little", "little")
    assert (by_path[floats[1].path]["word_order"], by_path[floats[1].path]["byte_order"]) == ("", "")
    assert tag_import_csv(file=exported, dry_run=True, actor=admin_user).unchanged == len(rows)

    by_path[floats[1].path]["word_order"] = "little"
    by_path[floats[0].path]["byte_order"] = ""
    report = tag_import_csv(file=write_rows(rows), dry_run=False, actor=admin_user)

    assert report.errors == []
    assert {c.path: c.changes for c in report.updated} == {
        floats[0].path: {"byte_order": ("little", "")},
        floats[1].path: {"word_order": ("", "little")},
    }
    assert Tag.objects.get(pk=floats[0].pk).byte_order == ""
    assert Tag.objects.get(pk=floats[1].pk).word_order == "little"
