"""Production configuration: what clean() refuses, with what message, and what the database refuses itself."""

import datetime
from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from historian.models import DataType
from production.models import (
    BigLoss,
    Break,
    DowntimeReason,
    FaultCode,
    MachineState,
    ProductCycleTime,
    ShiftCalendar,
    ShiftPattern,
    StateInterval,
)
from tests.factories import DeviceFactory, LineFactory, MachineFactory, SiteFactory, TagFactory
from tests.production.factories import (
    BreakFactory,
    DowntimeCategoryFactory,
    DowntimeReasonFactory,
    HolidayFactory,
    MachineProductionFactory,
    ProductFactory,
    ShiftCalendarFactory,
    ShiftPatternFactory,
)

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def messages(error: ValidationError) -> list[str]:
    return error.messages


def test_a_machine_needs_exactly_two_of_the_three_counters():
    config = MachineProductionFactory()
    config.good_tag = None

    with pytest.raises(ValidationError) as raised:
        config.full_clean()

    assert "Give exactly two of the three counters (total, good, reject), not 1" in messages(raised.value)[0]

    config.reject_tag = TagFactory(machine=config.machine, name="reject", data_type=DataType.UINT32)
    config.full_clean()  # total + reject: fine


def test_a_source_tag_of_another_machine_or_not_historized_is_refused():
    config = MachineProductionFactory()
    config.state_tag = TagFactory(machine=MachineFactory(), data_type=DataType.INT16, historize=False)

    with pytest.raises(ValidationError) as raised:
        config.full_clean()

    state_errors = raised.value.message_dict["state_tag"]
    assert any("belongs to another machine" in m for m in state_errors)
    assert any("is not historized" in m for m in state_errors)


def test_a_string_state_tag_is_refused_but_a_string_product_tag_is_fine():
    config = MachineProductionFactory()
    config.product_tag = TagFactory(machine=config.machine, data_type=DataType.STRING, address="HR900:10")
    config.full_clean()
    config.state_tag = TagFactory(machine=config.machine, data_type=DataType.STRING, address="HR950:10")

    with pytest.raises(ValidationError) as raised:
        config.full_clean()

    assert raised.value.message_dict["state_tag"] == [
        f"{config.state_tag.path} is a string tag; this one must be numeric."
    ]


def test_a_cycle_time_for_a_product_of_another_site_is_refused():
    config = MachineProductionFactory()
    elsewhere = ProductFactory(site=SiteFactory())

    with pytest.raises(ValidationError) as raised:
        ProductCycleTime(machine_production=config, product=elsewhere, ideal_cycle_seconds=20).full_clean()

    assert "is a product of another site than the machine's" in raised.value.message_dict["product"][0]


def test_a_cycle_time_must_be_positive_in_the_database_too():
    config = MachineProductionFactory()
    product = ProductFactory(site=config.machine.line.area.site)

    with pytest.raises(IntegrityError, match="cycle_time_positive"), transaction.atomic():
        ProductCycleTime.objects.create(machine_production=config, product=product, ideal_cycle_seconds=0)


def test_a_calendar_belongs_to_a_site_or_a_line_not_both():
    site = SiteFactory()
    line = LineFactory()

    with pytest.raises(ValidationError, match="Choose a site or a line"):
        ShiftCalendar(name="Both", site=site, line=line).full_clean()
    with pytest.raises(IntegrityError, match="shift_calendar_site_xor_line"), transaction.atomic():
        ShiftCalendar.objects.create(name="Neither")


def test_a_calendar_time_zone_is_an_iana_name_and_defaults_to_its_site():
    site = SiteFactory(timezone="Europe/Berlin")
    with pytest.raises(ValidationError, match="is not an IANA time zone name"):
        ShiftCalendar(name="Bad", site=site, timezone="Mars/Olympus").full_clean()
    assert ShiftCalendarFactory(site=site).time_zone == "Europe/Berlin"
    line_calendar = ShiftCalendarFactory(site=None, line=LineFactory(area__site=site), timezone="America/Chicago")
    assert line_calendar.time_zone == "America/Chicago"


