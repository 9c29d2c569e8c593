"""The ISA-18.2 alarm state machine, in plain Python (no database, no Django), so that it can be tested exhaustively.

Two layers:
- the *condition*: is the process abnormal? A raw test of the value against the limit (with deadband), then
  on-delay / off-delay, so that a value must stay past the limit for the on-delay before the alarm activates and
  stay back for the off-delay before it clears;
- the *alarm state* (ISA-18.2 figure 6): NORMAL, UNACK_ACTIVE, ACK_ACTIVE, UNACK_RTN, and LATCHED for a latching
  alarm that returned to normal and waits for an operator reset (acknowledgement), plus the orthogonal conditions
  that hide an alarm from the operator: SHELVED (by an operator, for a time), SUPPRESSED (by design, conditioned on
  another tag) and OUT_OF_SERVICE (maintenance). While shelved, the condition is still tracked and an active one is
  annunciated when the shelve ends; a suppressed or out-of-service alarm is not evaluated and starts from normal.

Every function returns the transitions it made; callers write each one to the journal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    NORMAL = "normal"
    UNACK_ACTIVE = "unack_active"
    ACK_ACTIVE = "ack_active"
    UNACK_RTN = "unack_rtn"
    LATCHED = "latched"
    # Display states: the alarm is hidden from the operator for one of these reasons (the stored state is NORMAL).
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out_of_service"


#: States in which an alarm is shown in the alarm list.
ANNUNCIATED = frozenset({State.UNACK_ACTIVE, State.ACK_ACTIVE, State.UNACK_RTN, State.LATCHED})
UNACKNOWLEDGED = frozenset({State.UNACK_ACTIVE, State.UNACK_RTN, State.LATCHED})


class Kind(StrEnum):
    HIHI = "hihi"
    HI = "hi"
    LO = "lo"
    LOLO = "lolo"
    DEVIATION = "deviation"
    RATE_OF_CHANGE = "rate_of_change"
    DISCRETE_EQUALS = "discrete_eq"
    DISCRETE_NOT_EQUALS = "discrete_ne"
    BAD_QUALITY = "bad_quality"
    SECURITY = "security"  # an event alarm raised by a security detector (see raise_event), not by values


class Event(StrEnum):
    ACTIVATE = "activate"
    CLEAR = "clear"
    ACKNOWLEDGE = "acknowledge"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    REMOVE_FROM_SERVICE = "out_of_service"
    RETURN_TO_SERVICE = "in_service"
    DISABLE = "disable"
    REPEAT = "repeat"  # an event alarm seen again while it waits for acknowledgement


class TransitionRefused(ValueError):
    """An operator action that the alarm's state does not allow (e.g. acknowledging a normal alarm)."""


@dataclass(frozen=True, slots=True)
class Config:
    kind: Kind
    limit: float | None = None  # the limit; the allowed deviation; the rate per minute; the discrete state
    deadband: float = 0.0
    on_delay: float = 0.0  # seconds
    off_delay: float = 0.0  # seconds
    latching: bool = False


@dataclass(frozen=True, slots=True)
class Runtime:
    state: State = State.NORMAL
    condition: bool = False  # the process condition, after delays
    pending_since: datetime | None = None  # raw condition true since, waiting for the on-delay
    clearing_since: datetime | None = None  # raw condition false since, waiting for the off-delay
    shelved_until: datetime | None = None
    suppressed: bool = False
    out_of_service: bool = False

    @property
    def hidden(self) -> bool:
        return self.out_of_service or self.shelved_until is not None or self.suppressed

    @property
    def display_state(self) -> State:
        if self.out_of_service:
            return State.OUT_OF_SERVICE
        if self.shelved_until is not None:
            return State.SHELVED
        if self.suppressed:
            return State.SUPPRESSED
        return self.state


@dataclass(frozen=True, slots=True)
class Transition:
    event: Event
    before: State  # display states
    after: State


@dataclass(slots=True)
class Step:
    runtime: Runtime
    transitions: list[Transition] = field(default_factory=list)

    def record(self, event: Event, before: Runtime) -> None:
        self.transitions.append(Transition(event, before.display_state, self.runtime.display_state))


# -- the condition -----------------------------------------------------------------------------------------------


