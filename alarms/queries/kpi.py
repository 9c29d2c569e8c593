"""ISA-18.2 alarm performance over a time range, from the journal.

An *activation* is a journal entry of an alarm annunciated to the operator (event 'activate' into
'unack_active'); activations of shelved, suppressed or out-of-service alarms are not counted, nor security
alarms (the operator's alarm load is the process's: security alarms go to those who watch the network). Ten-minute
buckets are aligned to the start of the range.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from psycopg import sql

from alarms.models import Alarm
from alarms.state_machine import State
from historian.models import Area

FLOOD_PER_10_MIN = 10  # ISA-18.2: more than 10 alarms in 10 minutes per operator is a flood
CHATTER_PER_MINUTE = 3  # ISA-18.2 / EEMUA 191: 3 or more activations of one alarm in a minute
STALE_AFTER = timedelta(hours=24)
BAD_ACTORS = 10

_JOURNAL = sql.Identifier("alarms_journal")
_ACTIVATIONS = sql.SQL(
    "category = 'process' AND event = 'activate' AND state = 'unack_active' AND time >= %(start)s AND time < %(end)s"
)


@dataclass
class AreaRate:
    area: str
    activations: int
    per_10_min: float
    peak_10_min: int


@dataclass
class Flood:
    area: str
    start: datetime
    activations: int


@dataclass
class AlarmCount:
    alarm_id: int
    name: str
    tag: str
    count: int
    share: float = 0.0  # of all activations in the range, percent


@dataclass
class AlarmKpis:
    start: datetime
    end: datetime
    activations: int = 0
    areas: list[AreaRate] = field(default_factory=list)
    floods: list[Flood] = field(default_factory=list)
    flood_minutes_percent: float = 0.0
    chattering: list[AlarmCount] = field(default_factory=list)
    stale: list[Alarm] = field(default_factory=list)
    bad_actors: list[AlarmCount] = field(default_factory=list)
    bad_actors_share: float = 0.0


def _fetch(statement: sql.Composable, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.cursor.execute(statement, params)
        return cursor.cursor.fetchall()


def alarm_kpis(*, start: datetime, end: datetime, now: datetime) -> AlarmKpis:
    if end <= start:
        raise ValueError("the end of the range must be after its start")
    params = {"start": start, "end": end, "bucket": timedelta(minutes=10), "chatter": timedelta(minutes=1)}
    kpis = AlarmKpis(start=start, end=end)
    buckets = max(1.0, (end - start) / timedelta(minutes=10))
    area_names = dict(Area.objects.values_list("pk", "name"))

    per_bucket = _fetch(
        sql.SQL(
            "SELECT area_id, date_bin(%(bucket)s, time, %(start)s) AS bucket, count(*) FROM {journal} "
            "WHERE {activations} GROUP BY 1, 2 ORDER BY 2, 1"
        ).format(journal=_JOURNAL, activations=_ACTIVATIONS),
        params,
    )
    totals: dict[int, list[int]] = {}
    flood_buckets = set()
    for area_id, bucket, count in per_bucket:
        totals.setdefault(area_id, []).append(count)
        if count >= FLOOD_PER_10_MIN:
            kpis.floods.append(Flood(area_names.get(area_id, f"area {area_id}"), bucket, count))
            flood_buckets.add(bucket)
    kpis.areas = sorted(
        (
            AreaRate(area_names.get(area_id, f"area {area_id}"), sum(counts), sum(counts) / buckets, max(counts))
            for area_id, counts in totals.items()
        ),
        key=lambda a: -a.activations,
    )
    kpis.activations = sum(a.activations for a in kpis.areas)
    kpis.flood_minutes_percent = 100.0 * len(flood_buckets) / buckets

    chatter = _fetch(
        sql.SQL(
            "SELECT alarm_id, max(alarm_name), max(tag_path), max(n) FROM ("
            "  SELECT alarm_id, alarm_name, tag_path, count(*) OVER ("
            "    PARTITION BY alarm_id ORDER BY time RANGE BETWEEN CURRENT ROW AND %(chatter)s FOLLOWING) AS n"
            "  FROM {journal} WHERE {activations}) w "
            "GROUP BY alarm_id HAVING max(n) >= {threshold} ORDER BY max(n) DESC, alarm_id"
        ).format(journal=_JOURNAL, activations=_ACTIVATIONS, threshold=sql.Literal(CHATTER_PER_MINUTE)),
        params,
    )
    kpis.chattering = [AlarmCount(alarm_id, name, tag, n) for alarm_id, name, tag, n in chatter]

    top = _fetch(
        sql.SQL(
            "SELECT alarm_id, max(alarm_name), max(tag_path), count(*) FROM {journal} WHERE {activations} "
            "GROUP BY alarm_id ORDER BY count(*) DESC, alarm_id LIMIT {limit}"
        ).format(journal=_JOURNAL, activations=_ACTIVATIONS, limit=sql.Literal(BAD_ACTORS)),
        params,
    )
    kpis.bad_actors = [
        AlarmCount(alarm_id, name, tag, n, 100.0 * n / kpis.activations if kpis.activations else 0.0)
        for alarm_id, name, tag, n in top
    ]
    kpis.bad_actors_share = sum(a.share for a in kpis.bad_actors)

    kpis.stale = list(
        Alarm.objects.filter(
            state__in=[State.UNACK_ACTIVE, State.ACK_ACTIVE],
            condition=True,
            shelved_until__isnull=True,
            suppressed=False,
            out_of_service=False,
            active_since__lt=now - STALE_AFTER,
            definition__enabled=True,
        )
        .select_related("definition__tag")
        .order_by("active_since")
    )
    return kpis
