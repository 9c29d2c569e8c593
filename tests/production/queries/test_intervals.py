"""Reads for the floor: a line's stops (unclassified first, one query however many), the reason tree."""

from production.models import StateInterval
from production.queries.intervals import line_stops, reason_tree
from production.services.downtime import stop_classify
from tests.factories import UserFactory
from tests.production.conftest import at
from tests.production.factories import DowntimeReasonFactory


def test_a_lines_stops_come_unclassified_first_then_newest_first_in_one_query(line, django_assert_num_queries):
    site = line.config.machine.line.area.site
    motor = DowntimeReasonFactory(category__site=site, category__name="Electrical", name="Motor")
    line.store(0, state=1, product=1, fault=0)
    line.store(60, state=6, fault=17)  # jam (automatic) 60-120
    line.store(120, state=1, fault=0)
    line.store(200, state=2)  # starved 200-260, unclassified
    line.store(260, state=1)
    line.store(300, state=6)  # down 300-, open, classified by hand below
    line.store(400, state=3)  # blocked 400-, open, unclassified
    down = StateInterval.objects.get(machine=line.config.machine, start=at(300))
    stop_classify(interval_id=down.pk, reason_id=motor.pk, user=UserFactory(username="chief", superuser=True))

    with django_assert_num_queries(1):
        stops = line_stops(line_id=line.config.machine.line_id, start=at(0), now=at(1000))

    assert [
        ((s["start"] - at(0).timestamp() * 1000) / 1000, s["state"], s["duration_s"], s["unclassified"], s["open"])
        for s in stops
    ] == [
        (400, "blocked", 600.0, True, True),
        (200, "idle", 60.0, True, False),
        (300, "unplanned_down", 100.0, False, False),  # classified by hand; it ended when "blocked" began
        (60, "unplanned_down", 60.0, False, False),
    ]
    assert (stops[2]["reason"]["name"], stops[2]["auto_classified"], stops[2]["classified_by"]) == (
        "Motor",
        False,
        "chief",
    )
    jam = stops[3]
    assert (jam["reason"]["name"], jam["auto_classified"], jam["product"]) == ("Jam", True, "1")
    later = line_stops(line_id=line.config.machine.line_id, start=at(350), now=at(1000))
    assert [s["state"] for s in later] == ["blocked", "unplanned_down"]  # what overlaps [350 s, now)
    assert stops[1]["reason_required"] is False  # 60 s < the machine's 300 s "reason required"
    assert stops[0]["reason_required"] is True


def test_the_reason_tree_lists_each_category_with_its_reasons(line):
    site = line.config.machine.line.area.site
    DowntimeReasonFactory(category__site=site, category__name="Electrical", name="Motor")
    tree = reason_tree(site_id=site.pk)
    assert {c["name"]: [r["name"] for r in c["reasons"]] for c in tree}["Electrical"] == ["Motor"]
    assert reason_tree(site_id=0) == []