def raw_condition(
    config: Config,
    *,
    value: float | None,
    quality_bad: bool,
    active: bool,
    reference: float | None = None,
    rate_per_minute: float | None = None,
) -> bool | None:
    """Is the process past the limit? None when it cannot be told (bad or missing value): the condition holds.

    `active` is the current condition: an active alarm clears only once the value is back by the deadband.
    """
    kind = config.kind
    if kind is Kind.BAD_QUALITY:
        return quality_bad
    if kind is Kind.SECURITY:
        return None  # raised by events (raise_event), never by a value
    if quality_bad or value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    limit = config.limit
    if limit is None:
        return None
    band = config.deadband if active else 0.0
    if kind in (Kind.HI, Kind.HIHI):
        return value > limit - band if active else value > limit
    if kind in (Kind.LO, Kind.LOLO):
        return value < limit + band if active else value < limit
    if kind is Kind.DEVIATION:
        if reference is None:
            return None
        return abs(value - reference) > limit - band
    if kind is Kind.RATE_OF_CHANGE:
        if rate_per_minute is None:
            return None
        return abs(rate_per_minute) > limit - band
    if kind is Kind.DISCRETE_EQUALS:
        return round(value) == round(limit)
    if kind is Kind.DISCRETE_NOT_EQUALS:
        return round(value) != round(limit)
    raise ValueError(f"unknown alarm kind {kind!r}")


def _delayed(config: Config, rt: Runtime, raw: bool | None, now: datetime) -> Runtime:
    """Apply the on-delay and off-delay: the new condition and the pending timers."""
    if raw is None:
        return rt
    if raw and not rt.condition:
        if config.on_delay <= 0:
            return replace(rt, condition=True, pending_since=None, clearing_since=None)
        since = rt.pending_since or now
        if now - since >= timedelta(seconds=config.on_delay):
            return replace(rt, condition=True, pending_since=None, clearing_since=None)
        return replace(rt, pending_since=since, clearing_since=None)
    if not raw and rt.condition:
        if config.off_delay <= 0:
            return replace(rt, condition=False, pending_since=None, clearing_since=None)
        since = rt.clearing_since or now
        if now - since >= timedelta(seconds=config.off_delay):
            return replace(rt, condition=False, pending_since=None, clearing_since=None)
        return replace(rt, clearing_since=since, pending_since=None)
    # The raw condition agrees with the condition: any pending timer is cancelled.
    return replace(rt, pending_since=None, clearing_since=None)


def evaluate(
    config: Config,
    rt: Runtime,
    *,
    now: datetime,
    value: float | None,
    quality_bad: bool,
    reference: float | None = None,
    rate_per_minute: float | None = None,
    suppressed: bool | None = None,
) -> Step:
    """One new value: suppression changes, the condition, then shelve expiry.

    A suppressed or out-of-service alarm is not evaluated at all: its condition is expected (the machine is
    stopped) or meaningless (maintenance), so when it comes back it starts from normal and must pass its on-delay
    like any new condition. A shelved alarm keeps being evaluated, so that it is annunciated at once when the
    shelve ends with its condition still active.
    """
    step = Step(rt)
    if suppressed is not None and suppressed != rt.suppressed:
        step = _merge(step, suppress(step.runtime, suppressed=suppressed))
    if not (step.runtime.suppressed or step.runtime.out_of_service):
        raw = raw_condition(
            config,
            value=value,
            quality_bad=quality_bad,
            active=step.runtime.condition,
            reference=reference,
            rate_per_minute=rate_per_minute,
        )
        step = _merge(step, condition_change(config, step.runtime, _delayed(config, step.runtime, raw, now)))
    if step.runtime.shelved_until is not None and step.runtime.shelved_until <= now:
        step = _merge(step, unshelve(step.runtime))
    return step


def condition_change(config: Config, before: Runtime, after: Runtime) -> Step:
    """The state change that follows a change of the condition (from `before` to `after`)."""
    step = Step(after)
    if after.condition == before.condition:
        return step
    if after.hidden:
        # Hidden alarms are not annunciated; the condition change is still recorded.
        step.record(Event.ACTIVATE if after.condition else Event.CLEAR, before)
        return step
    state = before.state
    if after.condition:
        if state in (State.NORMAL, State.UNACK_RTN, State.LATCHED):
            state = State.UNACK_ACTIVE
        step.runtime = replace(after, state=state)
        step.record(Event.ACTIVATE, before)
        return step
    if state is State.UNACK_ACTIVE:
        state = State.LATCHED if config.latching else State.UNACK_RTN
    elif state is State.ACK_ACTIVE:
        state = State.LATCHED if config.latching else State.NORMAL
    step.runtime = replace(after, state=state)
    step.record(Event.CLEAR, before)
    return step


