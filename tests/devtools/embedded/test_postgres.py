"""devtools/embedded/postgres.py: the embedded PostgreSQL, real servers in a private state folder."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from devtools.embedded import (
    EmbeddedServiceError,
    ensure_servers,
    server_status,
    stop_server,
)
from tests.devtools.embedded.support import pid_alive, query


def test_postgres_serves_the_millwright_database_over_tcp(state: Path) -> None:
    [postgres] = ensure_servers("pg", ["postgres"], base=state)

    assert postgres.started
    assert postgres.url == f"postgres://postgres@127.0.0.1:{postgres.port}/millwright"
    [(database, address, version)] = query(
        postgres, "SELECT current_database(), host(inet_server_addr()), current_setting('server_version_num')"
    )
    assert (database, address) == ("millwright", "127.0.0.1")
    assert int(str(version)) // 10000 == 18
    assert (state / "pg" / "postgres" / "PG_VERSION").read_text().strip() == "18"


def test_postgres_data_persists_across_stop_and_start(state: Path) -> None:
    [first] = ensure_servers("pg", ["postgres"], base=state)
    with psycopg.connect(first.url) as conn:
        conn.execute("CREATE TABLE sample (tag text, value double precision)")
        conn.execute("INSERT INTO sample VALUES ('FIC-101.PV', 42.5)")

    stop_server(first)
    assert not pid_alive(first.pid)
    assert server_status("pg", base=state)["postgres"] is None

    [second] = ensure_servers("pg", ["postgres"], base=state)
    assert second.started
    assert second.pid != first.pid
    assert query(second, "SELECT tag, value FROM sample") == [("FIC-101.PV", 42.5)]


def test_a_cluster_of_another_postgresql_version_is_refused(state: Path) -> None:
    pgdata = state / "old" / "postgres"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")

    with pytest.raises(EmbeddedServiceError, match=r"holds a PostgreSQL 16 cluster, but .* PostgreSQL 18"):
        ensure_servers("old", ["postgres"], base=state)
    assert (pgdata / "PG_VERSION").read_text() == "16\n"  # left alone
