"""Evaluation at ingest against the real database: batches of samples in, alarm states and journal entries out."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from alarms.models import Alarm, AlarmDefinition, JournalEntry
from alarms.services import evaluation
from alarms.services.evaluation import AlarmEvaluation
from alarms.services.live import ALARMS_GROUP
from historian.models import Device, Tag
from historian.quality import Quality
from historian.queries.history import current_values
from historian.sample_types import SampleRow
from historian.services.samples import current_values_write
from ingest.acquisition.poll import device_poll
from tests.waiting import wait_until

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def batch(t: float, *pairs, quality: int = Quality.GOOD) -> list[SampleRow]:
    return [SampleRow(at(t), tag.pk, value, quality) for tag, value in pairs]


def state_of(definition: AlarmDefinition) -> str:
    return Alarm.objects.get(pk=definition.pk).state


def journal(definition: AlarmDefinition) -> list[tuple]:
    return list(
        JournalEntry.objects.filter(alarm_id=definition.pk)
        .order_by("time", "id")
        .values_list("event", "previous_state", "state", "value")
    )


@pytest.fixture
def evaluator() -> AlarmEvaluation:
    """This test's evaluation: its own definitions in memory and rate memory, as one writer of values has."""
    return AlarmEvaluation()


def test_a_value_past_its_limit_raises_the_alarm_and_journals_it(evaluator, define, signals):
    temp = signals["motor_temperature"]
    hi = define(temp, kind="hi", limit=85, message="{machine} motor {value} {units} over {limit} {units}")

    events = evaluator.strict(rows=batch(0, (temp, 86.25)), now=at(0))

    alarm = Alarm.objects.get(pk=hi.pk)
    assert alarm.state == "unack_active"
    assert alarm.active_since == at(0)
    assert alarm.message == "CNC 101 motor 86.25 °C over 85 °C"
    assert [(e.event, e.after, e.annunciated) for e in events] == [("activate", "unack_active", True)]
    assert journal(hi) == [("activate", "normal", "unack_active", 86.25)]
    entry = JournalEntry.objects.get(alarm_id=hi.pk)
    assert (entry.tag_path, entry.priority, entry.machine_id) == (temp.path, "high", temp.machine_id)


def test_a_normal_batch_writes_nothing_and_a_repeat_changes_nothing(evaluator, define, signals):
    temp = signals["motor_temperature"]
    hi = define(temp, kind="hi", limit=85)

    assert evaluator.strict(rows=batch(0, (temp, 40.0)), now=at(0)) == []
    evaluator.strict(rows=batch(1, (temp, 90.0)), now=at(1))
    assert evaluator.strict(rows=batch(2, (temp, 91.0)), now=at(2)) == []

    assert journal(hi) == [("activate", "normal", "unack_active", 90.0)]


def test_a_batch_without_alarmed_tags_costs_no_query(evaluator, define, signals, django_assert_num_queries):
    define(signals["motor_temperature"], kind="hi", limit=85)
    evaluator.strict(rows=batch(0, (signals["motor_temperature"], 40.0)), now=at(0))  # warm the cache

    with django_assert_num_queries(0):
        assert evaluator.strict(rows=batch(1, (signals["feed_rate"], 1.0), (signals["power"], 2.0)), now=at(1)) == []


@pytest.mark.serial
def test_a_quiet_batch_of_many_alarms_costs_one_query(evaluator, define, signals, django_assert_num_queries):
    names = ["motor_temperature", "bearing_temperature", "coolant_temperature", "vibration_rms", "power"]
    for name in names:
        define(signals[name], kind="hi", limit=1e6)
    rows = batch(0, *[(signals[name], 1.0) for name in names])
    evaluator.strict(rows=rows, now=at(0))

    with django_assert_num_queries(1):  # one read; nothing changes, so no transaction and no lock
        evaluator.strict(rows=batch(1, *[(signals[name], 2.0) for name in names]), now=at(1))


def test_deviation_takes_the_setpoint_from_the_batch_or_else_from_current_values(evaluator, define, signals):
    speed, setpoint = signals["spindle_speed"], signals["speed_setpoint"]
    dev = define(speed, kind="deviation", limit=100, setpoint_tag=setpoint, message="{value} vs {setpoint}")

    evaluator.strict(rows=batch(0, (speed, 1500.0), (setpoint, 1500.0)), now=at(0))
    assert state_of(dev) == "normal"
    evaluator.strict(rows=batch(1, (speed, 1350.0), (setpoint, 1500.0)), now=at(1))
    assert state_of(dev) == "unack_active"
    assert Alarm.objects.get(pk=dev.pk).message == "1350 vs 1500"

    current_values_write(rows=batch(2, (setpoint, 1300.0)))
    evaluator.strict(rows=batch(2, (speed, 1350.0)), now=at(2))
    assert state_of(dev) == "unack_rtn"


def test_an_alarm_is_suppressed_while_the_machine_is_not_running(evaluator, define, signals):
    speed, setpoint, state = signals["spindle_speed"], signals["speed_setpoint"], signals["state"]
    dev = define(
        speed, kind="deviation", limit=100, setpoint_tag=setpoint, suppress_tag=state, suppress_when="ne",
        suppress_value=1,
    )  # fmt: skip

    evaluator.strict(rows=batch(0, (speed, 0.0), (setpoint, 1500.0), (state, 0)), now=at(0))
    alarm = Alarm.objects.get(pk=dev.pk)
    assert (alarm.state, alarm.suppressed, alarm.condition) == ("normal", True, False)

    evaluator.strict(rows=batch(1, (speed, 1200.0), (setpoint, 1500.0), (state, 1)), now=at(1))
    assert state_of(dev) == "unack_active"
    assert [e[0] for e in journal(dev)] == ["suppress", "unsuppress", "activate"]


