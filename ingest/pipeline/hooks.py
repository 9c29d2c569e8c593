"""After-store hooks: what other apps run on each batch of values once it is in the database.

Ingest sits below the apps that react to values (alarms today): it knows nothing of them, they register a hook
factory here (alarms does in AlarmsConfig.ready()). Each writer of values (an IngestContext: a poller, a push
runner, a replay) makes its own hooks from the factories when it is created, so what a hook remembers between
batches (alarm rates, definitions) belongs to that writer, never to the process. A hook is called with the rows
the store wrote, after the write returned, in time order:

- a batch written to the database: its rows (every reading of the batch, whether historized or only the tag's
  current value);
- a batch that went to the store-and-forward buffer (PostgreSQL away): nothing then; its rows are handed over
  when they are replayed (buffer.buffer_replay), with their own timestamps;
- a batch written while older rows still wait in the buffer: held back (by its writer) until the buffer is
  empty, so that no hook ever sees a value older than one it has already seen.

Rows of string tags are given with their quality only (value None): hooks are numeric.

A hook that raises is logged; the other hooks still run and the values stay stored.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from historian.sample_types import SampleBatch, SampleRow

logger = logging.getLogger(__name__)

#: At most this many rows are held back behind a draining buffer; beyond, the oldest held batches are dropped (their
#: values are stored, only the hooks miss them) rather than let a worker's memory grow without bound.
HELD_ROWS_MAX = 1_000_000

StoredRows = Sequence[SampleRow] | SampleBatch


class AfterStoreHook(Protocol):
    def __call__(self, *, rows: StoredRows, now: datetime) -> object: ...


HookFactory = Callable[[], AfterStoreHook]

# The one registry that stays module-level, on purpose: it is configuration, not state. It is filled once per
# process by the apps' ready() (before any poller or runner starts) and only read afterwards, when a writer makes
# its hooks; what the hooks remember lives in the hooks each writer made.
_factories: list[HookFactory] = []
_lock = threading.Lock()


def register_after_store(make_hook: HookFactory) -> HookFactory:
    """Writers created from now on call `make_hook()` once and call the hook it returns, `hook(rows=..., now=...)`,
    after every stored batch (once per writer, however often the factory is registered)."""
    with _lock:
        if make_hook not in _factories:
            _factories.append(make_hook)
    return make_hook


def unregister_after_store(make_hook: HookFactory) -> None:
    with _lock:
        if make_hook in _factories:
            _factories.remove(make_hook)


def after_store_factories() -> tuple[HookFactory, ...]:
    return tuple(_factories)


def after_store_hooks_make() -> tuple[AfterStoreHook, ...]:
    """One new hook per registered factory, for a new writer."""
    return tuple(make_hook() for make_hook in after_store_factories())


def after_store_run(*, hooks: Sequence[AfterStoreHook], rows: StoredRows, now: datetime) -> None:
    """Hand `rows` (stored, in time order after whatever was handed before) to every hook; never raises."""
    if not len(rows):
        return
    for hook in hooks:
        try:
            hook(rows=rows, now=now)
        except Exception:
            logger.exception(
                "after-store hook %s failed on %d rows",
                getattr(hook, "__qualname__", type(hook).__qualname__),
                len(rows),
            )


class HeldBatches:
    """Batches written while older rows waited in the buffer, in the order they were written (one per writer)."""

    def __init__(self, max_rows: int = HELD_ROWS_MAX) -> None:
        self.max_rows = max_rows
        self._batches: deque[tuple[StoredRows, datetime]] = deque()
        self._rows = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._batches)

    def hold(self, *, rows: StoredRows, now: datetime) -> None:
        if not len(rows):
            return
        with self._lock:
            self._batches.append((rows, now))
            self._rows += len(rows)
            dropped = 0
            while self._rows > self.max_rows and len(self._batches) > 1:
                old, _ = self._batches.popleft()
                self._rows -= len(old)
                dropped += len(old)
        if dropped:
            logger.error("after-store hooks: %d held rows dropped while the buffer drains", dropped)

    def release(self, hooks: Sequence[AfterStoreHook]) -> None:
        """The buffer is empty: hand the held batches over to `hooks`, oldest first."""
        while True:
            with self._lock:
                if not self._batches:
                    return
                rows, now = self._batches.popleft()
                self._rows -= len(rows)
            after_store_run(hooks=hooks, rows=rows, now=now)
