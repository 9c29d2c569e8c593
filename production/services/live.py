"""Pushing stops to the downtime pages over the Channels layer (historian.services.live's one publisher).

One group per line (a page shows one line's stops). A message carries the stops of one machine that end at or
after `since` (or are still open), as production.queries.intervals.stop_rows gives them: the page replaces that
machine's rows from `since` on with them, so new, closed, classified, split and derived-again stops all show
without a reload.

Messages are built and sent after the change commits, by one publisher thread per process (_Publisher), never on
the thread that made the change (the ingest path's derivation hook among them).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime

from django.db import connections, transaction

from historian.models import Machine
from historian.services.live import live_publish

logger = logging.getLogger(__name__)

DOWNTIME_MESSAGE_TYPE = "downtime.changed"


def downtime_line_group(line_id: int) -> str:
    return f"downtime.line.{line_id}"


def downtime_changed_message(
    *, machine_id: int, since: datetime, now: datetime | None = None, stops: bool = True
) -> tuple[str, dict]:
    """The message for a machine's stops since `since`; `stops` False: without them (a resync message: the page
    subscribes again rather than read them, and after a rebuild they are the machine's whole history)."""
    from production.queries.intervals import machine_stops_since

    line_id = Machine.objects.values_list("line_id", flat=True).get(pk=machine_id)
    return downtime_line_group(line_id), {
        "type": DOWNTIME_MESSAGE_TYPE,
        "line": line_id,
        "machine": machine_id,
        "since": round(since.timestamp() * 1000),
        "stops": machine_stops_since(machine_id=machine_id, since=since, now=now) if stops else [],
    }


def downtime_changed_publish(*, machine_id: int, since: datetime, resync: bool = False) -> None:
    """Tell the line's downtime pages, once the transaction commits. Never raises: the intervals are stored
    whatever the push does. `resync`: the page had better ask for a fresh list (a rebuild)."""
    downtime_changes_publish(changes={machine_id: since}, resync=resync)


def downtime_changes_publish(*, changes: dict[int, datetime], resync: bool = False) -> None:
    """downtime_changed_publish for several machines (machine id -> since) in one push: the derivation hook
    announces a batch's machines together, one round trip to the channel layer."""
    if not changes:
        return
    changes = dict(changes)
    transaction.on_commit(lambda: _publisher.submit(changes, resync))


def _publish(changes: dict[int, datetime], resync: bool) -> None:
    try:
        messages = []
        for machine_id, since in changes.items():
            group, message = downtime_changed_message(machine_id=machine_id, since=since, stops=not resync)
            message["resync"] = resync
            messages.append((group, message))
        live_publish(messages)
    except Exception:
        logger.exception("downtime live push failed for machines %s", sorted(changes))


#: The publisher's thread closes its database connection after this long without work.
IDLE_CLOSE_SECONDS = 2.0


class _Publisher:
    """Builds and sends the downtime messages in a thread of its own, off the caller's (the ingest thread: a
    message reads the machine's stops, ~ms each). Changes waiting together are merged per machine (the oldest
    `since`), so a burst costs one message per machine. The thread's database connection is closed when it idles.
    A forked child (Celery's pool) starts its own thread. `cpu_seconds`: the thread's CPU so far (bench.oee counts
    it as derivation cost)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[bool, dict[int, datetime]] = {}
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.cpu_seconds = 0.0

    def submit(self, changes: dict[int, datetime], resync: bool) -> None:
        with self._lock:
            pending = self._pending.setdefault(resync, {})
            for machine_id, since in changes.items():
                pending[machine_id] = min(since, pending.get(machine_id, since))
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="downtime-publisher", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending and not self._wake.wait_for(lambda: self._pending, IDLE_CLOSE_SECONDS):
                    connections.close_all()  # this thread's connections: idle, let the database have it back
                    self._wake.wait_for(lambda: self._pending)
                pending, self._pending = self._pending, {}
            started = time.thread_time()
            for resync, changes in pending.items():
                _publish(changes, resync)
            self.cpu_seconds += time.thread_time() - started


_publisher = _Publisher()


def downtime_publisher_cpu_seconds() -> float:
    """The CPU the downtime publisher's thread spent so far in this process (bench.oee's derivation cost)."""
    return _publisher.cpu_seconds
