"""The demo plant's production configuration: what `production` computes the demo's OEE with is the simulator's own
definition (states, counters, products, ideal cycle times, shift calendar, fault codes); and the production layer,
fed by polls of the real simulator through the real driver, derives state intervals from it."""

import pytest

from demo.plant import SITE_NAME
from demo.production import demo_production_load
from demo.simulator.plant import PRODUCTION_STATES
from demo.simulator.production import DEMO_CALENDAR, FAULT_CODES, PRODUCTS
from historian.models import Machine, Site
from ingest.acquisition.poll import device_poll
from production.models import FaultCode, MachineProduction, ShiftCalendar, StateInterval
from tests.waiting import step_until


@pytest.fixture
def demo_production(demo_plant) -> Site:
    site = Site.objects.get(name=SITE_NAME)
    assert demo_production_load(site=site) == 2
    assert demo_production_load(site=site) == 2  # idempotent
    return site


def test_every_demo_machine_is_configured_from_the_simulators_definitions(demo_production):
    site = demo_production
    assert ShiftCalendar.objects.get(site=site).calendar() == DEMO_CALENDAR
    for machine in Machine.objects.filter(line__area__site=site):
        production = MachineProduction.objects.get(machine=machine)
        production.full_clean()
        assert production.state_tag.path.endswith(".state")
        assert (production.total_tag.path.rsplit(".", 1)[1], production.reject_tag.path.rsplit(".", 1)[1]) == (
            "produced_count",
            "reject_count",
        )
        assert production.good_tag is None
        assert production.product_tag.path.endswith(".product")
        assert {m.value: m.state for m in production.state_map.all()} == {
            int(code): str(state) for code, state in PRODUCTION_STATES.items()
        }
        assert {c.product.code: c.ideal_cycle_seconds for c in production.cycle_times.all()} == {
            str(p.code): p.ideal_cycle_time for p in PRODUCTS
        }
        faults = FaultCode.objects.filter(tag__machine=machine, tag__path__endswith=".alarm_code")
        assert {f.value: (f.reason.loss, f.reason.planned) for f in faults} == {
            code: (str(loss), False) for code, (_, loss) in FAULT_CODES.items()
        }


def test_polling_the_simulator_derives_state_intervals(demo_production, plant_server, polling, device, scan_class):
    machines = list(Machine.objects.filter(line__area__site=demo_production))

    def every_machine_has_intervals() -> bool:
        with_intervals = StateInterval.objects.filter(machine__in=machines).values("machine").distinct().count()
        return with_intervals == len(machines)

    step_until(
        lambda: device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk),
        every_machine_has_intervals,
        timeout=20,
        what="an interval per demo machine",
    )
    for machine in machines:
        current = StateInterval.objects.filter(machine=machine).latest("start")
        assert current.state in {str(state) for state in PRODUCTION_STATES.values()}
        assert current.product is not None
        assert current.product.code in {str(p.code) for p in PRODUCTS}
