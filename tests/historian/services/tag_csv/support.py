"""Helpers of the tag CSV tests: a plant built in bulk, the export as text and rows, a file from rows."""

import csv
import io

from audit.models import AuditAction, AuditEvent
from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag
from historian.services.tag_csv import tag_csv_columns, tag_export_csv

LINES, MACHINES_PER_LINE, TAGS_PER_MACHINE = 10, 50, 20  # 10,000 tags


def export_text() -> str:
    return "".join(tag_export_csv())


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def line_numbers(text: str) -> dict[str, int]:
    """path -> the physical line its row starts on (quoted cells can span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    numbers, last = {}, reader.line_num
    for cells in reader:
        numbers[cells[0]] = last + 1
        last = reader.line_num
    return numbers


def write_rows(rows: list[dict[str, str]], columns: list[str] | None = None) -> str:
    """`rows` as a tag CSV file of `columns` (default: today's), as an older export wrote it when given fewer."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        fieldnames=columns or tag_csv_columns(),
        extrasaction="ignore" if columns else "raise",  # an older file lacks the newer columns
        lineterminator="\r\n",
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def plant_build(lines: int, machines_per_line: int, tags_per_machine: int) -> None:
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


def report_cid() -> str:
    return AuditEvent.objects.get(action=AuditAction.TAG_CSV_IMPORT).details["auditlog_cid"]


def export_of_site(name: str) -> str:
    return "".join(tag_export_csv(queryset=Tag.objects.filter(machine__line__area__site__name=name)))
