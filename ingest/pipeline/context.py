"""IngestContext: what one writer of acquired values remembers between batches.

A writer is whatever hands values to the store: a poller (ingest.acquisition.poller, through poll.Polling), the
OPC UA subscription runner, the Sparkplug B host runner, a test. Each one makes its context and passes it to
every call of ingest.pipeline.store and text_store; nothing of it is module-level, so two writers in one process
(or two tests) never share compression segments, caches or held batches.

What it holds, and why per writer:

* `compression`: each tag's open deadband / swinging-door segment. A tag is written by one writer at a time (a
  device is leased to one poller, subscribed by one runner), and the writer that lets a device go stores its
  pending candidates (store.compression_flush).
* `text_memory`: the last stored row of each string tag ("on change", text_store).
* `hooks`: the after-store hooks, made from the registered factories when the context is made
  (ingest.pipeline.hooks); what they remember (alarm rates, alarm definitions) is this writer's.
* `held` and `buffer_may_hold_rows`: batches held back from the hooks while older rows of this writer may still
  wait in the store-and-forward buffer, and whether a look at the buffer is needed at all (true at start: a
  previous, perhaps killed, process may have left rows).
* `status_pushed_at`: when each device's status was last pushed live (device_status: a connected device's
  last good read is pushed every STATUS_PUSH_SECONDS, not on every poll).
* `tag_arrays` and `text_ids`: per tags mapping, what the store computes once (policies as arrays, machines,
  which tags are strings). Keyed by the mapping's id(), the mapping kept to tell a reused id; bounded.

Process-wide on purpose, and so not here: the hook factory registry (configuration filled in AppConfig.ready(),
read only afterwards) and the on-disk buffer object (buffer.local_buffer: one SQLite file per host, one
connection per process and file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from historian.models import Tag
from ingest.pipeline.compression import CompressionFilter
from ingest.pipeline.hooks import AfterStoreHook, HeldBatches, after_store_hooks_make
from ingest.pipeline.text_store import TextMemory


class IngestContext:
    """One writer's state (see the module docstring). Not thread-safe by itself: a poller's threads share one
    context and poll disjoint devices, as the store expects."""

    __slots__ = (
        "buffer_may_hold_rows",
        "compression",
        "held",
        "hooks",
        "status_pushed_at",
        "tag_arrays",
        "text_ids",
        "text_memory",
    )

    def __init__(self, *, hooks: Sequence[AfterStoreHook] | None = None) -> None:
        """`hooks`: the after-store hooks of this writer; by default one made from each registered factory."""
        self.compression = CompressionFilter()
        self.text_memory = TextMemory()
        self.hooks: tuple[AfterStoreHook, ...] = after_store_hooks_make() if hooks is None else tuple(hooks)
        self.held = HeldBatches()
        self.buffer_may_hold_rows = True
        self.status_pushed_at: dict[int, float] = {}
        self.tag_arrays: dict[tuple[int, bytes], Any] = {}  # store._TagArrays by (id(tags), batch tag order)
        self.text_ids: dict[int, tuple[Mapping[int, Tag], frozenset[int]]] = {}
