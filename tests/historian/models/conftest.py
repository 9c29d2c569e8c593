"""Fixtures of the model tests: unsaved tags of the demo machine and device, for full_clean()."""

from collections.abc import Callable

import pytest

from historian.models import Tag


@pytest.fixture
def unsaved_tag(machine, device, scan_class) -> Callable[..., Tag]:
    """`unsaved_tag(**fields)`: a float32 holding-register tag of the demo machine and device, not saved; `fields`
    override its defaults."""

    def build(**overrides) -> Tag:
        fields = {
            "path": "Demo/x",
            "name": "x",
            "machine": machine,
            "device": device,
            "scan_class": scan_class,
            "address": "HR10",
            "data_type": "float32",
        }
        return Tag(**(fields | overrides))

    return build
