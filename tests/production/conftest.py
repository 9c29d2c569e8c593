"""A machine configured for state intervals, and helpers to store its values through the real ingest path."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from historian.models import DataType, Tag
from historian.quality import Quality
from ingest.pipeline.context import IngestContext
from ingest.pipeline.store import readings_store
from ingest.protocols.base import PointReading
from production.models import MachineProduction, Product, StateInterval
from tests.factories import TagFactory
from tests.production.factories import DowntimeReasonFactory, FaultCodeFactory, MachineProductionFactory, ProductFactory

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Line:
    """One configured machine: its sources by name, two products, a fault code 17 meaning "Jam"."""

    config: MachineProduction
    fault: Tag
    p1: Product
    p2: Product
    context: IngestContext  # the writer of its values, as a poller's

    @property
    def tags(self) -> dict[str, Tag]:
        c = self.config
        return {"state": c.state_tag, "product": c.product_tag, "fault": self.fault, "good": c.good_tag}

    def store(self, seconds: float, **values: float) -> None:
        """Store `values` (by source name) read at T0 + `seconds`, as a poll does (ingest.pipeline.store)."""
        tags = {tag.pk: tag for tag in self.tags.values()}
        readings = [PointReading(self.tags[name].pk, float(v), Quality.GOOD) for name, v in values.items()]
        readings_store(
            context=self.context,
            device=self.config.state_tag.device,
            tags=tags,
            readings=readings,
            read_at=at(seconds),
        )

    def intervals(self) -> list[tuple]:
        """(start s, end s or None, state, product code, reason name, automatic) from T0, oldest first."""
        return [
            (
                (iv.start - T0).total_seconds(),
                (iv.end - T0).total_seconds() if iv.end else None,
                iv.state,
                iv.product.code if iv.product else None,
                iv.reason.name if iv.reason else None,
                iv.auto_classified,
            )
            for iv in StateInterval.objects.filter(machine=self.config.machine)
            .select_related("product", "reason")
            .order_by("start")
        ]


@pytest.fixture
def line(db, ingest_context) -> Line:
    config = MachineProductionFactory()
    site = config.machine.line.area.site
    fault = TagFactory(machine=config.machine, device=config.state_tag.device, name="fault", data_type=DataType.INT16)
    jam = DowntimeReasonFactory(category__site=site, name="Jam")
    FaultCodeFactory(tag=fault, value=17, reason=jam)
    return Line(
        config=config,
        fault=fault,
        p1=ProductFactory(site=site, code="1", name="Bracket"),
        p2=ProductFactory(site=site, code="2", name="Hinge"),
        context=ingest_context,
    )


@pytest.fixture
def night(line: Line) -> Line:
    """The engineered night shift of tests/production/engineered.py, stored."""
    from tests.production.engineered import night_store

    return night_store(line)
