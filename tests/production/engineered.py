"""An engineered night shift stored through the real store path, and its figures computed by hand (shared by the
production query tests and the API tests)."""

import datetime as dt
from datetime import UTC, datetime, timedelta

from historian.quality import Quality
from ingest.pipeline.store import readings_store
from ingest.protocols.base import PointReading
from tests.production.conftest import Line
from tests.production.factories import BreakFactory, ProductCycleTimeFactory, ShiftPatternFactory

# The night shift of Monday 2 March 2026, 22:00 to 06:00 (UTC plant), with a planned break 00:00-00:30.
S = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
END = S + timedelta(hours=8)
LATER = datetime(2026, 3, 10, tzinfo=UTC)  # "now" for the queries: the shift is long closed
RUN, IDLE, SETUP, PLANNED, DOWN, OFF = 1, 2, 4, 5, 6, 7


def m(minutes: float) -> datetime:
    return S + timedelta(minutes=minutes)


def night_store(line: Line) -> Line:
    """The engineered shift (minutes from 22:00), stored as polls store values:

    0 running product 1 | 60-80 down, fault 17 (Jam, a breakdown) | 100-101 idle (a micro-stop) |
    120-150 planned stop (the break) | 200-210 down, no reason (Unclassified) | 240 product 2 |
    300-304 setup, no reason (a short setup) | 480 off.
    Counters (total rolls over at 65536): total 65000 -> 65100 (60) -> 164 (240) -> 664 (480),
    good 1000 -> 1095 -> 1685 -> 2175.
    """
    config = line.config
    site = config.machine.line.area.site
    site.timezone = "UTC"
    site.save()
    config.total_tag.counter_rollover = 65536
    config.total_tag.save()
    pattern = ShiftPatternFactory(
        calendar__site=site, name="Night", start_time=dt.time(22, 0), duration_minutes=480, weekdays=list(range(7))
    )
    BreakFactory(shift=pattern, start_offset_minutes=120, duration_minutes=30)
    ProductCycleTimeFactory(machine_production=config, product=line.p1, ideal_cycle_seconds=12)
    ProductCycleTimeFactory(machine_production=config, product=line.p2, ideal_cycle_seconds=20)
    events = [
        (0, {"state": RUN, "product": 1, "fault": 0, "total": 65000, "good": 1000}),
        (60, {"state": DOWN, "fault": 17, "total": 65100, "good": 1095}),
        (80, {"state": RUN, "fault": 0}),
        (100, {"state": IDLE}),
        (101, {"state": RUN}),
        (120, {"state": PLANNED}),
        (150, {"state": RUN}),
        (200, {"state": DOWN}),
        (210, {"state": RUN}),
        (240, {"product": 2, "total": 164, "good": 1685}),
        (300, {"state": SETUP}),
        (304, {"state": RUN}),
        (480, {"state": OFF, "total": 664, "good": 2175}),
    ]
    for minutes, values in events:
        _store(line, m(minutes), values)
    return line


def _store(line: Line, at: datetime, values: dict[str, float]) -> None:
    tags = {**line.tags, "total": line.config.total_tag}
    readings = [PointReading(tags[name].pk, float(v), Quality.GOOD) for name, v in values.items()]
    readings_store(
        context=line.context,
        device=line.config.state_tag.device,
        tags={t.pk: t for t in tags.values()},
        readings=readings,
        read_at=at,
    )


# Hand-computed, in seconds: POT 480 min; the break (and the planned stop on it) 30 min of PDT; PBT 450 min.
PBT = 450 * 60
BREAKDOWN = 20 * 60  # the Jam
UNCLASSIFIED = 10 * 60
SETUP_ADJ = 4 * 60
SMALL = 60  # the 1-minute idle
APT = PBT - BREAKDOWN - UNCLASSIFIED - SETUP_ADJ  # running 415 min + the micro-stop
PRODUCED_1, GOOD_1 = 100 + 600, 95 + 590  # 65100 -> 164 is a rollover: 65536 - 65100 + 164 = 600
PRODUCED_2, GOOD_2 = 500, 490
NET = PRODUCED_1 * 12 + PRODUCED_2 * 20
