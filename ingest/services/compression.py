"""Which polled values are stored: exception deadband, swinging-door compression, maximum interval, stale quality.

Per tag, one of three rules decides, always bounded by the tag's configured error:

* counts, states, booleans (step-interpolated tags): stored when the value changes (by at least the deadband,
  when one is set); the stored series, read as steps, then equals the polled one (within the deadband);
* analog tags with a deadband (or neither setting): stored when the value moved by at least the deadband from
  the last *stored* value (0: every poll); read as steps, the stored series stays within the deadband;
* analog tags with a compression deviation: swinging door. The stored series, interpolated linearly, stays
  within the deviation of every polled value. The variant here keeps that promise strictly: a point is held as
  the candidate end of the current segment only while the straight line from the segment's start to it passes
  within the deviation of every point in between (classic swinging door checks only that *some* line does,
  and can miss by up to twice the deviation); when a point breaks that, the candidate is stored and starts the
  next segment.

Whatever the rule, a change of quality stores the point (and, before it, the pending candidate, so the last good
segment is complete), and a value not stored for `max_store_interval_seconds` is stored anyway.

Stale detection: a good value that has not changed for `stale_after_seconds` gets quality "uncertain: last
usable value" (a frozen sensor or PLC program); the quality change stores it, and the first change stores good
quality again.

Where the state lives, and why that is safe: in the memory of the worker process that polls, per tag (the last
stored point, the pending candidate and its slope bounds). A process that starts without that memory (a new or
restarted worker, or a poll that another process of the pool handled last) stores the first value it sees: more
rows, never a stored series outside the bound, because every stored row is a real polled value and each
process only ever closes segments whose points it saw. `CompressionFilter.flush` stores the pending candidates
of tags whose polls moved to another process (`ingest.services.poll` detects that with a per-device poll counter
in Redis), so that segment ends at its real end point. What memory cannot survive is a crash (kill -9): the
pending candidate of each tag's open segment is lost, so the last segment before a crash, no longer than
`max_store_interval_seconds` when that is set, is only bounded by its stored end points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from historian.models import Tag
from historian.quality import Quality, quality_is_good
from historian.samples import SampleRow


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """A tag's storage settings, in engineering units and seconds (0 = off)."""

    deadband: float = 0.0
    deviation: float = 0.0
    discrete: bool = False
    max_interval: float = 0.0
    stale_after: float = 0.0

    @classmethod
    def for_tag(cls, tag: Tag) -> StoragePolicy:
        return cls(
            deadband=max(0.0, tag.deviation_absolute(tag.deadband)),
            deviation=0.0 if tag.is_discrete else max(0.0, tag.deviation_absolute(tag.compression_deviation)),
            discrete=tag.is_discrete,
            max_interval=max(0.0, tag.max_store_interval_seconds),
            stale_after=max(0.0, tag.stale_after_seconds),
        )


@dataclass(slots=True)
class _TagState:
    stored: SampleRow  # the last stored point: start of the open segment
    held: SampleRow | None = None  # swinging door: the latest point, stored when the next one breaks the door
    low: float = -math.inf  # slopes from `stored` that pass within the deviation of every point since it
    high: float = math.inf
    last_value: float | None = None  # the last polled value, for stale detection
    changed_at: float = 0.0  # epoch seconds of its last change


def _seconds(t: datetime) -> float:
    return t.timestamp()


class CompressionFilter:
    """Per-process memory of each tag's stored series; not thread-safe (one poll at a time per process)."""

    def __init__(self) -> None:
        self._state: dict[int, _TagState] = {}

    def admit(self, row: SampleRow, policy: StoragePolicy) -> tuple[SampleRow, list[SampleRow]]:
        """Returns the reading as it should be shown (quality made uncertain when stale) and the rows to store,
        oldest first (a pending candidate may come before the reading itself)."""
        state = self._state.get(row.tag_id)
        now = _seconds(row.time)
        row = self._stale_checked(row, state, policy, now)
        if state is None:
            self._state[row.tag_id] = _TagState(stored=row, last_value=row.value, changed_at=now)
            return row, [row]
        if row.value != state.last_value:
            state.last_value, state.changed_at = row.value, now

        out: list[SampleRow] = []
        if row.quality != state.stored.quality or row.value is None or state.stored.value is None:
            if row.quality != state.stored.quality or row.value != state.stored.value:
                out = self._restart(state, row)
        elif quality_is_good(row.quality) and not policy.discrete and policy.deviation > 0:
            out = self._swinging_door(state, row, policy.deviation)
        else:
            if policy.deadband > 0:
                changed = abs(row.value - state.stored.value) >= policy.deadband
            elif policy.discrete or not quality_is_good(row.quality):
                changed = row.value != state.stored.value
            else:
                changed = True  # an analog tag with neither deadband nor compression: every poll
            if changed:
                out = self._restart(state, row)

        if not out and policy.max_interval > 0 and now - _seconds(state.stored.time) >= policy.max_interval:
            out = self._restart(state, row)
        return row, out

    def flush(self, tag_ids: Iterable[int]) -> list[SampleRow]:
        """Forget these tags; returns their pending candidates, which must be stored to close their segments."""
        rows = []
        for tag_id in tag_ids:
            state = self._state.pop(tag_id, None)
            if state is not None and state.held is not None:
                rows.append(state.held)
        return rows

    def forget(self, tag_ids: Iterable[int]) -> None:
        for tag_id in tag_ids:
            self._state.pop(tag_id, None)

    # -- internals -----------------------------------------------------------------------------------------

    @staticmethod
    def _stale_checked(row: SampleRow, state: _TagState | None, policy: StoragePolicy, now: float) -> SampleRow:
        if (
            policy.stale_after > 0
            and state is not None
            and quality_is_good(row.quality)
            and row.value == state.last_value
            and now - state.changed_at >= policy.stale_after
        ):
            return row._replace(quality=Quality.UNCERTAIN_LAST_USABLE)
        return row

    @staticmethod
    def _restart(state: _TagState, row: SampleRow) -> list[SampleRow]:
        """Store the pending candidate (if any) and `row`; `row` starts the next segment."""
        out = [state.held] if state.held is not None and state.held.time < row.time else []
        state.stored, state.held = row, None
        state.low, state.high = -math.inf, math.inf
        return [*out, row]

    @staticmethod
    def _swinging_door(state: _TagState, row: SampleRow, deviation: float) -> list[SampleRow]:
        start = state.stored
        assert start.value is not None
        assert row.value is not None
        dt = _seconds(row.time) - _seconds(start.time)
        if dt <= 0:
            return []
        slope = (row.value - start.value) / dt
        out: list[SampleRow] = []
        if not state.low <= slope <= state.high:
            # The line to this point misses a point in between: the previous point ends the segment.
            held = state.held
            # With no point in between, every slope passes: there is a held point here.
            assert held is not None
            assert held.value is not None
            out.append(held)
            state.stored, start = held, held
            state.low, state.high = -math.inf, math.inf
            dt = _seconds(row.time) - _seconds(start.time)
        state.held = row
        state.low = max(state.low, (row.value - deviation - start.value) / dt)
        state.high = min(state.high, (row.value + deviation - start.value) / dt)
        return out
