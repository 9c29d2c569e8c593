"""Counter increases between arbitrary edges: what production needs to split a machine's parts at shift
boundaries, local midnights and product changes, which no regular interval grid lines up with.

The same rule as aggregates' counter increase, from raw samples (exact): the rises between consecutive usable
samples (bad ones skipped, a counter keeps counting through a comm failure), each fall read by `counter_delta` as a
rollover (tag's `counter_rollover`) or a reset to 0; a rise spanning an edge is shared out in proportion to time.
Done with numpy: the rises are summed into one unwrapped, never falling series, read (linearly) at each edge.
Outside the samples (before the first, after the last) nothing rose.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from .aggregates import MAX_AGGREGATE_RAW, counter_delta
from .common import check_range, fetch_boundaries, fetch_raw, read_cursor, tag_readings, usable_value
from .errors import HistoryQueryError


def counter_increases(*, tag_ids: Sequence[int], edges: Sequence[datetime]) -> dict[int, np.ndarray]:
    """Per tag, the increase over each [edges[i], edges[i + 1]) (len(edges) - 1 floats); `edges` ascending."""
    if len(edges) < 2:
        return {tag_id: np.zeros(0) for tag_id in tag_ids}
    start, end = edges[0], edges[-1]
    check_range(start, end)
    if any(b < a for a, b in itertools.pairwise(edges)):
        raise HistoryQueryError("counter increase edges must be in time order")
    tags = tag_readings(tag_ids)
    ids = list(tags)
    with read_cursor() as cursor:
        bounds = fetch_boundaries(cursor, tag_ids=ids, before=start, after=end)
        raw = fetch_raw(cursor, tag_ids=ids, start=start, end=end, limit=MAX_AGGREGATE_RAW)
    at = np.array([edge.timestamp() for edge in edges])
    result: dict[int, np.ndarray] = {}
    for tag_id, tag in tags.items():
        points = raw[tag_id]
        if len(points) > MAX_AGGREGATE_RAW:
            raise HistoryQueryError(f"Tag {tag_id} has more than {MAX_AGGREGATE_RAW} samples in the range.")
        before, after = bounds[tag_id]
        series = [p for p in (before, *points, after) if p is not None and usable_value(p) is not None]
        if len(series) < 2:
            result[tag_id] = np.zeros(len(edges) - 1)
            continue
        times = np.array([p.time.timestamp() for p in series])
        values = [float(p.value) for p in series]  # type: ignore[arg-type]  # usable: never None
        rises = [0.0] + [counter_delta(a, b, tag.counter_rollover) for a, b in itertools.pairwise(values)]
        unwrapped = np.cumsum(rises)
        read = np.interp(at, times, unwrapped)
        deltas = np.diff(read)
        result[tag_id] = deltas
    return result
