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
of tags whose polls moved to another process (`ingest.acquisition.poll` detects that with a per-device poll counter
in Redis), so that segment ends at its real end point. What memory cannot survive is a crash (kill -9): the
pending candidate of each tag's open segment is lost, so the last segment before a crash, no longer than
`max_store_interval_seconds` when that is set, is only bounded by its stored end points.

How it runs: a whole batch of readings (one poll of a device: one reading per tag, all taken at one time) at once,
as numpy arrays, with each tag's state in a slot of per-filter arrays. Every rule above is a mask over the batch;
no Python object per value. `admit` (one reading) is the same code on a batch of one.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from historian.models import Tag
from historian.quality import Quality
from historian.sample_types import SampleBatch, SampleRow, datetime_to_us, us_to_datetime

_GOOD_MASK = 0xC0
_STALE = int(Quality.UNCERTAIN_LAST_USABLE)


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


@dataclass(frozen=True, slots=True)
class PolicyArrays:
    """The policies of a batch's tags, one element per tag (in the batch's order)."""

    deadband: np.ndarray
    deviation: np.ndarray
    discrete: np.ndarray
    max_interval: np.ndarray
    stale_after: np.ndarray

    @classmethod
    def of(cls, policies: Sequence[StoragePolicy]) -> PolicyArrays:
        return cls(
            deadband=np.array([p.deadband for p in policies], dtype=np.float64),
            deviation=np.array([p.deviation for p in policies], dtype=np.float64),
            discrete=np.array([p.discrete for p in policies], dtype=bool),
            max_interval=np.array([p.max_interval for p in policies], dtype=np.float64),
            stale_after=np.array([p.stale_after for p in policies], dtype=np.float64),
        )