def test_a_rate_of_change_alarm_needs_two_good_values(evaluator, define, signals):
    coolant = signals["coolant_temperature"]
    roc = define(coolant, kind="rate_of_change", limit=6)  # degrees per minute

    evaluator.strict(rows=batch(0, (coolant, 20.0)), now=at(0))
    evaluator.strict(rows=batch(10, (coolant, 20.5)), now=at(10))  # 3 per minute
    assert state_of(roc) == "normal"
    evaluator.strict(rows=batch(20, (coolant, 22.0)), now=at(20))  # 9 per minute
    assert state_of(roc) == "unack_active"


def test_bad_quality_raises_the_bad_quality_alarm_only(evaluator, define, signals):
    temp = signals["motor_temperature"]
    bad = define(temp, name="comm", kind="bad_quality")
    hi = define(temp, name="hot", kind="hi", limit=85)

    evaluator.strict(rows=batch(0, (temp, None), quality=Quality.BAD_COMM_FAILURE), now=at(0))

    assert state_of(bad) == "unack_active"
    assert state_of(hi) == "normal"


def test_a_changed_definition_applies_from_the_next_batch(evaluator, define, signals):
    temp = signals["motor_temperature"]
    hi = define(temp, kind="hi", limit=85)
    evaluator.strict(rows=batch(0, (temp, 80.0)), now=at(0))

    hi.limit = 75
    hi.save()
    evaluator.strict(rows=batch(1, (temp, 80.0)), now=at(1))
    assert state_of(hi) == "unack_active"

    hi.enabled = False
    hi.save()
    assert evaluator.strict(rows=batch(2, (temp, 10.0)), now=at(2)) == []


def test_changes_are_pushed_to_the_alarm_group_after_commit(
    evaluator, define, signals, django_capture_on_commit_callbacks
):
    temp = signals["motor_temperature"]
    hi = define(temp, kind="hihi", limit=92, priority="critical")
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(ALARMS_GROUP, channel)

    with django_capture_on_commit_callbacks(execute=True):
        evaluator.strict(rows=batch(0, (temp, 93.0)), now=at(0))
    message = async_to_sync(layer.receive)(channel)

    assert message["type"] == "alarms.changed"
    assert message["new"] == [hi.pk]
    assert [(a["id"], a["state"], a["priority"]) for a in message["alarms"]] == [(hi.pk, "unack_active", "critical")]
    assert message["counts"]["unacknowledged"]["critical"] == 1


def test_evaluation_on_the_hot_path_never_raises(evaluator, define, signals, monkeypatch):
    temp = signals["motor_temperature"]
    define(temp, kind="hi", limit=85)

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluation, "journal_write", broken)
    assert evaluator(rows=batch(0, (temp, 99.0)), now=at(0)) == []
    assert not Alarm.objects.filter(state="unack_active").exists()  # rolled back with the journal


# -- through the poll pipeline, with the demo plant's own definitions --------------------------------------------


def test_a_simulated_value_past_a_limit_raises_its_alarm_within_the_same_poll(
    polling, device, scan_class, plant_server
):
    hihi = AlarmDefinition.objects.get(tag__path__endswith="CNC 101.motor_temperature", kind="hihi")
    plant_server.plant.machine(0, 0).motor_temp = 93.5  # below the 95 degree trip, above HiHi 92

    def polled_hot() -> bool:
        """Poll; whether the poll read the hot value (the server publishes the plant's registers every tick)."""
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
        if current_values(tag_ids=[hihi.tag_id])[hihi.tag_id].value > 92:
            return True
        assert Alarm.objects.get(pk=hihi.pk).state == "normal"
        return False

    wait_until(polled_hot, timeout=10, what="a poll to read the hot value", interval=0.1)

    alarm = Alarm.objects.get(pk=hihi.pk)
    assert alarm.state == "unack_active"
    assert alarm.value > 92
    assert "CNC 101 motor temperature" in alarm.message
    assert JournalEntry.objects.filter(alarm_id=hihi.pk, event="activate").count() == 1


def test_a_device_that_goes_unreachable_raises_the_communication_alarms(polling, demo_plant, device, scan_class):
    from common.net import free_port

    Device.objects.filter(pk=device.pk).update(port=free_port())  # nobody listens there
    comm = AlarmDefinition.objects.filter(kind="bad_quality", tag__device=device)
    assert comm.count() == 2

    outcome = device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    assert outcome.status == "unreachable"
    assert set(Alarm.objects.filter(pk__in=comm).values_list("state", flat=True)) == {"unack_active"}


def test_the_demo_loader_stays_idempotent_with_alarms(demo_plant, plant_server):
    from demo.plant import demo_plant_load

    before = AlarmDefinition.objects.count()
    demo_plant_load(host=plant_server.host, port=plant_server.port, lines=1, machines_per_line=2)
    assert AlarmDefinition.objects.count() == before == 16
    assert Tag.objects.filter(alarm_definitions__isnull=False).distinct().count() == 14
