"""Read replicas (issue 16): which database the read-heavy paths read from.

`DATABASE_REPLICA_URL` (settings) adds one database alias per streaming replica (`replica_0`, `replica_1`, ...;
`settings.DATABASE_REPLICAS`). Nothing reads from a replica unless its caller asks: a view that serves a
read-heavy path (trends, API history, exports) wraps its query calls in `replica_reads()`, which picks a replica
for that unit of work; inside it `read_alias()` names it, historian.queries' cursors open on it and the
`ReplicaRouter` sends the ORM's reads there too. Writes always go to the primary (`default`), and so does
everything outside `replica_reads()`, so a path that must read its own writes (ingest's hooks, services, the
admin) is on the primary without saying so.

A replica is used only while it answers and its replay lag is at most `DATABASE_REPLICA_MAX_LAG` seconds; else
the reads fall back to the primary. The lag is measured on the replica itself (time since the last replayed
commit, 0 when it has replayed everything it received), at most once every `DATABASE_REPLICA_CHECK_SECONDS` per
process and replica: the check is one short query on a connection of its own, so a read never waits for it
longer than a connect timeout, and the result is kept per process (module-level on purpose: it describes a
server, not a caller). Inside a transaction on the primary, reads stay on the primary: it may hold writes the
replica cannot have.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from psycopg.conninfo import make_conninfo

logger = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

#: How long the lag check waits for a replica to accept a connection, and for its answer.
CHECK_TIMEOUT_SECONDS = 2
# The lag in seconds: 0 when everything received is replayed (an idle primary sends nothing, and the time since the
# last replayed commit would grow without the replica being behind), else the age of the last replayed commit.
LAG_SQL = (
    "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() "
    "THEN 0 ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8"
)

_chosen: ContextVar[str | None] = ContextVar("replica_reads_alias", default=None)


@dataclass(frozen=True)
class ReplicaStatus:
    alias: str
    address: str  # host:port/database, for people
    up: bool
    lag_seconds: float | None  # None when it does not answer
    max_lag_seconds: float
    checked_at: float  # time.time()
    error: str = ""

    @property
    def usable(self) -> bool:
        return self.up and self.lag_seconds is not None and self.lag_seconds <= self.max_lag_seconds

    @property
    def state(self) -> str:
        """For people and the status page: in use, lagging (reads on the primary), or down."""
        if not self.up:
            return "down"
        return "in use" if self.usable else "lagging"


_lock = threading.Lock()
_statuses: dict[str, tuple[float, ReplicaStatus]] = {}  # alias -> (monotonic time checked, status)


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", ()))


def _address(alias: str) -> str:
    params = connections.settings[alias]
    return f"{params.get('HOST') or 'localhost'}:{params.get('PORT') or 5432}/{params.get('NAME')}"


def _check(alias: str) -> ReplicaStatus:
    params: dict[str, Any] = connections.settings[alias]
    options: dict[str, Any] = {k: v for k, v in (params.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    max_lag = float(settings.DATABASE_REPLICA_MAX_LAG)
    try:
        conninfo = make_conninfo(
            **{
                **options,  # the libpq timeouts and keepalives of settings; this check's own timeouts win
                "host": params.get("HOST") or None,
                "port": params.get("PORT") or None,
                "dbname": params.get("NAME"),
                "user": params.get("USER") or None,
                "password": params.get("PASSWORD") or None,
                "connect_timeout": CHECK_TIMEOUT_SECONDS,
                "application_name": "millwright replica check",
                "options": f"-c statement_timeout={CHECK_TIMEOUT_SECONDS * 1000}",
            }
        )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute(LAG_SQL).fetchone()
    except psycopg.Error as exc:
        return ReplicaStatus(alias, _address(alias), False, None, max_lag, time.time(), str(exc).strip()[:300])
    assert row is not None
    in_recovery, lag = row
    if not in_recovery:
        # A promoted replica (or a URL naming a primary by mistake) is not behind anything: usable, lag 0.
        lag = 0.0
    return ReplicaStatus(alias, _address(alias), True, float(lag), max_lag, time.time())


def replica_status(alias: str, *, fresh: bool = False) -> ReplicaStatus:
    """The replica's status, checked again when the last check is older than DATABASE_REPLICA_CHECK_SECONDS."""
    now = time.monotonic()
    with _lock:
        held = _statuses.get(alias)
    if not fresh and held is not None and now - held[0] < float(settings.DATABASE_REPLICA_CHECK_SECONDS):
        return held[1]
    status = _check(alias)
    with _lock:
        _statuses[alias] = (time.monotonic(), status)
    if not status.usable:
        logger.info("read replica %s not used: %s", alias, status.error or f"lag {status.lag_seconds:.1f} s")
    return status