# -- operator and design actions -------------------------------------------------------------------------------


def acknowledge(rt: Runtime) -> Step:
    """Acknowledge (and, for a latched alarm, reset). Refused for an alarm that waits for no acknowledgement."""
    if rt.hidden:
        raise TransitionRefused(f"a {rt.display_state.value.replace('_', ' ')} alarm cannot be acknowledged")
    target = {
        State.UNACK_ACTIVE: State.ACK_ACTIVE,
        State.UNACK_RTN: State.NORMAL,
        State.LATCHED: State.NORMAL,  # a latched alarm has returned to normal: acknowledging resets it
    }.get(rt.state)
    if target is None:
        raise TransitionRefused(f"an alarm in state {rt.state.value} has nothing to acknowledge")
    step = Step(replace(rt, state=target))
    step.record(Event.ACKNOWLEDGE, rt)
    return step


def shelve(rt: Runtime, *, until: datetime, now: datetime) -> Step:
    if rt.out_of_service:
        raise TransitionRefused("an alarm out of service cannot be shelved")
    if until <= now:
        raise TransitionRefused("a shelve must end in the future")
    step = Step(replace(rt, shelved_until=until, state=State.NORMAL))
    step.record(Event.SHELVE, rt)
    return step


def _not_evaluated(rt: Runtime) -> Runtime:
    """Suppressed or out of service: no condition is tracked (it is evaluated afresh when the alarm returns)."""
    return replace(rt, state=State.NORMAL, condition=False, pending_since=None, clearing_since=None)


def _reveal(rt: Runtime) -> Runtime:
    """An alarm that stops being hidden: annunciated afresh if its condition is active, else normal."""
    if rt.hidden:
        return rt
    return replace(rt, state=State.UNACK_ACTIVE if rt.condition else State.NORMAL)


def unshelve(rt: Runtime) -> Step:
    if rt.shelved_until is None:
        raise TransitionRefused("the alarm is not shelved")
    step = Step(_reveal(replace(rt, shelved_until=None)))
    step.record(Event.UNSHELVE, rt)
    return step


def suppress(rt: Runtime, *, suppressed: bool) -> Step:
    if suppressed == rt.suppressed:
        return Step(rt)
    if suppressed:
        step = Step(replace(_not_evaluated(rt), suppressed=True))
        step.record(Event.SUPPRESS, rt)
    else:
        step = Step(_reveal(replace(rt, suppressed=False)))
        step.record(Event.UNSUPPRESS, rt)
    return step


def set_out_of_service(rt: Runtime, *, out_of_service: bool) -> Step:
    if out_of_service == rt.out_of_service:
        raise TransitionRefused("the alarm is already " + ("out of service" if out_of_service else "in service"))
    if out_of_service:
        step = Step(replace(_not_evaluated(rt), out_of_service=True, shelved_until=None))
        step.record(Event.REMOVE_FROM_SERVICE, rt)
    else:
        step = Step(_reveal(replace(rt, out_of_service=False)))
        step.record(Event.RETURN_TO_SERVICE, rt)
    return step


def disable(rt: Runtime) -> Step:
    """A definition switched off: back to a clean normal state (the journal keeps what it was)."""
    step = Step(Runtime())
    if rt != step.runtime:
        step.record(Event.DISABLE, rt)
    return step


def raise_event(config: Config, rt: Runtime) -> Step:
    """An event alarm (a security detector saw something): it has no lasting condition.

    Raised: annunciated (ACTIVATE) and returned to normal at once (CLEAR), so it waits in the list, unacknowledged,
    until an operator acknowledges it. Seen again while it waits: one REPEAT, no new annunciation. Seen again after
    the acknowledgement: raised again. While shelved or out of service it is recorded (ACTIVATE, CLEAR) but not
    annunciated, as a hidden alarm's condition changes are.
    """
    if not rt.hidden and rt.state in UNACKNOWLEDGED:
        step = Step(rt)
        step.record(Event.REPEAT, rt)
        return step
    on = condition_change(config, rt, replace(rt, condition=True, pending_since=None, clearing_since=None))
    return _merge(on, condition_change(config, on.runtime, replace(on.runtime, condition=False)))


def _merge(first: Step, second: Step) -> Step:
    return Step(second.runtime, first.transitions + second.transitions)
