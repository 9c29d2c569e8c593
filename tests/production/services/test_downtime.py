"""Downtime work from the floor on the real database: classify (and override an automatic reason), comment, split,
each audited with before/after and who; all of it survives a rebuild from history; overlaps refused; who may."""

import pytest
from django.contrib.auth.models import Group

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent
from production.models import DowntimeArea, MachineState, StateInterval, StateMapping
from production.services.downtime import (
    DowntimeError,
    StopOverlapError,
    downtime_may_classify,
    state_interval_save,
    stop_classify,
    stop_comment,
    stop_split,
)
from production.services.intervals import machine_intervals_rebuild
from tests.factories import LineFactory, UserFactory
from tests.production.conftest import at
from tests.production.factories import DowntimeReasonFactory

DOWN, RUN, SETUP = MachineState.UNPLANNED_DOWN, MachineState.RUNNING, MachineState.SETUP


@pytest.fixture
def operator(line):
    """An operator granted the area of the line's machine (through a group, as a site would do it)."""
    user = UserFactory(username="op1", role=Role.OPERATOR)
    group = Group.objects.create(name="Area 1 floor")
    user.groups.add(group)
    DowntimeArea.objects.create(area=line.config.machine.line.area, group=group)
    return user


@pytest.fixture
def reasons(line):
    site = line.config.machine.line.area.site
    return {
        "motor": DowntimeReasonFactory(category__site=site, category__name="Electrical", name="Motor"),
        "changeover": DowntimeReasonFactory(category__site=site, category__name="Setup", name="Changeover"),
    }


def _stopped(line) -> StateInterval:
    """Running 0-60 s, down on a jam (fault 17: automatic reason "Jam") 60-600 s, running again."""
    line.store(0, state=1, product=1, fault=0)
    line.store(60, state=6, fault=17)
    line.store(600, state=1, fault=0)
    return StateInterval.objects.get(machine=line.config.machine, state=DOWN)


def _audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_an_operator_overrides_the_automatic_reason_which_stays_visible_and_the_change_is_audited(
    line, operator, reasons
):
    stop = _stopped(line)
    assert (stop.reason.name, stop.auto_classified) == ("Jam", True)

    stop_classify(interval_id=stop.pk, reason_id=reasons["motor"].pk, user=operator, at=at(700))

    stop.refresh_from_db()
    assert (stop.reason.name, stop.auto_reason.name, stop.auto_classified) == ("Motor", "Jam", False)
    assert (stop.classified_by, stop.classified_at) == (operator, at(700))
    (event,) = _audit(AuditAction.DOWNTIME_CLASSIFY)
    assert event.actor == operator
    assert event.actor_username == "op1"
    assert event.details["before"]["reason"].endswith("Jam")
    assert event.details["before"]["automatic"] is True
    assert event.details["after"] == {"reason": "Electrical / Motor", "reason_id": reasons["motor"].pk,
                                      "automatic": False, "comment": ""}  # fmt: skip
    assert event.details["auto_reason"].endswith("Jam")

    stop_classify(interval_id=stop.pk, reason_id=None, user=operator)  # back to the automatic reason
    stop.refresh_from_db()
    assert (stop.reason.name, stop.auto_classified) == ("Jam", True)
    assert len(_audit(AuditAction.DOWNTIME_CLASSIFY)) == 2


def test_a_reason_of_another_site_and_a_running_interval_are_refused(line, operator):
    stop = _stopped(line)
    foreign = DowntimeReasonFactory(name="Elsewhere")
    with pytest.raises(DowntimeError, match="this site's"):
        stop_classify(interval_id=stop.pk, reason_id=foreign.pk, user=operator)
    running = StateInterval.objects.filter(machine=line.config.machine, state=RUN).first()
    with pytest.raises(DowntimeError, match="running"):
        stop_comment(interval_id=running.pk, comment="x", user=operator)
    assert not AuditEvent.objects.filter(action__startswith="downtime_").exists()


def test_a_comment_is_kept_and_audited_with_before_and_after(line, operator):
    stop = _stopped(line)
    stop_comment(interval_id=stop.pk, comment="  bearing noise  ", user=operator)
    stop_comment(interval_id=stop.pk, comment="bearing replaced", user=operator)

    stop.refresh_from_db()
    assert stop.comment == "bearing replaced"
    first, second = _audit(AuditAction.DOWNTIME_COMMENT)
    assert (first.details["before"]["comment"], first.details["after"]["comment"]) == ("", "bearing noise")
    assert (second.details["before"]["comment"], second.details["after"]["comment"]) == (
        "bearing noise",
        "bearing replaced",
    )


def test_a_split_stop_has_two_parts_each_classified_on_its_own(line, operator, reasons):
    stop = _stopped(line)
    stop_classify(interval_id=stop.pk, reason_id=reasons["motor"].pk, user=operator)

    _first, second = stop_split(interval_id=stop.pk, at=at(300), user=operator, now=at(700))
    stop_classify(interval_id=second.pk, reason_id=reasons["changeover"].pk, user=operator)

    assert line.intervals() == [
        (0, 60, RUN, "1", None, False),
        (60, 300, DOWN, "1", "Motor", False),
        (300, 600, DOWN, "1", "Changeover", False),
        (600, None, RUN, "1", None, False),
    ]
    (event,) = _audit(AuditAction.DOWNTIME_SPLIT)
    assert event.details["before"] == {"start": at(60).isoformat(), "end": at(600).isoformat()}
    assert event.details["after"][1] == {"start": at(300).isoformat(), "end": at(600).isoformat()}
    assert event.actor == operator