@pytest.mark.parametrize("weekdays", [[], [7], [1, 1], "mon", [True]])
def test_shift_weekdays_are_day_numbers_monday_zero(weekdays):
    shift = ShiftPattern(
        calendar=ShiftCalendarFactory(), name="Early", start_time=datetime.time(6), duration_minutes=480
    )
    shift.weekdays = weekdays

    with pytest.raises(ValidationError) as raised:
        shift.full_clean()

    assert "0 = Monday ... 6 = Sunday" in raised.value.message_dict["weekdays"][0]


def test_three_8h_shifts_with_a_night_shift_across_midnight_are_valid():
    calendar = ShiftCalendarFactory()
    for name, start in (("Early", 6), ("Late", 14), ("Night", 22)):
        shift = ShiftPattern(
            calendar=calendar,
            name=name,
            start_time=datetime.time(start),
            duration_minutes=480,
            weekdays=[0, 1, 2, 3, 4],
        )
        shift.full_clean()
        shift.save()
    assert calendar.shifts.count() == 3


def test_a_sunday_night_shift_overlapping_monday_early_is_refused():
    calendar = ShiftCalendarFactory()
    ShiftPatternFactory(calendar=calendar, name="Early", start_time=datetime.time(6), weekdays=[0])
    night = ShiftPattern(
        calendar=calendar, name="Night", start_time=datetime.time(23), duration_minutes=480, weekdays=[6]
    )

    with pytest.raises(ValidationError, match="Night overlaps Early"):
        night.full_clean()

    night.duration_minutes = 420  # 23:00 -> 06:00 Monday: touches, does not overlap
    night.full_clean()


def test_a_break_must_lie_inside_its_shift_and_not_overlap_another():
    shift = ShiftPatternFactory(duration_minutes=480)
    BreakFactory(shift=shift, start_offset_minutes=240, duration_minutes=30)

    with pytest.raises(ValidationError, match="after the shift's end"):
        Break(shift=shift, start_offset_minutes=470, duration_minutes=15).full_clean()
    with pytest.raises(ValidationError, match="overlaps"):
        Break(shift=shift, start_offset_minutes=260, duration_minutes=15).full_clean()
    Break(shift=shift, start_offset_minutes=120, duration_minutes=15).full_clean()


def test_a_breakdown_is_never_a_planned_reason():
    category = DowntimeCategoryFactory()

    with pytest.raises(ValidationError, match="A breakdown is never planned"):
        DowntimeReason(category=category, name="Crash", planned=True, loss=BigLoss.BREAKDOWN).full_clean()
    DowntimeReason(category=category, name="Changeover", planned=True, loss=BigLoss.SETUP_ADJUSTMENT).full_clean()


def test_a_fault_code_maps_to_a_reason_of_its_tags_site():
    tag = TagFactory(data_type=DataType.INT16)
    reason = DowntimeReasonFactory(category__site=SiteFactory())

    with pytest.raises(ValidationError) as raised:
        FaultCode(tag=tag, value=17, reason=reason).full_clean()

    assert "is a reason of another site" in raised.value.message_dict["reason"][0]


# The exclusion constraint: on both backends (it needs btree_gist, which the migration creates).


@pytest.mark.timescale
def test_the_database_refuses_overlapping_intervals_of_one_machine():
    machine = MachineFactory()
    StateInterval.objects.create(machine=machine, start=T0, end=T0 + timedelta(hours=1), state=MachineState.RUNNING)

    with pytest.raises(IntegrityError, match="state_interval_no_overlap"), transaction.atomic():
        StateInterval.objects.create(
            machine=machine, start=T0 + timedelta(minutes=30), end=None, state=MachineState.UNPLANNED_DOWN
        )

    # Touching is not overlapping ([start, end) ranges), and another machine is another timeline.
    StateInterval.objects.create(machine=machine, start=T0 + timedelta(hours=1), state=MachineState.IDLE)
    StateInterval.objects.create(machine=MachineFactory(), start=T0, state=MachineState.RUNNING)
    assert StateInterval.objects.count() == 3


