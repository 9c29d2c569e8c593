import pytest
from django.core.exceptions import ValidationError

from historian.models import Tag


def _tag(machine, device, scan_class, **overrides) -> Tag:
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


def test_a_valid_modbus_tag_passes(machine, device, scan_class):
    _tag(machine, device, scan_class).full_clean()


@pytest.mark.parametrize(
    ("address", "data_type", "reason"),
    [
        ("HR70000", "uint16", "out of range"),
        ("CO3", "float32", "coil"),
        ("HR100.16", "bool", "bit"),
        ("XY12", "int16", "not a Modbus address"),
    ],
)
def test_an_invalid_address_is_rejected_with_the_reason(machine, device, scan_class, address, data_type, reason):
    tag = _tag(machine, device, scan_class, address=address, data_type=data_type)
    with pytest.raises(ValidationError) as excinfo:
        tag.full_clean()
    assert reason in " ".join(excinfo.value.message_dict["address"])


def test_a_range_upside_down_is_rejected(machine, device, scan_class):
    with pytest.raises(ValidationError, match="upper end"):
        _tag(machine, device, scan_class, span_low=10, span_high=5).full_clean()


def test_admin_refuses_an_invalid_address_and_says_why(admin_client, machine, device, scan_class):
    response = admin_client.post(
        "/admin/historian/tag/add/",
        {
            "path": "Demo/new",
            "name": "new",
            "machine": machine.pk,
            "device": device.pk,
            "scan_class": scan_class.pk,
            "address": "HR99999",
            "data_type": "uint16",
            "units": "",
            "scale": 1,
            "offset": 0,
            "span_low": 0,
            "span_high": 100,
            "value_labels": "{}",
            "deadband": 0,
            "historize": "on",
        },
    )
    assert response.status_code == 200
    assert "out of range" in response.content.decode()
    assert not Tag.objects.filter(path="Demo/new").exists()


def test_admin_tag_list_shows_the_tags(admin_client, machine_tags, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/historian/tag/")
    assert response.status_code == 200
    assert machine_tags[0].path in response.content.decode()
