"""Alarms on string tags: bad quality only, through the string write path."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from alarms.models import Alarm
from alarms.services.evaluation import AlarmEvaluation
from historian.models import Tag
from historian.quality import Quality
from historian.sample_types import SampleRow, TextSampleRow
from historian.services.text_samples import text_samples_write_batch
from tests.samples import reading_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def program(program, no_demo_alarms) -> Tag:
    """The demo string tag (tests/conftest.py), without the demo plant's alarm definitions."""
    return program


def test_a_string_tags_bad_quality_alarm_follows_its_readings(ingest_context, define, device, program):
    comm = define(program, name="comm", kind="bad_quality")

    reading_store(ingest_context, device, program, T0, "PRG-1", Quality.GOOD)
    assert Alarm.objects.get(pk=comm.pk).state == "normal"
    reading_store(ingest_context, device, program, T0 + timedelta(seconds=1), None, Quality.BAD_DEVICE_FAILURE)
    assert Alarm.objects.get(pk=comm.pk).state == "unack_active"
    reading_store(ingest_context, device, program, T0 + timedelta(seconds=2), "PRG-1", Quality.GOOD)
    assert Alarm.objects.get(pk=comm.pk).state == "unack_rtn"


@pytest.mark.parametrize("kind", ["hi", "discrete_equals", "rate_of_change"])
def test_a_string_tag_refuses_alarms_on_its_value(define, program, kind):
    with pytest.raises(ValidationError, match="takes bad-quality alarms only"):
        define(program, kind=kind, limit=1)


def test_a_string_setpoint_or_suppression_tag_is_an_unknown_number_not_a_failed_evaluation(define, signals, program):
    speed = signals["spindle_speed"]
    dev = define(speed, kind="deviation", limit=100, setpoint_tag=program, suppress_tag=program, suppress_value=1)
    text_samples_write_batch(rows=[TextSampleRow(T0, program.pk, "PRG-1", Quality.GOOD)])

    AlarmEvaluation().strict(rows=[SampleRow(T0 + timedelta(seconds=1), speed.pk, 1350.0, Quality.GOOD)], now=T0)
    alarm = Alarm.objects.get(pk=dev.pk)
    assert (alarm.state, alarm.suppressed) == ("normal", False)
