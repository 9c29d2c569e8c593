"""The rule evaluator: a pure state machine, fed events, that says when a rule fires. No database, no clock.

The live path (the after-store hook, services/evaluation.py), the beat tick (services/ticks.py) and the backtest
(queries/backtest.py) all feed the same `RuleMachine`: values of the rule's tag for a tag comparison (`values`),
truths for the conditions a tick evaluates (`truths`: an alarm's state, a KPI), and the due times of a schedule
(`due`). So a backtest says exactly what the live rule would have done with the same values.

Firing: the condition must hold for `hold_seconds` (a tag comparison: every good value since the first that made
it true compares true; a bad value, or one that compares false, starts again). It fires at the first event at
which it has held that long (the events are what says it still holds: between two values the tag held the first),
once per episode: it fires again only after the condition was false in between, and never within
`cooldown_seconds` of its previous firing (an episode that reaches its hold time within the cooldown is not fired).

Events are taken as columns (numpy arrays, times in microseconds since the Unix epoch) so that a stored batch and
30 days of history cost a few array operations and a Python step per *change* of the condition, not per value.
An event older than the last one seen is ignored (a late value says nothing about what held after it).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from historian.sample_types import us_to_datetime

COMPARISONS: dict[str, Callable] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule fired at `time_us`: `values` is what made it fire (the triggering value, since when the condition
    held, the threshold)."""

    time_us: int
    values: dict

    @property
    def time(self):
        return us_to_datetime(self.time_us)


@dataclass(slots=True)
class RuleMachine:
    """One rule's evaluation state. With `comparison` and `threshold`: a tag comparison (`values`)."""

    hold_seconds: float = 0.0
    cooldown_seconds: float = 0.0
    comparison: str | None = None
    threshold: float | None = None
    since_us: int | None = None  # when the condition began to hold (None: it does not)
    fired_episode: bool = False  # this episode reached its hold time (fired, or skipped in the cooldown)
    last_fired_us: int | None = None
    last_time_us: int | None = None
    _compare: Callable | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.comparison is not None:
            self._compare = COMPARISONS[self.comparison]

    def value(self, time_us: int, value: float | None, good: bool) -> Firing | None:
        """One value of the rule's tag (the live path: a poll brings one value per tag)."""
        assert self._compare is not None
        holds = good and value is not None and value == value and bool(self._compare(value, self.threshold))
        firing = self.event(time_us, holds)
        if firing is not None:
            firing.values.update(value=value, comparison=self.comparison, threshold=self.threshold)
        return firing

    def values(self, time_us: np.ndarray, value: np.ndarray, good: np.ndarray) -> list[Firing]:
        """Values of the rule's tag, in time order, as columns (a replayed batch, a backtest): `good` says which are
        usable (quality good). The same state machine as `value`, stepped only at the values that can change it."""
        assert self._compare is not None
        value = np.asarray(value, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            holds = np.asarray(good, dtype=bool) & ~np.isnan(value) & self._compare(value, self.threshold)
        firings = self._step(np.asarray(time_us, dtype=np.int64), holds, value)
        for firing in firings:
            firing.values.update(comparison=self.comparison, threshold=self.threshold)
        return firings

    def truths(self, time_us: np.ndarray, holds: np.ndarray, values: dict | None = None) -> list[Firing]:
        """Whether the condition held at each time (an alarm's state, a KPI below its threshold)."""
        firings = self._step(np.asarray(time_us, dtype=np.int64), np.asarray(holds, dtype=bool))
        return [Firing(f.time_us, f.values | (values or {})) for f in firings]

    def due(self, time_us: int) -> Firing | None:
        """A schedule's due time: fires unless within the cooldown."""
        if self.last_fired_us is not None and time_us - self.last_fired_us < self.cooldown_seconds * 1e6:
            return None
        self.last_fired_us = time_us
        return Firing(time_us, {"scheduled": us_to_datetime(time_us).isoformat()})

    def event(self, time_us: int, holds: bool) -> Firing | None:
        """The state machine: one event, whether the condition holds at `time_us`."""
        if self.last_time_us is not None and time_us < self.last_time_us:
            return None  # late: it says nothing about what held after it
        self.last_time_us = time_us
        if not holds:
            self.since_us, self.fired_episode = None, False
            return None
        if self.since_us is None:
            self.since_us, self.fired_episode = time_us, False
        if self.fired_episode or time_us - self.since_us < self.hold_seconds * 1e6:
            return None
        self.fired_episode = True
        if self.last_fired_us is not None and time_us - self.last_fired_us < self.cooldown_seconds * 1e6:
            return None  # reached its hold time within the cooldown: this episode is not fired
        self.last_fired_us = time_us
        return Firing(time_us, {"held_since": us_to_datetime(self.since_us).isoformat()})

    def _step(self, time_us: np.ndarray, holds: np.ndarray, value: np.ndarray | None = None) -> list[Firing]:
        """`event` over columns, called only where the state can change: the first event of each run of equal
        truths, and in a holding run the first event at which it has held long enough. (Inside a run nothing else
        changes: holding, it began before and has not held long enough yet, or it fired already; not holding, it
        was reset at the run's start.)"""
        if not len(time_us):
            return []
        if self.last_time_us is not None:
            fresh = time_us >= self.last_time_us  # late events are dropped, as `event` drops them
            if not fresh.all():
                time_us, holds = time_us[fresh], holds[fresh]
                value = value[fresh] if value is not None else None
        n = len(time_us)
        if not n:
            return []
        hold_us = self.hold_seconds * 1e6
        edges = np.flatnonzero(np.diff(holds.astype(np.int8))) + 1
        bounds = np.concatenate(([0], edges, [n])).tolist()
        firings: list[Firing] = []
        for k in range(len(bounds) - 1):
            start, end = bounds[k], bounds[k + 1]
            at = start
            firing = self.event(int(time_us[start]), bool(holds[start]))
            if firing is None and holds[start] and not self.fired_episode and end - start > 1:
                assert self.since_us is not None
                reach = self.since_us + hold_us
                at = start + 1 + int(np.searchsorted(time_us[start + 1 : end], reach, side="left"))
                if at < end:
                    firing = self.event(int(time_us[at]), True)
            if firing is not None:
                if value is not None:
                    firing.values["value"] = float(value[at])
                firings.append(firing)
        self.last_time_us = int(time_us[-1])
        return firings
