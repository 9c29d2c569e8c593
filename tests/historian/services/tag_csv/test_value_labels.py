"""The tag CSV's value_labels column: a tag's value label set by its name."""

from historian.models import Tag, ValueLabelSet
from historian.services.tag_csv import tag_import_csv
from tests.historian.services.tag_csv.support import export_text, line_numbers, rows_of, write_rows


def test_the_export_names_each_tags_set_and_imports_back_unchanged(plant, admin_user):
    text = export_text()
    rows = rows_of(text)
    labelled = [r for r in rows if r["value_labels"]]
    assert labelled
    assert {r["value_labels"] for r in labelled} == {"Idle, running"}
    assert all(r["path"].endswith(".t0") for r in labelled)
    before = list(Tag.objects.order_by("pk").values())

    report = tag_import_csv(file=text, dry_run=False, actor=admin_user)

    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == ([], [], len(rows))
    assert list(Tag.objects.order_by("pk").values()) == before


def test_a_row_names_another_set_or_none_and_the_import_applies_it(plant, admin_user):
    ValueLabelSet.objects.create(name="Open / closed")
    rows = rows_of(export_text())
    first_labelled = next(i for i, r in enumerate(rows) if r["value_labels"])
    rows[first_labelled]["value_labels"] = "Open / closed"
    rows[first_labelled + 1]["value_labels"] = "Idle, running"
    text = write_rows(rows)

    report = tag_import_csv(file=text, dry_run=False, actor=admin_user)

    assert report.errors == []
    changes = {c.path: c.changes for c in report.updated}
    assert changes == {
        rows[first_labelled]["path"]: {"value_labels": ("Idle, running", "Open / closed")},
        rows[first_labelled + 1]["path"]: {"value_labels": ("", "Idle, running")},
    }
    assert Tag.objects.get(path=rows[first_labelled]["path"]).value_labels.name == "Open / closed"
    assert Tag.objects.get(path=rows[first_labelled + 1]["path"]).value_labels.name == "Idle, running"

    rows[first_labelled]["value_labels"] = ""
    report = tag_import_csv(file=write_rows(rows), dry_run=False, actor=admin_user)
    assert report.errors == []
    assert Tag.objects.get(path=rows[first_labelled]["path"]).value_labels is None


def test_an_unknown_set_name_is_an_error_naming_the_line_and_column(plant, admin_user):
    rows = rows_of(export_text())
    rows[1]["value_labels"] = "Machine stat"
    text = write_rows(rows)
    before = list(Tag.objects.order_by("pk").values())

    report = tag_import_csv(file=text, dry_run=False, actor=admin_user)

    assert [(e.line, e.message) for e in report.errors] == [
        (
            line_numbers(text)[rows[1]["path"]],
            "value_labels: no value label set is named 'Machine stat' (add it in the admin, or leave the cell empty)",
        )
    ]
    assert list(Tag.objects.order_by("pk").values()) == before
