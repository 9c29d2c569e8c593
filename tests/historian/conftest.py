"""Fixtures shared by the historian's storage and query tests."""

from collections.abc import Callable

import pytest

from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag


@pytest.fixture
def make_tag(db) -> Callable[..., Tag]:
    site = Site.objects.create(name="Site")
    area = Area.objects.create(site=site, name="Area")
    line = Line.objects.create(area=area, name="Line")
    machine = Machine.objects.create(line=line, name="Machine")
    device = Device.objects.create(name="PLC", host="127.0.0.1")
    scan_class = ScanClass.objects.create(name="1 s", period_ms=1000)
    made = []

    def make(**fields) -> Tag:
        n = len(made)
        fields.setdefault("address", f"HR{2 * n}")
        tag = Tag.objects.create(
            path=f"Site/Area/Line/Machine.t{n}",
            name=f"t{n}",
            machine=machine,
            device=device,
            scan_class=scan_class,
            **fields,
        )
        made.append(tag)
        return tag

    return make
