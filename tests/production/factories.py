"""Test data for production: a machine configured for state intervals, products, reasons, calendars.

`MachineProductionFactory()` makes a machine with a state tag, two counters and a product tag (int16, on one
device), and the state mapping of PACKML_CODES; a test sets only what its behaviour depends on.
"""

import datetime

import factory
from factory.django import DjangoModelFactory

from historian.models import DataType
from production.models import (
    BigLoss,
    Break,
    DowntimeCategory,
    DowntimeReason,
    FaultCode,
    Holiday,
    MachineProduction,
    MachineState,
    Product,
    ProductCycleTime,
    ShiftCalendar,
    ShiftPattern,
    StateMapping,
)
from tests.factories import DeviceFactory, MachineFactory, SiteFactory, TagFactory

#: The state tag's values in the configurations the factory makes.
PACKML_CODES = {
    1: MachineState.RUNNING,
    2: MachineState.IDLE,
    3: MachineState.BLOCKED,
    4: MachineState.SETUP,
    5: MachineState.PLANNED_STOP,
    6: MachineState.UNPLANNED_DOWN,
    7: MachineState.OFF,
}


def _tag(o, name: str, data_type: str = DataType.INT16):
    return TagFactory(machine=o.machine, device=o.device, name=name, data_type=data_type)


class MachineProductionFactory(DjangoModelFactory):
    class Meta:
        model = MachineProduction
        exclude = ("device",)
        skip_postgeneration_save = True

    machine = factory.SubFactory(MachineFactory)
    device = factory.SubFactory(DeviceFactory)
    state_tag = factory.LazyAttribute(lambda o: _tag(o, "state"))
    total_tag = factory.LazyAttribute(lambda o: _tag(o, "total", DataType.UINT32))
    good_tag = factory.LazyAttribute(lambda o: _tag(o, "good", DataType.UINT32))
    product_tag = factory.LazyAttribute(lambda o: _tag(o, "product"))

    @factory.post_generation
    def codes(self, create: bool, extracted: dict | None, **kwargs) -> None:
        """`codes={1: MachineState.RUNNING, ...}`: the state mapping (default PACKML_CODES)."""
        if create:
            StateMapping.objects.bulk_create(
                StateMapping(machine_production=self, value=value, state=state)
                for value, state in (extracted if extracted is not None else PACKML_CODES).items()
            )


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    site = factory.SubFactory(SiteFactory)
    code = factory.Sequence(lambda n: str(n + 1))
    name = factory.Sequence(lambda n: f"Product {n}")


class ProductCycleTimeFactory(DjangoModelFactory):
    class Meta:
        model = ProductCycleTime

    machine_production = factory.SubFactory(MachineProductionFactory)
    product = factory.SubFactory(
        ProductFactory, site=factory.SelfAttribute("..machine_production.machine.line.area.site")
    )
    ideal_cycle_seconds = 30.0


class DowntimeCategoryFactory(DjangoModelFactory):
    class Meta:
        model = DowntimeCategory

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Category {n}")


class DowntimeReasonFactory(DjangoModelFactory):
    class Meta:
        model = DowntimeReason

    category = factory.SubFactory(DowntimeCategoryFactory)
    name = factory.Sequence(lambda n: f"Reason {n}")
    planned = False
    loss = BigLoss.BREAKDOWN


class FaultCodeFactory(DjangoModelFactory):
    class Meta:
        model = FaultCode

    tag = factory.SubFactory(TagFactory, data_type=DataType.INT16)
    value = factory.Sequence(lambda n: n + 1)
    reason = factory.SubFactory(
        DowntimeReasonFactory, category__site=factory.SelfAttribute("...tag.machine.line.area.site")
    )


class ShiftCalendarFactory(DjangoModelFactory):
    class Meta:
        model = ShiftCalendar

    name = factory.Sequence(lambda n: f"Calendar {n}")
    site = factory.SubFactory(SiteFactory)


class ShiftPatternFactory(DjangoModelFactory):
    class Meta:
        model = ShiftPattern

    calendar = factory.SubFactory(ShiftCalendarFactory)
    name = factory.Sequence(lambda n: f"Shift {n}")
    start_time = datetime.time(6, 0)
    duration_minutes = 480
    weekdays = factory.LazyFunction(lambda: [0, 1, 2, 3, 4])


class BreakFactory(DjangoModelFactory):
    class Meta:
        model = Break

    shift = factory.SubFactory(ShiftPatternFactory)
    start_offset_minutes = 240
    duration_minutes = 30


class HolidayFactory(DjangoModelFactory):
    class Meta:
        model = Holiday

    calendar = factory.SubFactory(ShiftCalendarFactory)
    date = datetime.date(2026, 12, 25)
    name = "Christmas Day"
