"""String tags: numeric settings are refused, not silently ignored."""

import pytest
from django.core.exceptions import ValidationError

from historian.models import Tag


def _tag(machine, device, scan_class, **overrides) -> Tag:
    fields = {
        "path": "Demo/program",
        "name": "program",
        "machine": machine,
        "device": device,
        "scan_class": scan_class,
        "address": "HR300:8",
        "data_type": "string",
    }
    return Tag(**(fields | overrides))


def test_a_valid_string_tag_passes(machine, device, scan_class):
    tag = _tag(machine, device, scan_class)
    tag.full_clean()
    assert tag.is_text


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("scale", 0.1, "Scale does not apply to a string tag"),
        ("offset", 5.0, "Offset does not apply to a string tag"),
        ("deadband", 1.0, "deadband does not apply to a string tag"),
        ("compression_deviation", 0.5, "Compression does not apply to a string tag"),
        ("counter_rollover", 65536.0, "counter rollover does not apply to a string tag"),
    ],
)
def test_numeric_settings_on_a_string_tag_are_refused_with_the_reason(
    machine, device, scan_class, field, value, reason
):
    with pytest.raises(ValidationError) as excinfo:
        _tag(machine, device, scan_class, **{field: value}).full_clean()
    assert reason in " ".join(excinfo.value.message_dict[field])


def test_a_string_tag_on_coils_is_refused(machine, device, scan_class):
    with pytest.raises(ValidationError) as excinfo:
        _tag(machine, device, scan_class, address="CO3:2").full_clean()
    assert "coils hold single bits" in " ".join(excinfo.value.message_dict["address"])
