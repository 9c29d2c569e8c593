"""A real PostgreSQL streaming replica of the test database's server, made with the embedded binaries
(devtools.embedded.postgres): `pg_basebackup -R` from the primary, started on a free port as a hot standby."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.db import connections

from devtools.embedded.postgres import _Account, _pg_account, _pg_bin, _pg_run
from devtools.embedded.process import HOST, free_port

START_TIMEOUT = 60


@dataclass
class StreamingReplica:
    data_dir: Path
    port: int
    primary: dict[str, Any]  # the primary's Django settings_dict
    account: _Account | None

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(
            host=HOST, port=self.port, user="postgres", dbname=self.primary["NAME"], autocommit=True, **kwargs
        )

    def start(self) -> None:
        log = self.data_dir / "postgres.log"
        options = f"-h {HOST} -p {self.port} -k '' -c fsync=off -c hot_standby=on"
        command = [str(_pg_bin("pg_ctl")), "-D", str(self.data_dir), "-l", str(log), "-o", options]
        code, output = _pg_run([*command, "-w", "-t", str(START_TIMEOUT), "start"], self.account, START_TIMEOUT + 10)
        if code != 0:
            log_text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"the replica did not start: {output}\n{log_text[-3000:]}")

    def running(self) -> bool:
        code, _output = _pg_run([str(_pg_bin("pg_ctl")), "-D", str(self.data_dir), "status"], self.account, 30)
        return code == 0

    def stop(self) -> None:
        _pg_run([str(_pg_bin("pg_ctl")), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], self.account, 60)

    def settings_dict(self) -> dict[str, Any]:
        """The primary's Django database settings, pointed at this replica."""
        return {**self.primary, "PORT": str(self.port), "TEST": {**self.primary.get("TEST", {}), "MIRROR": "default"}}

    def wait_replayed(self, timeout: float = 60.0) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        with psycopg.connect(
            host=self.primary["HOST"], port=self.primary["PORT"], user="postgres", dbname="postgres", autocommit=True
        ) as primary:
            # Insert, not write, position: the test server commits asynchronously (synchronous_commit=off).
            row = primary.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
            assert row is not None
            target = row[0]
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect(connect_timeout=5) as replica:
                    row = replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()
                    if row is not None and row[0]:
                        return
            except psycopg.OperationalError:
                pass  # still starting
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not replay up to {target} within {timeout} s")
            time.sleep(0.1)


@contextmanager
def streaming_replica(alias: str = "default") -> Iterator[StreamingReplica]:
    """A running hot standby of the server behind `alias`, removed afterwards."""
    primary = connections[alias].settings_dict
    with psycopg.connect(
        host=primary["HOST"], port=primary["PORT"], user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    account = _pg_account()
    port = free_port()
    # Beside the primary's folder: the embedded server's account can enter it (devtools.embedded.postgres).
    data_dir = Path(row[0]).parent / f"replica-{port}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(mode=0o700)
    if account is not None:
        shutil.chown(data_dir, account.uid, account.gid)
    replica = StreamingReplica(data_dir, port, dict(primary), account)
    try:
        command = [str(_pg_bin("pg_basebackup")), "-h", HOST, "-p", str(primary["PORT"]), "-U", "postgres"]
        command += ["-D", str(data_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync"]
        code, output = _pg_run(command, account, 300)
        if code != 0:
            raise RuntimeError(f"pg_basebackup failed: {output}")
        replica.start()
        replica.wait_replayed()
        yield replica
    finally:
        replica.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