def test_a_split_outside_the_stop_or_in_the_future_is_refused(line, operator):
    line.store(0, state=1)
    line.store(60, state=6)
    stop = StateInterval.objects.get(machine=line.config.machine, state=DOWN)  # open
    for instant in (at(60), at(20), at(900)):
        with pytest.raises(DowntimeError, match="Split inside the stop"):
            stop_split(interval_id=stop.pk, at=instant, user=operator, now=at(800))
    first, second = stop_split(interval_id=stop.pk, at=at(400), user=operator, now=at(800))
    assert (first.end, second.start, second.end) == (at(400), at(400), None)


def test_splits_and_classifications_survive_a_rebuild_from_history(line, operator, reasons):
    stop = _stopped(line)
    _, second = stop_split(interval_id=stop.pk, at=at(300), user=operator, now=at(700))
    stop_classify(interval_id=stop.pk, reason_id=reasons["motor"].pk, user=operator)
    stop_comment(interval_id=second.pk, comment="turned into a changeover", user=operator)
    stop_classify(interval_id=second.pk, reason_id=reasons["changeover"].pk, user=operator)
    expected = [
        (0, 60, RUN, "1", None, False),
        (60, 300, DOWN, "1", "Motor", False),
        (300, 600, DOWN, "1", "Changeover", False),
        (600, None, RUN, "1", None, False),
    ]
    assert line.intervals() == expected

    # Every interval deleted and derived anew (a mapping change that, here, changes nothing of the shape).
    StateInterval.objects.filter(machine=line.config.machine).delete()
    machine_intervals_rebuild(machine_id=line.config.machine_id, now=at(700))
    assert line.intervals() == expected
    rebuilt = StateInterval.objects.get(machine=line.config.machine, start=at(300))
    assert (rebuilt.comment, rebuilt.classified_by, rebuilt.auto_reason.name) == (
        "turned into a changeover",
        operator,
        "Jam",
    )

    # A real mapping change: code 6 now means setup. The split and what was said are kept on the new intervals.
    StateMapping.objects.filter(machine_production=line.config, value=6).update(state=SETUP)
    machine_intervals_rebuild(machine_id=line.config.machine_id, now=at(700))
    assert line.intervals() == [
        (0, 60, RUN, "1", None, False),
        (60, 300, SETUP, "1", "Motor", False),
        (300, 600, SETUP, "1", "Changeover", False),
        (600, None, RUN, "1", None, False),
    ]


def test_late_values_inside_a_split_stop_keep_the_split(line, operator, reasons):
    from historian.quality import Quality
    from historian.sample_types import SampleRow
    from ingest.pipeline.buffer import buffer_replay, local_buffer

    stop = _stopped(line)
    _, second = stop_split(interval_id=stop.pk, at=at(300), user=operator, now=at(700))
    stop_classify(interval_id=second.pk, reason_id=reasons["changeover"].pk, user=operator)
    buffer = local_buffer()  # a late fault value inside the first part (store-and-forward)
    buffer.append([SampleRow(tag_id=line.fault.pk, time=at(200), value=0.0, quality=Quality.GOOD)])
    assert buffer_replay(buffer=buffer, max_seconds=0).replayed == 1

    assert line.intervals() == [
        (0, 60, RUN, "1", None, False),
        (60, 200, DOWN, "1", "Jam", True),
        (200, 300, DOWN, "1", None, False),
        (300, 600, DOWN, "1", "Changeover", False),
        (600, None, RUN, "1", None, False),
    ]


def test_an_overlapping_hand_made_interval_is_refused_naming_the_interval_it_overlaps(line):
    stop = _stopped(line)
    overlapping = StateInterval(machine=line.config.machine, start=at(500), end=at(550), state=SETUP)
    with pytest.raises(StopOverlapError) as refused:
        state_interval_save(overlapping)
    message = str(refused.value)
    assert f"#{stop.pk}" in message
    assert "unplanned down" in message
    assert at(60).isoformat() in message
    assert StateInterval.objects.filter(machine=line.config.machine).count() == 3


def test_who_may_classify_operators_of_their_area_only_engineers_everywhere(line, operator):
    stop = _stopped(line)
    area = line.config.machine.line.area
    other_area = LineFactory(area__site=area.site).area
    other_operator = UserFactory(username="op2", role=Role.OPERATOR)
    DowntimeArea.objects.create(area=other_area, user=other_operator)
    viewer = UserFactory(username="viewer", role=None)
    DowntimeArea.objects.create(area=area, user=viewer)  # an area grant without the permission gives nothing

    assert downtime_may_classify(user=operator, area_id=area.pk)
    assert not downtime_may_classify(user=operator, area_id=other_area.pk)
    assert not downtime_may_classify(user=other_operator, area_id=area.pk)
    assert not downtime_may_classify(user=viewer, area_id=area.pk)
    assert downtime_may_classify(user=UserFactory(role=Role.ENGINEER), area_id=other_area.pk)
    assert downtime_may_classify(user=UserFactory(superuser=True), area_id=area.pk)

    with pytest.raises(PermissionError):
        stop_comment(interval_id=stop.pk, comment="not my line", user=other_operator)
    with pytest.raises(PermissionError):
        stop_split(interval_id=stop.pk, at=at(300), user=viewer)
    stop.refresh_from_db()
    assert (stop.comment, stop.end) == ("", at(600))
    assert not AuditEvent.objects.filter(action__startswith="downtime_").exists()
