"""Tag CSV export / import: a lossless round trip, the dry-run diff, errors by line, an atomic apply."""

import csv
import io

import pytest
from auditlog.models import LogEntry

from audit.models import AuditAction, AuditEvent
from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag
from historian.services.tag_csv import TagCsvFormatError, tag_csv_columns, tag_export_csv, tag_import_csv
from ingest.acquisition.config_token import acquisition_config_version

LINES, MACHINES_PER_LINE, TAGS_PER_MACHINE = 10, 50, 20  # 10,000 tags


def _export() -> str:
    return "".join(tag_export_csv())


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _line_numbers(text: str) -> dict[str, int]:
    """path -> the physical line its row starts on (quoted cells can span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    numbers, last = {}, reader.line_num
    for cells in reader:
        numbers[cells[0]] = last + 1
        last = reader.line_num
    return numbers


def _write(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=tag_csv_columns(), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _plant(lines: int, machines_per_line: int, tags_per_machine: int) -> None:
    """A plant built in bulk, with values that stress the round trip (floats, JSON, blanks, unicode)."""
    site = Site.objects.create(name="Plant Ü", timezone="Europe/Berlin")
    area = Area.objects.create(site=site, name="Machining, Hall 2")
    fast = ScanClass.objects.create(name="Fast", period_ms=1000, description="every second")
    slow = ScanClass.objects.create(name="Slow", period_ms=10_000)
    tags = []
    for li in range(lines):
        line = Line.objects.create(area=area, name=f"Line {li + 1}")
        device = Device.objects.create(name=f"PLC {li + 1}", host=f"10.0.0.{li + 1}", unit_id=li + 1, port=502)
        machines = Machine.objects.bulk_create(
            [Machine(line=line, name=f"M{mi:03d}") for mi in range(machines_per_line)]
        )
        for mi, machine in enumerate(machines):
            for ti in range(tags_per_machine):
                register = (mi * tags_per_machine + ti) * 2
                tags.append(
                    Tag(
                        path=f"{site.name}/{area.name}/{line.name}/{machine.name}.t{ti}",
                        name=f'Signal "{ti}"',
                        machine=machine,
                        device=device,
                        scan_class=fast if ti % 2 else slow,
                        address=f"HR{register}",
                        data_type="float32" if ti % 3 else "int16",
                        units="°C" if ti % 4 else "",
                        scale=0.1 * (ti + 1),
                        offset=-273.15 if ti == 1 else 0.0,
                        deadband=0.05 * ti,
                        span_low=-10.0,
                        span_high=1e6 / 3,
                        value_labels={"0": "Idle", "1": "Running, fast"} if ti == 0 else {},
                        is_key=ti < 3,
                        description="multi\nline" if ti == 2 else "",
                    )
                )
    Tag.objects.bulk_create(tags, batch_size=2000)
    first = Machine.objects.order_by("pk").first()
    first.state_tag = first.tags.order_by("path").first()
    first.save()


@pytest.fixture
def plant(db):
    _plant(2, 3, 4)


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("chief", password="pw-chief-1")


@pytest.mark.slow
def test_a_10k_tag_export_imports_back_as_a_no_op(db, admin_user):
    from alarms.models import AlarmDefinition

    _plant(LINES, MACHINES_PER_LINE, TAGS_PER_MACHINE)
    AlarmDefinition.objects.bulk_create(
        AlarmDefinition(tag=tag, name=f"High {tag.pk}", kind="hi", limit=tag.span_high * 0.9, message="{value}")
        for tag in Tag.objects.all()[::10]
    )
    text = _export()
    assert len(_rows(text)) == 10_000
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
    assert _export() == text
    assert sum(1 for row in _rows(text) if row["alarms"]) == 1000


@pytest.mark.slow
def test_a_10k_tag_file_for_a_new_site_creates_it_all_with_devices_and_audits_each_tag(db, admin_user):
    _plant(LINES, MACHINES_PER_LINE, TAGS_PER_MACHINE)
    text = _export().replace("Plant Ü", "Plant B").replace("PLC ", "PLC B")
    progress = []

    report = tag_import_csv(
        file=text, dry_run=False, actor=admin_user, filename="plant.csv", progress=lambda *p: progress.append(p)
    )

    assert report.applied
    assert len(report.created) == 10_000
    assert {o.kind for o in report.objects if o.created} == {"site", "area", "line", "machine", "device"}
    assert _export_of_site("Plant B") == text
    assert Machine.objects.filter(line__area__site__name="Plant B").count() == LINES * MACHINES_PER_LINE
    assert LogEntry.objects.filter(cid=report_cid(), content_type__model="tag").count() == 10_000
    event = AuditEvent.objects.get(action=AuditAction.TAG_CSV_IMPORT)
    assert (event.actor, event.target, event.details["created"]) == (admin_user, "plant.csv", 10_000)
    assert ("writing", 10_000, 10_000) in progress


def report_cid() -> str:
    return AuditEvent.objects.get(action=AuditAction.TAG_CSV_IMPORT).details["auditlog_cid"]


def _export_of_site(name: str) -> str:
    return "".join(tag_export_csv(queryset=Tag.objects.filter(machine__line__area__site__name=name)))


def test_a_dry_run_reports_the_exact_diff_and_writes_nothing(plant, admin_user):
    rows = _rows(_export())
    rows[0]["deadband"] = "2.5"
    rows[0]["units"] = "bar"
    assert rows[1]["scan_class"] == "Fast"
    rows[1]["scan_class"], rows[1]["scan_class_period_ms"], rows[1]["scan_class_description"] = "Slow", "10000", ""
    new = dict(rows[2], path="Plant Ü/New/Line 9/M900.speed", area="New", line="Line 9", machine="M900")
    new["machine_state"] = "false"
    rows.append(new)
    before = list(Tag.objects.order_by("pk").values())

    text = _write(rows)
    report = tag_import_csv(file=text, dry_run=True, actor=admin_user)

    assert report.errors == []
    assert [(c.line, c.path) for c in report.created] == [(_line_numbers(text)[new["path"]], new["path"])]
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


def test_applying_writes_the_diff_and_audits_each_change_with_before_and_after(plant, admin_user):
    rows = _rows(_export())
    rows[0]["deadband"] = "2.5"
    rows[0]["device_host"] = "plc-new.plant"
    for row in rows:
        if row["device"] == rows[0]["device"]:
            row["device_host"] = "plc-new.plant"

    report = tag_import_csv(file=_write(rows), dry_run=False, actor=admin_user, filename="edit.csv")

    assert report.applied
    tag = Tag.objects.get(path=rows[0]["path"])
    assert tag.deadband == 2.5
    assert tag.device.host == "plc-new.plant"
    tag_entry = LogEntry.objects.get(object_pk=str(tag.pk), content_type__model="tag", action=LogEntry.Action.UPDATE)
    assert tag_entry.changes_dict == {"deadband": ["0.0", "2.5"]}
    assert tag_entry.actor == admin_user
    device_entry = LogEntry.objects.get(
        object_pk=str(tag.device_id), content_type__model="device", action=LogEntry.Action.UPDATE
    )
    assert device_entry.changes_dict["host"] == ["10.0.0.1", "plc-new.plant"]
    assert tag_entry.cid == device_entry.cid == AuditEvent.objects.get().details["auditlog_cid"]


def test_bad_rows_are_reported_with_their_line_and_reason(plant, admin_user):
    rows = _rows(_export())
    rows[0]["scale"] = "fast"
    rows[1]["address"] = "XY12"
    rows[2]["span_high"] = "-100"
    rows[3]["path"] = rows[0]["path"]
    rows[4]["device_host"] = "elsewhere"  # the same device as row 0, disagreeing

    report = tag_import_csv(file=_write(rows), dry_run=True, actor=admin_user)

    # Rows 0..4 start on lines 2, 3, 4, 6, 7: row 2's description spans two lines.
    errors = {e.line: e.message for e in report.errors}
    assert sorted(errors) == [2, 3, 4, 6, 7]
    assert errors[2] == "scale: 'fast' is not a number"
    assert errors[3].startswith("address: 'XY12' is not a Modbus address")
    assert errors[4] == "span_high: The upper end of the range must be above the lower end."
    assert errors[6] == f"path {rows[0]['path']!r} is already on line 2"
    assert errors[7].startswith(f"device {rows[0]['device']!r}: device_host differ from line 2")


def test_line_numbers_count_the_physical_lines_of_quoted_multi_line_cells(plant, admin_user):
    rows = _rows(_export())
    multi = next(i for i, r in enumerate(rows) if "\n" in r["description"])
    rows[multi + 1]["scale"] = "x"

    report = tag_import_csv(file=_write(rows), dry_run=True, actor=admin_user)

    # The header, the rows before, and the extra physical line of each multi-line description before it.
    extra = sum(r["description"].count("\n") for r in rows[: multi + 1])
    assert [e.line for e in report.errors] == [1 + (multi + 1) + extra + 1]


def test_one_bad_row_makes_the_apply_write_nothing(plant, admin_user):
    rows = _rows(_export())
    rows[0]["deadband"] = "9"
    rows.append(dict(rows[1], path="Plant Ü/Extra/Line 1/M1.x", area="Extra"))
    rows[-2]["deadband"] = "-1"
    before = list(Tag.objects.order_by("pk").values())
    entries = LogEntry.objects.count()

    text = _write(rows)
    report = tag_import_csv(file=text, dry_run=False, actor=admin_user)

    assert not report.applied
    assert [e.line for e in report.errors] == [_line_numbers(text)[rows[-2]["path"]]]
    assert list(Tag.objects.order_by("pk").values()) == before
    assert not Area.objects.filter(name="Extra").exists()
    assert LogEntry.objects.count() == entries
    assert not AuditEvent.objects.filter(action=AuditAction.TAG_CSV_IMPORT).exists()


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


def test_moving_the_machine_state_to_another_tag_updates_both_rows(plant, admin_user):
    machine = Machine.objects.exclude(state_tag=None).get()
    rows = _rows(_export())
    old = next(r for r in rows if r["path"] == machine.state_tag.path)
    new = next(r for r in rows if r["machine"] == old["machine"] and r["line"] == old["line"] and r is not old)
    old["machine_state"], new["machine_state"] = "false", "true"

    report = tag_import_csv(file=_write(rows), dry_run=False, actor=admin_user)

    assert {c.path: c.changes for c in report.updated} == {
        old["path"]: {"machine_state": ("true", "false")},
        new["path"]: {"machine_state": ("false", "true")},
    }
    machine.refresh_from_db()
    assert machine.state_tag.path == new["path"]


def test_an_applied_import_tells_the_pollers_to_reread_their_tags(
    plant, admin_user, django_capture_on_commit_callbacks
):
    rows = _rows(_export())
    rows[0]["deadband"] = "2.5"
    before = acquisition_config_version()

    with django_capture_on_commit_callbacks(execute=True):
        tag_import_csv(file=_write(rows), dry_run=False, actor=admin_user, filename="edit.csv")

    assert acquisition_config_version() not in (None, before)


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
    exported = _export()
    rows = _rows(exported)
    program = next(r for r in rows if r["path"].endswith(".program"))
    assert (program["data_type"], program["address"]) == ("string", "HR900:8")
    assert tag_import_csv(file=exported, dry_run=True, actor=admin_user).unchanged == len(rows)

    recipe = dict(program, path=program["path"].replace(".program", ".recipe"), name="Recipe", address="IR40:16")
    scaled = dict(program, path=program["path"].replace(".program", ".scaled"), address="HR950:2", scale="0.1")
    report = tag_import_csv(file=_write([*rows, recipe, scaled]), dry_run=True, actor=admin_user)

    assert [c.path for c in report.created] == [recipe["path"]]
    assert len(report.errors) == 1
    assert "Scale does not apply to a string tag" in str(report.errors[0])

    applied = tag_import_csv(file=_write([*rows, recipe]), dry_run=False, actor=admin_user)
    assert applied.applied
    made = Tag.objects.get(path=recipe["path"])
    assert (made.data_type, made.address, made.is_text) == ("string", "IR40:16", True)


def test_a_tags_word_and_byte_order_round_trip_and_import_from_the_file(plant, admin_user):
    floats = Tag.objects.filter(data_type="float32").order_by("path")
    Tag.objects.filter(pk=floats[0].pk).update(word_order="little", byte_order="little")
    exported = _export()
    rows = _rows(exported)
    by_path = {r["path"]: r for r in rows}
    assert (by_path[floats[0].path]["word_order"], by_path[floats[0].path]["byte_order"]) == ("little", "little")
    assert (by_path[floats[1].path]["word_order"], by_path[floats[1].path]["byte_order"]) == ("", "")
    assert tag_import_csv(file=exported, dry_run=True, actor=admin_user).unchanged == len(rows)

    by_path[floats[1].path]["word_order"] = "little"
    by_path[floats[0].path]["byte_order"] = ""
    report = tag_import_csv(file=_write(rows), dry_run=False, actor=admin_user)

    assert report.errors == []
    assert {c.path: c.changes for c in report.updated} == {
        floats[0].path: {"byte_order": ("little", "")},
        floats[1].path: {"word_order": ("", "little")},
    }
    assert Tag.objects.get(pk=floats[0].pk).byte_order == ""
    assert Tag.objects.get(pk=floats[1].pk).word_order == "little"


def test_a_word_order_on_a_16_bit_tag_in_the_file_is_an_error_of_its_line(plant, admin_user):
    rows = _rows(_export())
    index = next(i for i, r in enumerate(rows) if r["data_type"] == "int16")
    rows[index]["word_order"] = "little"

    text = _write(rows)
    report = tag_import_csv(file=text, dry_run=True, actor=admin_user)

    assert [(e.line, e.message) for e in report.errors] == [
        (
            _line_numbers(text)[rows[index]["path"]],
            "word_order: Word order applies to 32- and 64-bit values (int32, uint32, float32, float64), whose "
            "registers it orders; not to int16: leave it empty.",
        )
    ]


def test_a_file_exported_before_the_order_columns_still_imports_and_keeps_the_tags_orders(plant, admin_user):
    cdab = Tag.objects.filter(data_type="float32").order_by("path").first()
    Tag.objects.filter(pk=cdab.pk).update(word_order="little")
    old_columns = [c for c in tag_csv_columns() if c not in ("word_order", "byte_order")]
    rows = _rows(_export())
    new = dict(rows[2], path="Plant Ü/Old/Line 1/M1.speed", area="Old", machine_state="false")
    rows.append(new)
    rows[0]["units"] = "bar"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=old_columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)

    report = tag_import_csv(file=out.getvalue(), dry_run=False, actor=admin_user)

    assert report.errors == []
    assert [c.path for c in report.created] == [new["path"]]
    assert [(c.path, c.changes) for c in report.updated] == [(rows[0]["path"], {"units": ("", "bar")})]
    assert Tag.objects.get(pk=cdab.pk).word_order == "little"
    created = Tag.objects.get(path=new["path"])
    assert (created.word_order, created.byte_order) == ("", "")