@pytest.mark.timescale
def test_an_overlapping_manual_entry_is_refused_with_a_clear_error():
    machine = MachineFactory()
    StateInterval.objects.create(machine=machine, start=T0, end=None, state=MachineState.RUNNING)
    entry = StateInterval(
        machine=machine, start=T0 - timedelta(minutes=10), end=T0 + timedelta(minutes=5), state=MachineState.SETUP
    )

    with pytest.raises(ValidationError) as raised:
        entry.full_clean()

    assert raised.value.messages == ["This interval overlaps another state interval of the same machine."]


@pytest.mark.timescale
def test_an_interval_that_ends_before_it_starts_is_refused():
    with pytest.raises(IntegrityError, match="state_interval_end_after_start"), transaction.atomic():
        StateInterval.objects.create(machine=MachineFactory(), start=T0, end=T0, state=MachineState.RUNNING)


def test_factories_make_a_valid_configuration():
    config = MachineProductionFactory()
    config.full_clean()
    assert dict(config.state_map.values_list("value", "state"))[6] == MachineState.UNPLANNED_DOWN
    assert config.state_tag.device_id == config.product_tag.device_id
    DeviceFactory()


# The models as the database-free modules take them (production.calendar, production.kpis).


def test_a_calendar_model_expands_through_the_calendar_module_night_shift_across_midnight():
    from production.calendar import calendar_shifts

    site = SiteFactory(timezone="Europe/Berlin")
    calendar = ShiftCalendarFactory(site=site)
    night = ShiftPatternFactory(calendar=calendar, name="Night", start_time=datetime.time(22), weekdays=[4])
    BreakFactory(shift=night, start_offset_minutes=240, duration_minutes=30, planned=True)
    HolidayFactory(calendar=calendar, date=datetime.date(2026, 3, 13))

    shifts = calendar_shifts(
        calendar.calendar(),
        start=datetime.datetime(2026, 3, 9, tzinfo=UTC),
        end=datetime.datetime(2026, 3, 23, tzinfo=UTC),
    )

    # Fridays 22:00 CET (21:00 UTC) to Saturday 06:00; Friday the 13th is a holiday.
    assert [(s.name, s.start, s.end) for s in shifts] == [
        ("Night", datetime.datetime(2026, 3, 20, 21, tzinfo=UTC), datetime.datetime(2026, 3, 21, 5, tzinfo=UTC))
    ]
    assert [(b.start, b.end, b.planned) for b in shifts[0].breaks] == [
        (datetime.datetime(2026, 3, 21, 1, tzinfo=UTC), datetime.datetime(2026, 3, 21, 1, 30, tzinfo=UTC), True)
    ]


def test_a_lines_own_calendar_overrides_its_sites():
    line = LineFactory()
    site_calendar = ShiftCalendarFactory(site=line.area.site)
    assert ShiftCalendar.for_line(line.pk) == site_calendar
    own = ShiftCalendarFactory(site=None, line=line)
    assert ShiftCalendar.for_line(line.pk) == own
    assert ShiftCalendar.for_line(LineFactory().pk) is None


def test_states_losses_reasons_and_intervals_match_the_kpi_module():
    from production import kpis

    assert set(MachineState.values) == {s.value for s in kpis.MachineState}
    assert set(BigLoss.values) == {loss.value for loss in kpis.Loss}
    reason = DowntimeReasonFactory(name="Jam", planned=False, loss=BigLoss.SMALL_STOP)
    product = ProductFactory(code="A-7")
    interval = StateInterval.objects.create(
        machine=MachineFactory(), start=T0, end=T0 + timedelta(minutes=1), state="idle", reason=reason, product=product
    )

    assert interval.as_kpi() == kpis.StateInterval(
        start=T0,
        end=T0 + timedelta(minutes=1),
        state=kpis.MachineState.IDLE,
        reason=kpis.Reason(name="Jam", planned=False, loss=kpis.Loss.SMALL_STOP),
        product="A-7",
    )
    assert MachineProductionFactory(micro_stop_seconds=90).thresholds() == kpis.Thresholds(
        micro_stop=timedelta(seconds=90), reason_required=timedelta(minutes=5)
    )
