"""Read replicas against a real streaming replica (pg_basebackup -R of the test server, a hot standby on a port of
its own): trend and history reads go to it, writes to the primary, and reads fall back to the primary when it
stops or lags more than DATABASE_REPLICA_MAX_LAG."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import close_old_connections, connections, transaction
from prometheus_client.parser import text_string_to_metric_families

from accounts.services.roles import Role
from common.replicas import read_alias, replica_reads, replica_status, replica_status_forget
from common.version_token import TokenCached, VersionToken
from historian.models import Tag
from historian.queries.common import read_cursor
from historian.queries.plot import plot_values
from historian.queries.raw import raw_values
from operations.metrics import metrics_exposition
from production.models import KpiSummary, StateInterval
from tests.factories import TagFactory, UserFactory
from tests.production import conftest as _production
from tests.production.engineered import END, PBT, S
from tests.samples import write
from tests.streaming_replica import StreamingReplica, streaming_replica
from tests.waiting import wait_until

# The engineered night shift of the production tests, for the KPI reads.
line = _production.line
night = _production.night

ALIAS = "replica_0"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", ALIAS])


@pytest.fixture(scope="module")
def standby(django_db_setup, django_db_blocker) -> Iterator[StreamingReplica]:
    """One replica for the module, known to Django as ALIAS (a mirror of `default` for the test machinery: never
    flushed, never migrated)."""
    with django_db_blocker.unblock(), streaming_replica() as made:
        connections.settings[ALIAS] = made.settings_dict()
        try:
            yield made
        finally:
            connections[ALIAS].close()
            del connections[ALIAS]
            del connections.settings[ALIAS]


@pytest.fixture
def replica(standby, transactional_db, settings) -> Iterator[StreamingReplica]:
    if not standby.running():
        standby.start()
    standby.wait_replayed()
    settings.DATABASE_REPLICAS = [ALIAS]
    settings.DATABASE_REPLICA_MAX_LAG = 3600.0
    settings.DATABASE_REPLICA_CHECK_SECONDS = 0.0  # check on every choice: the tests change the replica
    replica_status_forget()
    yield standby
    connections[ALIAS].close()
    replica_status_forget()
    if standby.running():
        with standby.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")


def _values(tag) -> list[float]:
    return [p.value for p in raw_values(tag_ids=[tag.pk], start=START, end=START + timedelta(hours=1))[tag.pk].points]


def test_a_trend_read_goes_to_the_replica_and_a_write_to_the_primary(replica):
    tag = TagFactory()
    write(tag, [(START + timedelta(seconds=s), float(s)) for s in range(10)])
    replica.wait_replayed()

    with replica_reads() as alias:
        with read_cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery(), inet_server_port()")
            served_by = cursor.fetchone()
        plotted = plot_values(tag_ids=[tag.pk], start=START, end=START + timedelta(minutes=1), pixels=100)
        written = TagFactory(machine=tag.machine, device=tag.device, scan_class=tag.scan_class)  # the ORM's write

    assert alias == ALIAS
    assert served_by == (True, replica.port)
    assert [p.value for p in plotted.series[tag.pk]] == [float(s) for s in range(10)]
    # Written inside replica_reads() (a hot standby refuses writes): on the primary, and outside the block reads are.
    assert read_alias() == "default"
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), count(*) FROM historian_tag WHERE id = %s", [written.pk])
        assert cursor.fetchone() == (False, 1)


def test_reads_inside_a_transaction_on_the_primary_stay_on_the_primary(replica):
    with transaction.atomic(), replica_reads() as alias:
        assert alias == "default"


def test_a_replica_lagging_more_than_the_bound_is_not_read(replica, settings):
    tag = TagFactory()
    write(tag, [(START, 1.0)])
    replica.wait_replayed()
    with replica.connect() as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
    write(tag, [(START + timedelta(seconds=1), 2.0)])

    # Within the bound the replica serves the read, without the value it has not replayed.
    with replica_reads() as alias:
        assert alias == ALIAS
        assert _values(tag) == [1.0]

    settings.DATABASE_REPLICA_MAX_LAG = 0.5
    wait_until(lambda: (replica_status(ALIAS).lag_seconds or 0) > 0.5, timeout=30, what="the replica lagging")
    status = replica_status(ALIAS)
    assert status.up
    assert status.state == "lagging"
    with replica_reads() as alias:
        assert alias == "default"
        assert _values(tag) == [1.0, 2.0]

    with replica.connect() as standby:
        standby.execute("SELECT pg_wal_replay_resume()")
    replica.wait_replayed()
    with replica_reads() as alias:
        assert alias == ALIAS
        assert _values(tag) == [1.0, 2.0]


def test_reads_fall_back_to_the_primary_when_the_replica_stops(replica, settings, client):
    tag = TagFactory()
    write(tag, [(START + timedelta(seconds=s), float(s)) for s in range(3)])
    replica.wait_replayed()
    with replica_reads() as alias:
        assert alias == ALIAS
        assert _values(tag) == [0.0, 1.0, 2.0]
    # The status is kept for a long time: the stale connection, not the check, must find the replica gone.
    settings.DATABASE_REPLICA_CHECK_SECONDS = 3600.0
    assert replica_status(ALIAS).usable

    replica.stop()
    close_old_connections()  # what the end of a request does

    with replica_reads() as alias:
        assert alias == "default"
        assert _values(tag) == [0.0, 1.0, 2.0]
    assert replica_status(ALIAS).state == "down"
    # And through the API, a request with its own check.
    settings.DATABASE_REPLICA_CHECK_SECONDS = 0.0
    client.force_login(UserFactory())
    response = client.get(
        "/api/v1/history/raw/",
        {"tags": tag.pk, "start": START.isoformat(), "end": (START + timedelta(hours=1)).isoformat()},
    )
    assert response.status_code == 200, response.content
    assert response.json()["tags"][0]["v"] == [0.0, 1.0, 2.0]


def test_the_status_page_and_the_metrics_show_the_replica_and_its_lag(replica, client):
    client.force_login(UserFactory())

    page = client.get("/").content.decode()
    families = {f.name: f for f in text_string_to_metric_families(metrics_exposition().decode())}

    assert f'data-replica="{ALIAS}" data-state="in use"' in page
    assert f"Read replica 127.0.0.1:{replica.port}/" in page
    up = {s.labels["replica"]: s.value for s in families["millwright_database_replica_up"].samples}
    lag = {s.labels["replica"]: s.value for s in families["millwright_database_replica_lag_seconds"].samples}
    assert up == {ALIAS: 1.0}
    assert 0 <= lag[ALIAS] < 3600

    replica.stop()
    replica_status_forget()
    page = client.get("/").content.decode()
    families = {f.name: f for f in text_string_to_metric_families(metrics_exposition().decode())}
    assert f'data-replica="{ALIAS}" data-state="down"' in page
    assert {s.labels["replica"]: s.value for s in families["millwright_database_replica_up"].samples} == {ALIAS: 0}
    assert not families["millwright_database_replica_lag_seconds"].samples


def test_a_csv_export_streams_from_the_replica_the_view_chose(replica, client):
    tag = TagFactory()
    write(tag, [(START, 1.0)])
    replica.wait_replayed()
    with replica.connect() as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
    write(tag, [(START + timedelta(seconds=1), 2.0)])  # on the primary only
    client.force_login(UserFactory(role=Role.ENGINEER))

    response = client.get(
        "/api/v1/history/export.csv",
        {"tags": tag.pk, "start": START.isoformat(), "end": (START + timedelta(hours=1)).isoformat()},
    )

    assert response.status_code == 200
    rows = b"".join(response.streaming_content).decode().splitlines()[1:]
    assert len(rows) == 1  # the replica's one value, not the primary's two
    assert rows[0].split(",")[:4] == [START.isoformat(), str(tag.pk), tag.path, "1.0"]


def test_the_production_kpis_read_the_replica_and_store_their_summaries_on_the_primary(replica, night, client):
    """The KPI API, Pareto, intervals, stops and the production CSV read the replica; the closed shift's KPI summary
    they compute on the way is written to the primary (a hot standby refuses writes)."""
    machine = night.config.machine
    user = UserFactory(role=Role.ENGINEER, is_superuser=True)  # every area
    client.force_login(user)
    replica.wait_replayed()
    with replica.connect() as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
    StateInterval.objects.filter(machine=machine).delete()  # on the primary only
    params = {"scope": "machine", "id": machine.pk, "start": S.isoformat(), "end": END.isoformat()}

    kpis = client.get("/api/v1/production/kpis/", params)
    pareto = client.get("/api/v1/production/pareto/", params)
    intervals = client.get("/api/v1/production/intervals/", params)
    stops = client.get("/api/v1/production/downtime/", params)
    export = client.get("/api/v1/production/export.csv", {**params, "kind": "intervals"})

    assert kpis.status_code == 200, kpis.content
    assert kpis.json()["kpis"]["planned_busy_time"] == PBT  # the replica's intervals: the primary has none
    assert pareto.status_code == 200
    assert pareto.json()
    assert intervals.status_code == 200
    assert intervals.json()[0]["state"] == "running"
    assert stops.status_code == 200
    assert len(stops.json()) == 5
    rows = b"".join(export.streaming_content).decode().splitlines()[1:]
    assert len(rows) == len(intervals.json())
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (False,)
    assert KpiSummary.objects.using("default").filter(machine=machine).exists()
    assert not StateInterval.objects.using("default").filter(machine=machine).exists()


def test_a_value_kept_under_a_version_token_is_loaded_from_the_primary_inside_replica_reads(replica):
    """The token announces a change the replica may not have replayed: loaded from it, the stale value would be
    kept as the new one until the next change."""
    kept = TokenCached(VersionToken("test:replica-kept"), lambda: Tag.objects.count())
    replica.wait_replayed()
    with replica.connect() as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
    TagFactory()
    kept.token.bump()

    with replica_reads() as alias:
        assert alias == ALIAS
        assert Tag.objects.count() == 0  # the replica, paused before the tag
        assert kept.get() == 1
