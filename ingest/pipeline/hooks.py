"""After-store hooks: what other apps run on each batch of values once it is in the database.

Ingest sits below the apps that react to values (alarms today): it knows nothing of them, they register a hook
here (alarms does in AlarmsConfig.ready()). A hook is called with the rows the store wrote, after the write
returned: every reading of the batch, whether historized or only the tag's current value.

Rows of string tags are given with their quality only (value None): hooks are numeric.

A hook that raises is logged; the other hooks still run and the values stay stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from historian.sample_types import SampleBatch, SampleRow

logger = logging.getLogger(__name__)

StoredRows = Sequence[SampleRow] | SampleBatch


class AfterStoreHook(Protocol):
    def __call__(self, *, rows: StoredRows, now: datetime) -> object: ...


_hooks: list[AfterStoreHook] = []
_lock = threading.Lock()


def register_after_store(hook: AfterStoreHook) -> AfterStoreHook:
    """Call `hook(rows=..., now=...)` after every stored batch (once, however often it is registered)."""
    with _lock:
        if hook not in _hooks:
            _hooks.append(hook)
    return hook


def unregister_after_store(hook: AfterStoreHook) -> None:
    with _lock:
        if hook in _hooks:
            _hooks.remove(hook)


def after_store_hooks() -> tuple[AfterStoreHook, ...]:
    return tuple(_hooks)


def after_store_run(*, rows: StoredRows, now: datetime) -> None:
    """Hand `rows` (stored) to every hook; never raises."""
    if not len(rows):
        return
    for hook in after_store_hooks():
        try:
            hook(rows=rows, now=now)
        except Exception:
            logger.exception("after-store hook %s failed on %d rows", getattr(hook, "__qualname__", hook), len(rows))