def replica_statuses(*, fresh: bool = False) -> list[ReplicaStatus]:
    """Every configured replica's status (the status page, the metrics)."""
    return [replica_status(alias, fresh=fresh) for alias in replica_aliases()]


def _mark_down(alias: str, error: str) -> None:
    status = ReplicaStatus(
        alias, _address(alias), False, None, float(settings.DATABASE_REPLICA_MAX_LAG), time.time(), error
    )
    with _lock:
        _statuses[alias] = (time.monotonic(), status)


def replica_choose() -> str:
    """A usable replica's alias, or `default` when none is (or when the primary's connection is in a transaction:
    its reads must see its writes)."""
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    usable = [alias for alias in replica_aliases() if replica_status(alias).usable]
    random.shuffle(usable)
    for alias in usable:
        conn = connections[alias]
        try:
            # A connection kept from an earlier request to a replica that went away since: Django's health check
            # (once per request) closes it; then connect, so that a dead replica costs this read nothing.
            conn.close_if_health_check_failed()
            conn.ensure_connection()
        except DatabaseError as exc:
            logger.warning("read replica %s unreachable, reading from the primary: %s", alias, exc)
            _mark_down(alias, str(exc).strip()[:300])
            conn.close()
            continue
        return alias
    return DEFAULT_DB_ALIAS


@contextmanager
def replica_reads(alias: str | None = None) -> Iterator[str]:
    """Reads inside go to a usable replica (`alias`, or one chosen now), else to the primary; yields the alias.

    Nested, the outer choice holds: one unit of work reads one server."""
    outer = _chosen.get()
    if outer is not None:
        yield outer
        return
    token = _chosen.set(alias or replica_choose())
    try:
        yield _chosen.get() or DEFAULT_DB_ALIAS
    finally:
        _chosen.reset(token)


@contextmanager
def primary_reads() -> Iterator[str]:
    """Reads inside go to the primary, even inside `replica_reads()`: for what must not be stale, such as a value a
    process keeps in memory under a version token (a replica yet to replay the change would be kept as new)."""
    token = _chosen.set(DEFAULT_DB_ALIAS)
    try:
        yield DEFAULT_DB_ALIAS
    finally:
        _chosen.reset(token)


def read_alias() -> str:
    """The database reads are served from here: the replica `replica_reads()` chose, else the primary."""
    return _chosen.get() or DEFAULT_DB_ALIAS


def replica_iterate(chunks: Iterator[T], alias: str | None = None) -> Iterator[T]:
    """`chunks` read from a replica: each step of it runs inside `replica_reads(alias)`, so a streamed response's
    generator (which runs after the view returned) reads from the replica the view chose."""
    while True:
        with replica_reads(alias):
            try:
                item = next(chunks)
            except StopIteration:
                return
        yield item


def replica_status_forget() -> None:
    """Forget the checks (tests: a replica started or stopped)."""
    with _lock:
        _statuses.clear()


class ReplicaRouter:
    """The ORM's reads inside `replica_reads()` go to its replica; every write, and every migration, to `default`."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        return read_alias()

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replicas hold the primary's rows

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


def replica_view(view: Callable[P, R]) -> Callable[P, R]:
    """A view (or a view method) whose reads go to a replica: the body runs inside `replica_reads()`. Only for views
    that write nothing and need not see a write of their own request."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with replica_reads():
            return view(*args, **kwargs)

    return wrapper
