"""Sparkplug B tag addresses are metric names."""

import pytest

from historian.addresses import InvalidTagAddress, validate_tag_address


@pytest.mark.parametrize("name", ["Speed", "Line 1/CNC101/Spindle speed", "Température °C"])
def test_metric_names_with_folders_spaces_and_unicode_are_valid(name):
    validate_tag_address(protocol="sparkplug", address=name, data_type="float64")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "metric name"),
        (" Speed", "spaces"),
        ("Speed\n", "spaces"),
        ("Spe\x00ed", "control characters"),
        ("x" * 201, "at most 200"),
        ("bdSeq", "control metric"),
        ("Node Control/Rebirth", "control metric"),
    ],
)
def test_unusable_metric_names_are_refused_with_the_reason(name, reason):
    with pytest.raises(InvalidTagAddress, match=reason):
        validate_tag_address(protocol="sparkplug", address=name, data_type="float64")


def test_an_unknown_data_type_is_refused():
    with pytest.raises(InvalidTagAddress, match="unknown data type"):
        validate_tag_address(protocol="sparkplug", address="Speed", data_type="text")
