"""The pure ISA-18.2 state machine: every state x every event, delays, deadband, shelving, suppression, service."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alarms import state_machine as sm
from alarms.state_machine import Config, Event, Kind, Runtime, State, Transition

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HI = Config(Kind.HI, limit=80.0, deadband=2.0)
HI_LATCHING = replace(HI, latching=True)
BASE_STATES = [State.NORMAL, State.UNACK_ACTIVE, State.ACK_ACTIVE, State.UNACK_RTN, State.LATCHED]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(config: Config, rt: Runtime, value: float | None, t: float = 0, **kwargs) -> sm.Step:
    return sm.evaluate(config, rt, now=at(t), value=value, quality_bad=kwargs.pop("quality_bad", False), **kwargs)


def runtime(state: State, **kwargs) -> Runtime:
    """A runtime consistent with `state` (active states have their condition active)."""
    condition = state in (State.UNACK_ACTIVE, State.ACK_ACTIVE)
    return Runtime(state=state, condition=kwargs.pop("condition", condition), **kwargs)


# -- the lifecycle: every base state x activate / clear / acknowledge ---------------------------------------------

ACTIVATE = {
    State.NORMAL: State.UNACK_ACTIVE,
    State.UNACK_RTN: State.UNACK_ACTIVE,
    State.LATCHED: State.UNACK_ACTIVE,
}
CLEAR = {
    (State.UNACK_ACTIVE, False): State.UNACK_RTN,
    (State.ACK_ACTIVE, False): State.NORMAL,
    (State.UNACK_ACTIVE, True): State.LATCHED,
    (State.ACK_ACTIVE, True): State.LATCHED,
}
ACKNOWLEDGE = {
    State.UNACK_ACTIVE: State.ACK_ACTIVE,
    State.UNACK_RTN: State.NORMAL,
    State.LATCHED: State.NORMAL,
}


@pytest.mark.parametrize("latching", [False, True])
@pytest.mark.parametrize("state", [State.NORMAL, State.UNACK_RTN, State.LATCHED])
def test_a_value_past_the_limit_activates_an_inactive_alarm_unacknowledged(state, latching):
    config = HI_LATCHING if latching else HI

    step = run(config, runtime(state), 81.0)

    assert step.runtime.state is ACTIVATE[state]
    assert step.runtime.condition
    assert step.transitions == [Transition(Event.ACTIVATE, state, State.UNACK_ACTIVE)]


@pytest.mark.parametrize("state", [State.UNACK_ACTIVE, State.ACK_ACTIVE])
def test_a_value_still_past_the_limit_changes_nothing_of_an_active_alarm(state):
    step = run(HI, runtime(state), 90.0)

    assert step.runtime == runtime(state)
    assert step.transitions == []


@pytest.mark.parametrize("latching", [False, True])
@pytest.mark.parametrize("state", [State.UNACK_ACTIVE, State.ACK_ACTIVE])
def test_a_value_back_within_the_limit_clears_an_active_alarm(state, latching):
    config = HI_LATCHING if latching else HI

    step = run(config, runtime(state), 70.0)

    assert step.runtime.state is CLEAR[(state, latching)]
    assert not step.runtime.condition
    assert step.transitions == [Transition(Event.CLEAR, state, CLEAR[(state, latching)])]


@pytest.mark.parametrize("state", [State.NORMAL, State.UNACK_RTN, State.LATCHED])
def test_a_normal_value_changes_nothing_of_an_inactive_alarm(state):
    step = run(HI, runtime(state), 10.0)

    assert step.runtime == runtime(state)
    assert step.transitions == []


@pytest.mark.parametrize("state", BASE_STATES)
def test_acknowledge_from_every_state(state):
    if state not in ACKNOWLEDGE:
        with pytest.raises(sm.TransitionRefused, match="nothing to acknowledge"):
            sm.acknowledge(runtime(state))
        return
    step = sm.acknowledge(runtime(state))
    assert step.runtime.state is ACKNOWLEDGE[state]
    assert step.transitions == [Transition(Event.ACKNOWLEDGE, state, ACKNOWLEDGE[state])]


@pytest.mark.parametrize(
    "hidden",
    [
        {"shelved_until": at(600)},
        {"suppressed": True},
        {"out_of_service": True},
    ],
)
def test_a_hidden_alarm_cannot_be_acknowledged(hidden):
    with pytest.raises(sm.TransitionRefused, match="cannot be acknowledged"):
        sm.acknowledge(runtime(State.NORMAL, condition=True, **hidden))


def test_the_full_cycle_normal_unack_ack_normal():
    rt = Runtime()
    rt = run(HI, rt, 85.0, 0).runtime
    assert rt.state is State.UNACK_ACTIVE
    rt = sm.acknowledge(rt).runtime
    assert rt.state is State.ACK_ACTIVE
    rt = run(HI, rt, 50.0, 5).runtime
    assert rt == Runtime()


def test_the_cycle_through_returned_to_normal_unacknowledged():
    rt = run(HI, Runtime(), 85.0).runtime
    rt = run(HI, rt, 50.0, 1).runtime
    assert rt.state is State.UNACK_RTN
    rt = sm.acknowledge(rt).runtime
    assert rt == Runtime()


def test_a_latched_alarm_stays_until_reset_even_after_acknowledged_and_cleared():
    rt = run(HI_LATCHING, Runtime(), 85.0).runtime
    rt = sm.acknowledge(rt).runtime
    rt = run(HI_LATCHING, rt, 50.0, 1).runtime
    assert rt.state is State.LATCHED
    rt = run(HI_LATCHING, rt, 50.0, 2).runtime
    assert rt.state is State.LATCHED
    assert sm.acknowledge(rt).runtime == Runtime()


# -- the raw condition per kind, with deadband ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "value", "active", "expected"),
    [
        (Config(Kind.HI, limit=80, deadband=2), 80.0, False, False),  # at the limit is not past it
        (Config(Kind.HI, limit=80, deadband=2), 80.1, False, True),
        (Config(Kind.HI, limit=80, deadband=2), 79.0, True, True),  # inside the deadband: stays active
        (Config(Kind.HI, limit=80, deadband=2), 78.0, True, False),
        (Config(Kind.HIHI, limit=90, deadband=1), 90.5, False, True),
        (Config(Kind.HIHI, limit=90, deadband=1), 89.5, True, True),
        (Config(Kind.HIHI, limit=90, deadband=1), 88.9, True, False),
        (Config(Kind.LO, limit=10, deadband=1), 10.0, False, False),
        (Config(Kind.LO, limit=10, deadband=1), 9.9, False, True),
        (Config(Kind.LO, limit=10, deadband=1), 10.5, True, True),
        (Config(Kind.LO, limit=10, deadband=1), 11.0, True, False),
        (Config(Kind.LOLO, limit=5, deadband=0), 4.0, False, True),
        (Config(Kind.LOLO, limit=5, deadband=0), 5.0, True, False),
        (Config(Kind.DISCRETE_EQUALS, limit=1), 1.0, False, True),
        (Config(Kind.DISCRETE_EQUALS, limit=1), 0.0, True, False),
        (Config(Kind.DISCRETE_NOT_EQUALS, limit=0), 412.0, False, True),
        (Config(Kind.DISCRETE_NOT_EQUALS, limit=0), 0.0, True, False),
    ],
)
def test_raw_condition_of_limit_and_discrete_alarms(config, value, active, expected):
    assert sm.raw_condition(config, value=value, quality_bad=False, active=active) is expected


@pytest.mark.parametrize(
    ("value", "reference", "active", "expected"),
    [(1600, 1500, False, False), (1601, 1500, False, True), (1395, 1500, False, True), (1590, 1500, True, True),
     (1579, 1500, True, False), (1600, None, False, None)],
)  # fmt: skip
def test_raw_condition_of_a_deviation_alarm(value, reference, active, expected):
    config = Config(Kind.DEVIATION, limit=100, deadband=20)
    assert sm.raw_condition(config, value=value, quality_bad=False, active=active, reference=reference) is expected


@pytest.mark.parametrize(("rate", "expected"), [(5.0, False), (5.5, True), (-6.0, True), (None, None)])
def test_raw_condition_of_a_rate_of_change_alarm(rate, expected):
    config = Config(Kind.RATE_OF_CHANGE, limit=5)
    assert sm.raw_condition(config, value=1.0, quality_bad=False, active=False, rate_per_minute=rate) is expected


@pytest.mark.parametrize("kind", [k for k in Kind if k is not Kind.BAD_QUALITY])
def test_a_bad_or_missing_value_holds_the_condition(kind):
    config = Config(kind, limit=1)
    assert sm.raw_condition(config, value=5.0, quality_bad=True, active=True) is None
    assert sm.raw_condition(config, value=None, quality_bad=False, active=False) is None
    assert sm.raw_condition(config, value=float("nan"), quality_bad=False, active=False) is None


def test_a_bad_quality_alarm_follows_the_quality_only():
    config = Config(Kind.BAD_QUALITY)
    assert sm.raw_condition(config, value=None, quality_bad=True, active=False) is True
    assert sm.raw_condition(config, value=3.0, quality_bad=False, active=True) is False


def test_a_limit_alarm_without_a_limit_never_decides():
    assert sm.raw_condition(Config(Kind.HI), value=1e9, quality_bad=False, active=False) is None


def test_bad_quality_does_not_clear_an_active_limit_alarm():
    rt = run(HI, Runtime(), 85.0).runtime
    step = run(HI, rt, None, 1, quality_bad=True)
    assert step.runtime == rt
    assert step.transitions == []


def test_a_value_chattering_inside_the_deadband_raises_one_alarm():
    rt = Runtime()
    transitions = []
    for i, value in enumerate([81, 79, 80.5, 78.5, 81, 79.5]):
        step = run(HI, rt, value, i)
        rt = step.runtime
        transitions += step.transitions
    assert [t.event for t in transitions] == [Event.ACTIVATE]


# -- delays ---------------------------------------------------------------------------------------------------

DELAYED = Config(Kind.HI, limit=80, on_delay=10, off_delay=5)


def test_the_on_delay_holds_the_alarm_back_until_the_value_stayed_past_the_limit():
    rt = run(DELAYED, Runtime(), 85, 0).runtime
    assert (rt.state, rt.condition, rt.pending_since) == (State.NORMAL, False, at(0))
    rt = run(DELAYED, rt, 85, 9.9).runtime
    assert rt.state is State.NORMAL
    step = run(DELAYED, rt, 85, 10)
    assert step.runtime.state is State.UNACK_ACTIVE
    assert step.runtime.pending_since is None
    assert [t.event for t in step.transitions] == [Event.ACTIVATE]


def test_a_dip_below_the_limit_restarts_the_on_delay():
    rt = run(DELAYED, Runtime(), 85, 0).runtime
    rt = run(DELAYED, rt, 70, 6).runtime
    assert rt.pending_since is None
    rt = run(DELAYED, rt, 85, 8).runtime
    rt = run(DELAYED, rt, 85, 17).runtime
    assert rt.state is State.NORMAL
    assert run(DELAYED, rt, 85, 18).runtime.state is State.UNACK_ACTIVE


def test_the_off_delay_keeps_the_alarm_active_until_the_value_stayed_back():
    rt = replace(runtime(State.ACK_ACTIVE))
    rt = run(DELAYED, rt, 70, 0).runtime
    assert (rt.state, rt.condition, rt.clearing_since) == (State.ACK_ACTIVE, True, at(0))
    rt = run(DELAYED, rt, 85, 3).runtime  # back past the limit: the off-delay starts over
    assert rt.clearing_since is None
    rt = run(DELAYED, rt, 70, 4).runtime
    rt = run(DELAYED, rt, 70, 8.9).runtime
    assert rt.state is State.ACK_ACTIVE
    step = run(DELAYED, rt, 70, 9)
    assert step.runtime == Runtime()
    assert [t.event for t in step.transitions] == [Event.CLEAR]


# -- shelving ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", BASE_STATES)
def test_shelving_hides_an_alarm_in_any_state(state):
    step = sm.shelve(runtime(state), until=at(600), now=at(0))

    assert step.runtime.display_state is State.SHELVED
    assert step.runtime.state is State.NORMAL
    assert step.transitions == [Transition(Event.SHELVE, state, State.SHELVED)]


def test_a_shelved_alarm_records_its_condition_without_annunciating():
    rt = sm.shelve(Runtime(), until=at(600), now=at(0)).runtime
    step = run(HI, rt, 85, 10)
    assert step.runtime.condition
    assert step.runtime.display_state is State.SHELVED
    assert step.transitions == [Transition(Event.ACTIVATE, State.SHELVED, State.SHELVED)]


def test_shelve_expiry_annunciates_an_alarm_whose_condition_is_active():
    rt = sm.shelve(runtime(State.ACK_ACTIVE), until=at(600), now=at(0)).runtime
    assert run(HI, rt, 85, 599).runtime.display_state is State.SHELVED

    step = run(HI, rt, 85, 600)

    assert step.runtime.shelved_until is None
    assert step.runtime.state is State.UNACK_ACTIVE
    assert step.transitions == [Transition(Event.UNSHELVE, State.SHELVED, State.UNACK_ACTIVE)]


def test_shelve_expiry_returns_a_quiet_alarm_to_normal():
    rt = sm.shelve(runtime(State.UNACK_ACTIVE), until=at(600), now=at(0)).runtime
    step = run(HI, rt, 50, 601)
    assert step.runtime == Runtime()
    assert [t.event for t in step.transitions] == [Event.CLEAR, Event.UNSHELVE]


def test_unshelve_by_hand_and_its_refusals():
    rt = sm.shelve(runtime(State.UNACK_ACTIVE), until=at(600), now=at(0)).runtime
    assert sm.unshelve(rt).runtime.state is State.UNACK_ACTIVE
    with pytest.raises(sm.TransitionRefused, match="not shelved"):
        sm.unshelve(Runtime())
    with pytest.raises(sm.TransitionRefused, match="future"):
        sm.shelve(Runtime(), until=at(0), now=at(0))
    with pytest.raises(sm.TransitionRefused, match="out of service"):
        sm.shelve(Runtime(out_of_service=True), until=at(60), now=at(0))


def test_shelving_again_extends_the_shelve():
    rt = sm.shelve(Runtime(), until=at(60), now=at(0)).runtime
    assert sm.shelve(rt, until=at(600), now=at(30)).runtime.shelved_until == at(600)


# -- suppression by design ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", BASE_STATES)
def test_suppression_hides_an_alarm_in_any_state(state):
    step = run(HI, runtime(state), 85 if state in (State.UNACK_ACTIVE, State.ACK_ACTIVE) else 50, suppressed=True)
    assert step.runtime.display_state is State.SUPPRESSED
    assert step.transitions[0] == Transition(Event.SUPPRESS, state, State.SUPPRESSED)


def test_a_suppressed_alarm_is_not_evaluated_and_starts_afresh_with_its_on_delay():
    rt = run(DELAYED, runtime(State.UNACK_ACTIVE), 85, 0, suppressed=True).runtime
    assert (rt.display_state, rt.condition) == (State.SUPPRESSED, False)
    step = run(DELAYED, rt, 85, 100, suppressed=True)
    assert step.transitions == []

    step = run(DELAYED, rt, 85, 200, suppressed=False)
    assert step.runtime.state is State.NORMAL
    assert step.runtime.pending_since == at(200)
    assert step.transitions == [Transition(Event.UNSUPPRESS, State.SUPPRESSED, State.NORMAL)]
    assert run(DELAYED, step.runtime, 85, 210, suppressed=False).runtime.state is State.UNACK_ACTIVE


def test_a_condition_present_when_suppression_ends_annunciates_without_delay_when_there_is_none():
    rt = run(HI, Runtime(), 85, 0, suppressed=True).runtime
    step = run(HI, rt, 85, 1, suppressed=False)
    assert step.runtime.state is State.UNACK_ACTIVE
    assert [t.event for t in step.transitions] == [Event.UNSUPPRESS, Event.ACTIVATE]


def test_unknown_suppression_holds_and_unsuppressing_a_quiet_alarm_leaves_it_normal():
    rt = run(HI, runtime(State.UNACK_ACTIVE), 85, 0, suppressed=True).runtime
    assert run(HI, rt, 85, 1, suppressed=None).runtime.suppressed  # suppression tag unknown: no change
    step = run(HI, rt, 50, 2, suppressed=False)
    assert step.runtime == Runtime()
    assert [t.event for t in step.transitions] == [Event.UNSUPPRESS]


def test_suppress_to_the_same_value_is_no_transition():
    assert sm.suppress(Runtime(), suppressed=False).transitions == []


# -- out of service, disable ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", BASE_STATES)
def test_out_of_service_hides_an_alarm_in_any_state_and_ends_a_shelve(state):
    rt = runtime(state, shelved_until=at(60))
    step = sm.set_out_of_service(rt, out_of_service=True)
    assert step.runtime.display_state is State.OUT_OF_SERVICE
    assert step.runtime.shelved_until is None
    assert step.transitions == [Transition(Event.REMOVE_FROM_SERVICE, State.SHELVED, State.OUT_OF_SERVICE)]


def test_an_alarm_out_of_service_is_not_evaluated_and_returns_normal():
    rt = sm.set_out_of_service(runtime(State.ACK_ACTIVE), out_of_service=True).runtime
    assert rt.condition is False
    assert run(HI, rt, 99, 1).transitions == []
    step = sm.set_out_of_service(rt, out_of_service=False)
    assert step.runtime == Runtime()
    assert run(HI, step.runtime, 99, 2).runtime.state is State.UNACK_ACTIVE
    with pytest.raises(sm.TransitionRefused, match="already in service"):
        sm.set_out_of_service(step.runtime, out_of_service=False)


def test_a_hidden_alarm_stays_hidden_while_another_reason_remains():
    rt = Runtime(condition=True, suppressed=True, out_of_service=True)
    step = sm.suppress(rt, suppressed=False)
    assert step.runtime.display_state is State.OUT_OF_SERVICE
    assert step.runtime.state is State.NORMAL


def test_disable_resets_everything_and_records_it_once():
    step = sm.disable(runtime(State.UNACK_ACTIVE, pending_since=at(0)))
    assert step.runtime == Runtime()
    assert step.transitions == [Transition(Event.DISABLE, State.UNACK_ACTIVE, State.NORMAL)]
    assert sm.disable(Runtime()).transitions == []


# -- event alarms (security) -------------------------------------------------------------------------------------

SECURITY = Config(Kind.SECURITY)


def test_an_event_alarm_is_raised_returns_to_normal_at_once_and_waits_for_acknowledgement():
    step = sm.raise_event(SECURITY, Runtime())
    assert step.transitions == [
        Transition(Event.ACTIVATE, State.NORMAL, State.UNACK_ACTIVE),
        Transition(Event.CLEAR, State.UNACK_ACTIVE, State.UNACK_RTN),
    ]
    assert (step.runtime.state, step.runtime.condition) == (State.UNACK_RTN, False)
    assert sm.acknowledge(step.runtime).runtime.state is State.NORMAL


def test_an_event_alarm_seen_again_while_unacknowledged_repeats_instead_of_raising():
    step = sm.raise_event(SECURITY, Runtime(state=State.UNACK_RTN))
    assert step.transitions == [Transition(Event.REPEAT, State.UNACK_RTN, State.UNACK_RTN)]
    assert step.runtime == Runtime(state=State.UNACK_RTN)


@pytest.mark.parametrize(
    ("rt", "shown"),
    [
        (Runtime(shelved_until=at(600)), State.SHELVED),
        (Runtime(out_of_service=True), State.OUT_OF_SERVICE),
    ],
)
def test_a_hidden_event_alarm_is_recorded_but_not_annunciated(rt, shown):
    step = sm.raise_event(SECURITY, rt)
    assert [(t.event, t.after) for t in step.transitions] == [(Event.ACTIVATE, shown), (Event.CLEAR, shown)]
    assert step.runtime == rt


def test_an_event_alarm_is_never_tripped_by_a_value():
    assert sm.raw_condition(SECURITY, value=1e9, quality_bad=True, active=False) is None
