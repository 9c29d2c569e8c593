"""The demo plant's production configuration (issue 13), from the simulator's own definitions
(`demo.simulator.production`), so that the plant and the configuration the OEE is computed with cannot disagree:
the products, the shift calendar, the downtime reasons with the fault codes that classify stops automatically, and
per machine its state tag and state mapping, its counters, its product tag and the ideal cycle times.
"""

from __future__ import annotations

from django.db import transaction

from demo.simulator.plant import PRODUCTION_STATES
from demo.simulator.production import (
    DEMO_BREAKS,
    DEMO_SHIFTS,
    DEMO_TIME_ZONE,
    FAULT_CODES,
    MICRO_STOP_SECONDS,
    PRODUCTS,
)
from historian.models import Machine, Site, Tag
from production.models import (
    Break,
    DowntimeCategory,
    DowntimeReason,
    FaultCode,
    MachineProduction,
    Product,
    ProductCycleTime,
    ShiftCalendar,
    ShiftPattern,
    StateMapping,
)

FAULTS_CATEGORY = "Machine faults"
CHANGEOVER_CATEGORY = "Changeovers"
CHANGEOVER_REASON = "Product changeover"


@transaction.atomic
def demo_production_load(*, site: Site) -> int:
    """Create or update the production configuration of `site`'s demo machines (idempotent); returns how many
    machines it configured (those with the production tags)."""
    products = {
        product.code: Product.objects.update_or_create(
            site=site, code=str(product.code), defaults={"name": product.name}
        )[0]
        for product in PRODUCTS
    }
    _calendar_load(site)
    faults, _ = DowntimeCategory.objects.get_or_create(site=site, name=FAULTS_CATEGORY)
    reasons = {
        code: DowntimeReason.objects.update_or_create(
            category=faults, name=f"{code} {text}", defaults={"planned": False, "loss": str(loss)}
        )[0]
        for code, (text, loss) in FAULT_CODES.items()
    }
    changeovers, _ = DowntimeCategory.objects.get_or_create(site=site, name=CHANGEOVER_CATEGORY)
    DowntimeReason.objects.update_or_create(
        category=changeovers, name=CHANGEOVER_REASON, defaults={"planned": False, "loss": "setup_adjustment"}
    )
    configured = 0
    for machine in Machine.objects.filter(line__area__site=site):
        tags = {tag.path.rsplit(".", 1)[-1]: tag for tag in Tag.objects.filter(machine=machine)}
        if not {"state", "produced_count", "reject_count", "product", "alarm_code"} <= set(tags):
            continue
        production, _ = MachineProduction.objects.update_or_create(
            machine=machine,
            defaults={
                "enabled": True,
                "state_tag": tags["state"],
                "total_tag": tags["produced_count"],
                "good_tag": None,
                "reject_tag": tags["reject_count"],
                "product_tag": tags["product"],
                "micro_stop_seconds": int(MICRO_STOP_SECONDS),
            },
        )
        production.full_clean()
        for state_code, state in PRODUCTION_STATES.items():
            StateMapping.objects.update_or_create(
                machine_production=production, value=int(state_code), defaults={"state": str(state)}
            )
        for product in PRODUCTS:
            ProductCycleTime.objects.update_or_create(
                machine_production=production,
                product=products[product.code],
                defaults={"ideal_cycle_seconds": product.ideal_cycle_time},
            )
        for code, reason in reasons.items():
            FaultCode.objects.update_or_create(tag=tags["alarm_code"], value=code, defaults={"reason": reason})
        configured += 1
    return configured


def _calendar_load(site: Site) -> ShiftCalendar:
    calendar, _ = ShiftCalendar.objects.update_or_create(
        site=site, defaults={"name": "Demo plant: three shifts", "timezone": DEMO_TIME_ZONE}
    )
    for pattern in DEMO_SHIFTS:
        shift, _ = ShiftPattern.objects.update_or_create(
            calendar=calendar,
            name=pattern.name,
            defaults={
                "start_time": pattern.start,
                "duration_minutes": pattern.duration_minutes,
                "weekdays": sorted(pattern.weekdays),
            },
        )
        Break.objects.filter(shift=shift).delete()
        for pause in DEMO_BREAKS:
            if pause.shift == pattern.name:
                Break.objects.create(
                    shift=shift,
                    name="Meal break" if pause.duration_minutes >= 30 else "Short break",
                    start_offset_minutes=pause.offset_minutes,
                    duration_minutes=pause.duration_minutes,
                    planned=pause.planned,
                )
    return calendar
