"""The host's store-and-forward buffer replayed by the process that holds it (issue 16).

The buffer (ingest.pipeline.buffer) is a SQLite file on the worker host's disk. A Celery beat task on the shared
queue cannot drain it: on a multi-host install the task goes to whichever worker takes it first, which reads its
own (empty) file, and the host holding the rows may never get the task. So each long-running process that may
buffer (the acquisition worker's poller, the push runners) runs a `BufferReplayer` thread: every
INGEST_REPLAY_INTERVAL_SECONDS it looks at the depth of its host's buffer (a local SQLite read, no network) and,
when rows wait, replays them while the database takes them. The poll path still replays one batch after each
write it makes (ingest.pipeline.store), through the writer's own after-store hooks and with its later batches
held behind the buffer, which keeps alarm evaluation in time order; the thread steps in only when the depth did
not shrink over one interval, i.e. when nothing else drains the buffer: a host that polls nothing any more (its
devices taken over by another host, or all in backoff), or a push runner whose source went quiet. Several
processes on one host may replay the same file at once: replay is idempotent (ingest.pipeline.buffer).
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connections

from ingest.pipeline.buffer import SampleBuffer, buffer_replay, local_buffer
from ingest.pipeline.hooks import AfterStoreHook, after_store_hooks_make
from ingest.pipeline.store import DATABASE_DOWN_ERRORS, database_connection_reset

logger = logging.getLogger(__name__)


class BufferReplayer:
    """A daemon thread replaying this host's buffer; `start()`, then `stop()` on shutdown."""

    def __init__(self, *, buffer: SampleBuffer | None = None, interval: float | None = None) -> None:
        self.buffer = buffer
        self.interval = settings.INGEST_REPLAY_INTERVAL_SECONDS if interval is None else interval
        if self.interval <= 0:
            raise ValueError("the replay interval must be positive")
        self.replayed = 0
        self._last_depth = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._hooks: tuple[AfterStoreHook, ...] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="buffer-replay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.interval):
                try:
                    self.replay_once()
                except Exception:  # the next turn tries again; the rows stay in the buffer
                    logger.exception("buffer replay error")
        finally:
            connections.close_all()

    def replay_once(self) -> int:
        """Replay what waits, for at most INGEST_REPLAY_TASK_SECONDS, unless the buffer shrank since the last look
        (a writer replays it); how many rows went to the database."""
        buffer = self.buffer or local_buffer()
        depth, last = buffer.depth(), self._last_depth
        self._last_depth = depth
        if not depth or depth < last:
            return 0
        if self._hooks is None:  # this thread's own after-store hooks, kept across replays (alarm states)
            self._hooks = after_store_hooks_make()
        try:
            outcome = buffer_replay(
                buffer=buffer,
                batch_rows=settings.INGEST_REPLAY_BATCH_ROWS,
                max_seconds=settings.INGEST_REPLAY_TASK_SECONDS,
                hooks=self._hooks,
            )
        except DATABASE_DOWN_ERRORS as exc:
            database_connection_reset()
            logger.info("buffer replay waits for the database: %s", exc)
            return 0
        self.replayed += outcome.replayed
        self._last_depth = outcome.remaining
        return outcome.replayed
