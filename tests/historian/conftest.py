"""Fixtures shared by the historian's storage and query tests."""

from collections.abc import Callable

import pytest

from historian.models import Tag
from tests.factories import DeviceFactory, MachineFactory, ScanClassFactory, TagFactory


@pytest.fixture
def make_tag(db) -> Callable[..., Tag]:
    """`make_tag(**fields)`: tags t0, t1, ... of one machine (Site/Area/Line/Machine), one device, one scan class."""
    machine = MachineFactory(name="Machine", line__name="Line", line__area__name="Area", line__area__site__name="Site")
    device = DeviceFactory(name="PLC")
    scan_class = ScanClassFactory(name="1 s", period_ms=1000)
    made = []

    def make(**fields) -> Tag:
        n = len(made)
        fields.setdefault("address", f"HR{2 * n}")
        tag = TagFactory(name=f"t{n}", machine=machine, device=device, scan_class=scan_class, **fields)
        made.append(tag)
        return tag

    return make