@dataclass(frozen=True, slots=True)
class Admitted:
    """What a batch of readings came to, per reading (in the batch's order).

    `quality` is the quality to show (uncertain when stale); rows to store, oldest first: the tag's pending
    candidate (`held_mask`, at `held_time_us` / `held_value` / `held_quality`), then the reading itself
    (`row_mask`).
    """

    quality: np.ndarray
    row_mask: np.ndarray
    held_mask: np.ndarray
    held_time_us: np.ndarray
    held_value: np.ndarray
    held_quality: np.ndarray

    def stored(self, tag_ids: np.ndarray, time_us: int, values: np.ndarray, only: np.ndarray | None = None):
        """The rows to store as a SampleBatch (held candidates first), of the readings in `only` (a mask)."""
        held, rows = self.held_mask, self.row_mask
        if only is not None:
            held, rows = held & only, rows & only
        return SampleBatch.concat(
            [
                SampleBatch(self.held_time_us[held], tag_ids[held], self.held_value[held], self.held_quality[held]),
                SampleBatch.of(time_us, tag_ids[rows], values[rows], self.quality[rows]),
            ]
        )


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal values, NaN (None) equal to NaN."""
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _locked(method: Callable) -> Callable:
    @functools.wraps(method)
    def wrapper(self: CompressionFilter, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class CompressionFilter:
    """Per-process memory of each tag's stored series.

    The poller's threads share it (one device each): the state arrays grow as tags come, so every entry point
    holds the filter's lock (a batch of 1,000 tags takes it for about 0.3 ms).
    """

    _FIELDS = {
        "known": bool,  # the tag has state (else its next value is stored and starts it)
        "stored_t": np.int64,  # the last stored point: start of the open segment
        "stored_v": np.float64,
        "stored_q": np.int16,
        "has_held": bool,  # swinging door: the latest point, stored when the next one breaks the door
        "held_t": np.int64,
        "held_v": np.float64,
        "held_q": np.int16,
        "low": np.float64,  # slopes (per second) from `stored` that pass within the deviation of every point since
        "high": np.float64,
        "last_v": np.float64,  # the last polled value, for stale detection
        "changed_t": np.int64,  # when it last changed
    }

    # The state arrays, one slot per tag, made (and grown) from _FIELDS by name.
    known: np.ndarray
    stored_t: np.ndarray
    stored_v: np.ndarray
    stored_q: np.ndarray
    has_held: np.ndarray
    held_t: np.ndarray
    held_v: np.ndarray
    held_q: np.ndarray
    low: np.ndarray
    high: np.ndarray
    last_v: np.ndarray
    changed_t: np.ndarray

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._slot: dict[int, int] = {}
        self._slots_of: dict[bytes, np.ndarray] = {}
        self._size = 0
        for name, dtype in self._FIELDS.items():
            setattr(self, name, np.zeros(0, dtype=dtype))

    # -- the batch ------------------------------------------------------------------------------------------

    @_locked
    def admit_batch(
        self,
        tag_ids: np.ndarray,
        time_us: int,
        values: np.ndarray,
        qualities: np.ndarray,
        policy: PolicyArrays,
    ) -> Admitted:
        """Admit one reading per tag (`tag_ids` unique), all taken at `time_us`; values NaN where None."""
        s = self._slots(tag_ids)
        now = int(time_us)
        v = values
        q = qualities.astype(np.int16, copy=True)
        known = self.known[s]
        last = self.last_v[s]
        same_as_last = _same(v, last)

        stale = (
            (policy.stale_after > 0)
            & known
            & ((q & _GOOD_MASK) == _GOOD_MASK)
            & same_as_last
            & ((now - self.changed_t[s]) / 1e6 >= policy.stale_after)
        )
        q[stale] = _STALE
        good = (q & _GOOD_MASK) == _GOOD_MASK
        moved = ~known | ~same_as_last
        self.last_v[s[moved]] = v[moved]
        self.changed_t[s[moved]] = now

        sv, sq = self.stored_v[s], self.stored_q[s]
        v_none, sv_none = np.isnan(v), np.isnan(sv)
        branch_quality = (q != sq) | v_none | sv_none
        restart = branch_quality & ((q != sq) | ~_same(v, sv))
        door = ~branch_quality & good & ~policy.discrete & (policy.deviation > 0)
        step = ~branch_quality & ~door
        with np.errstate(invalid="ignore"):
            delta = np.abs(v - sv)
        changed = np.where(
            policy.deadband > 0, delta >= policy.deadband, np.where(policy.discrete | ~good, v != sv, True)
        )
        restart |= step & changed
        restart &= known

        # Swinging door.
        st = self.stored_t[s]
        dt = (now - st) / 1e6
        door &= known & (dt > 0)
        held_t, held_v, held_q = self.held_t[s], self.held_v[s], self.held_q[s]
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (v - sv) / dt
        breaks = door & ~((self.low[s] <= slope) & (slope <= self.high[s]))
        # The line to this point misses a point in between: the held point ends the segment and starts the next.
        # (With no point in between, every slope passes: a break always has a held point.)
        d = s[door]
        b = s[breaks]
        self.stored_t[b], self.stored_v[b], self.stored_q[b] = held_t[breaks], held_v[breaks], held_q[breaks]
        self.low[b], self.high[b] = -np.inf, np.inf
        start_t, start_v = self.stored_t[d], self.stored_v[d]
        span = (now - start_t) / 1e6
        dev, vd = policy.deviation[door], v[door]
        self.low[d] = np.maximum(self.low[d], (vd - dev - start_v) / span)
        self.high[d] = np.minimum(self.high[d], (vd + dev - start_v) / span)
        self.has_held[d], self.held_t[d], self.held_v[d], self.held_q[d] = True, now, vd, q[door]

        # The maximum interval, where nothing else stored.
        overdue = known & ~restart & ~breaks & (policy.max_interval > 0)
        overdue &= (now - self.stored_t[s]) / 1e6 >= policy.max_interval
        restart |= overdue

        # Restart: the pending candidate (if older than the reading), then the reading, which starts the next segment.
        r = s[restart]
        held_restart = restart & self.has_held[s] & (self.held_t[s] < now)
        held_mask = breaks | held_restart
        out_t = np.where(breaks, held_t, self.held_t[s])
        out_v = np.where(breaks, held_v, self.held_v[s])
        out_q = np.where(breaks, held_q, self.held_q[s])
        first = s[~known]
        for slots in (r, first):
            self.has_held[slots] = False
            self.low[slots], self.high[slots] = -np.inf, np.inf
        new_start = restart | ~known
        n = s[new_start]
        self.stored_t[n], self.stored_v[n], self.stored_q[n] = now, v[new_start], q[new_start]
        self.known[first] = True
        return Admitted(
            quality=q,
            row_mask=new_start,
            held_mask=held_mask,
            held_time_us=out_t,
            held_value=out_v,
            held_quality=out_q,
        )

    # -- one reading ----------------------------------------------------------------------------------------

    @_locked
    def admit(self, row: SampleRow, policy: StoragePolicy) -> tuple[SampleRow, list[SampleRow]]:
        """Returns the reading as it should be shown (quality made uncertain when stale) and the rows to store,
        oldest first (a pending candidate may come before the reading itself)."""
        tag_ids = np.array([row.tag_id], dtype=np.int32)
        values = np.array([np.nan if row.value is None else row.value], dtype=np.float64)
        result = self.admit_batch(
            tag_ids, datetime_to_us(row.time), values, np.array([row.quality]), PolicyArrays.of([policy])
        )
        if int(result.quality[0]) != row.quality:
            row = row._replace(quality=Quality(int(result.quality[0])))
        out = []
        if result.held_mask[0]:
            held_value = float(result.held_value[0])
            out.append(
                SampleRow(
                    us_to_datetime(result.held_time_us[0]),
                    row.tag_id,
                    None if held_value != held_value else held_value,
                    int(result.held_quality[0]),
                )
            )
        if result.row_mask[0]:
            out.append(row)
        return row, out

    # -- forgetting -----------------------------------------------------------------------------------------

    @_locked
    def flush(self, tag_ids: Iterable[int]) -> list[SampleRow]:
        """Forget these tags; returns their pending candidates, which must be stored to close their segments."""
        rows = []
        for tag_id in tag_ids:
            slot = self._slot.get(tag_id)
            if slot is None or not self.known[slot]:
                continue
            if self.has_held[slot]:
                value = float(self.held_v[slot])
                rows.append(
                    SampleRow(
                        us_to_datetime(self.held_t[slot]),
                        tag_id,
                        None if value != value else value,
                        int(self.held_q[slot]),
                    )
                )
            self.known[slot] = self.has_held[slot] = False
        return rows

    @_locked
    def forget(self, tag_ids: Iterable[int]) -> None:
        for tag_id in tag_ids:
            slot = self._slot.get(tag_id)
            if slot is not None:
                self.known[slot] = self.has_held[slot] = False

    # -- internals -----------------------------------------------------------------------------------------

    def _slots(self, tag_ids: np.ndarray) -> np.ndarray:
        """Each tag's slot in the state arrays (a poll reads the same tags every time: cached per tag set)."""
        key = tag_ids.tobytes()
        slots = self._slots_of.get(key)
        if slots is not None:
            return slots
        for tag_id in tag_ids.tolist():
            if tag_id not in self._slot:
                self._slot[tag_id] = len(self._slot)
        if len(self._slot) > self._size:
            self._grow(max(len(self._slot), 2 * self._size, 64))
        slots = np.array([self._slot[t] for t in tag_ids.tolist()], dtype=np.intp)
        if len(self._slots_of) >= 1024:  # tag sets of pushed batches vary; keep the cache bounded
            self._slots_of.clear()
        self._slots_of[key] = slots
        return slots

    def _grow(self, size: int) -> None:
        for name, dtype in self._FIELDS.items():
            grown = np.zeros(size, dtype=dtype)
            old = getattr(self, name)
            grown[: len(old)] = old
            setattr(self, name, grown)
        self._size = size
