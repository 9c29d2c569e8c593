"""ISA-18.2 KPIs from a journal written for the purpose: rates per area, floods, chattering, stale, bad actors."""

from datetime import UTC, datetime, timedelta

import pytest

from alarms.models import Alarm, JournalEntry
from alarms.queries.kpi import alarm_kpis
from alarms.services.journal import journal_write

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def activation(alarm_id: int, t: datetime, *, area_id: int = 1, state: str = "unack_active") -> JournalEntry:
    return JournalEntry(
        time=t, alarm_id=alarm_id, event="activate", state=state, previous_state="normal", priority="high",
        alarm_name=f"alarm {alarm_id}", tag_path=f"tag {alarm_id}", area_id=area_id, line_id=1, machine_id=1,
    )  # fmt: skip


@pytest.mark.django_db
def test_kpis_of_a_known_journal():
    entries = [activation(1, T0 + timedelta(seconds=10 * i)) for i in range(4)]  # alarm 1 chatters: 4 in 40 s
    entries += [activation(100 + i, T0 + timedelta(minutes=12, seconds=i)) for i in range(10)]  # a flood
    entries += [activation(2, T0 + timedelta(minutes=m), area_id=2) for m in (1, 30, 59)]  # steady, other area
    entries += [activation(3, T0 + timedelta(minutes=5), state="shelved")]  # hidden: not counted
    entries += [activation(4, T0 - timedelta(minutes=1))]  # outside the range
    journal_write(entries=entries)

    kpis = alarm_kpis(start=T0, end=T0 + timedelta(hours=1), now=T0 + timedelta(hours=1))

    assert kpis.activations == 17
    rates = {a.area: (a.activations, round(a.per_10_min, 2), a.peak_10_min) for a in kpis.areas}
    assert rates == {"area 1": (14, 2.33, 10), "area 2": (3, 0.5, 1)}
    assert [(f.area, f.start, f.activations) for f in kpis.floods] == [("area 1", T0 + timedelta(minutes=10), 10)]
    assert [(c.alarm_id, c.count) for c in kpis.chattering] == [(1, 4)]
    assert [(b.alarm_id, b.count) for b in kpis.bad_actors[:2]] == [(1, 4), (2, 3)]
    assert len(kpis.bad_actors) == 10
    assert round(kpis.bad_actors[0].share, 1) == round(100 * 4 / 17, 1)


@pytest.mark.django_db
def test_three_activations_spread_over_more_than_a_minute_are_not_chattering():
    journal_write(entries=[activation(1, T0 + timedelta(seconds=s)) for s in (0, 40, 80, 120)])
    assert alarm_kpis(start=T0, end=T0 + timedelta(hours=1), now=T0).chattering == []


def test_stale_alarms_are_those_active_for_more_than_a_day(define, signals):
    old = define(signals["motor_temperature"], name="old", kind="hi", limit=1)
    new = define(signals["vibration_rms"], name="new", kind="hi", limit=1)
    now = datetime.now(UTC)
    Alarm.objects.create(definition=old, state="ack_active", condition=True, active_since=now - timedelta(hours=25))
    Alarm.objects.create(definition=new, state="unack_active", condition=True, active_since=now - timedelta(hours=23))

    kpis = alarm_kpis(start=now - timedelta(hours=1), end=now, now=now)

    assert [a.pk for a in kpis.stale] == [old.pk]
