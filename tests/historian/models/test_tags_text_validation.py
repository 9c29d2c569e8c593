"""String tags: numeric settings are refused, not silently ignored."""

import pytest
from django.core.exceptions import ValidationError


@pytest.fixture
def string_tag(unsaved_tag):
    """`string_tag(**fields)`: an unsaved string tag of 8 registers."""
    return lambda **overrides: unsaved_tag(
        **({"path": "Demo/program", "name": "program", "address": "HR300:8", "data_type": "string"} | overrides)
    )


def test_a_valid_string_tag_passes(string_tag):
    tag = string_tag()
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
def test_numeric_settings_on_a_string_tag_are_refused_with_the_reason(field, value, reason, string_tag):
    with pytest.raises(ValidationError) as excinfo:
        string_tag(**{field: value}).full_clean()
    assert reason in " ".join(excinfo.value.message_dict[field])


def test_a_string_tag_on_coils_is_refused(string_tag):
    with pytest.raises(ValidationError) as excinfo:
        string_tag(address="CO3:2").full_clean()
    assert "coils hold single bits" in " ".join(excinfo.value.message_dict["address"])
