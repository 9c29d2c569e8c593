import pytest
from django.core.exceptions import ValidationError

from historian.models import Device, Protocol, Tag
from historian.queries.time_zone import plant_time_zone


def test_a_valid_modbus_tag_passes(unsaved_tag):
    unsaved_tag().full_clean()


@pytest.mark.parametrize(
    ("address", "data_type", "reason"),
    [
        ("HR70000", "uint16", "out of range"),
        ("CO3", "float32", "coil"),
        ("HR100.16", "bool", "bit"),
        ("XY12", "int16", "not a Modbus address"),
    ],
)
def test_an_invalid_address_is_rejected_with_the_reason(address, data_type, reason, unsaved_tag):
    tag = unsaved_tag(address=address, data_type=data_type)
    with pytest.raises(ValidationError) as excinfo:
        tag.full_clean()
    assert reason in " ".join(excinfo.value.message_dict["address"])


def test_a_range_upside_down_is_rejected(unsaved_tag):
    with pytest.raises(ValidationError, match="upper end"):
        unsaved_tag(span_low=10, span_high=5).full_clean()


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
            "value_labels": "",
            "deadband": 0,
            "historize": "on",
        },
    )
    assert response.status_code == 200
    assert "out of range" in response.content.decode()
    assert not Tag.objects.filter(path="Demo/new").exists()


def test_admin_tag_list_shows_the_tags(admin_client, machine_tags, django_assert_max_num_queries):
    plant_time_zone()  # the fixture's site was just saved: its zone is read once, then kept in memory
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/historian/tag/")
    assert response.status_code == 200
    assert machine_tags[0].path in response.content.decode()


def test_a_tag_may_override_its_devices_word_and_byte_order(unsaved_tag):
    unsaved_tag(word_order="little", byte_order="little").full_clean()
    unsaved_tag(data_type="int16", byte_order="little").full_clean()  # bytes of one register
    unsaved_tag(address="HR10:4", data_type="string", byte_order="little").full_clean()


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"data_type": "int16", "word_order": "little"}, "word_order", "not to int16: leave it empty"),
        ({"data_type": "string", "address": "HR10:4", "word_order": "big"}, "word_order", "not to string"),
        ({"data_type": "bool", "address": "HR10.3", "byte_order": "little"}, "byte_order", "does not apply to a bool"),
        ({"data_type": "bool", "address": "CO3", "word_order": "little"}, "word_order", "not to bool"),
        ({"word_order": "middle"}, "word_order", "not a valid choice"),
    ],
)
def test_an_order_that_cannot_apply_is_refused_with_the_reason(overrides, field, reason, unsaved_tag):
    with pytest.raises(ValidationError) as excinfo:
        unsaved_tag(**overrides).full_clean()
    assert reason in " ".join(excinfo.value.message_dict[field])


def test_an_order_on_a_tag_of_an_opc_ua_device_is_refused(unsaved_tag):
    server = Device.objects.create(name="OPC UA server", protocol=Protocol.OPCUA, host="127.0.0.1", port=4840)
    tag = unsaved_tag(device=server, address="ns=2;i=7", word_order="little", byte_order="big")
    with pytest.raises(ValidationError) as excinfo:
        tag.full_clean()
    assert set(excinfo.value.message_dict) == {"word_order", "byte_order"}
    [reason] = excinfo.value.message_dict["word_order"]
    assert reason == (
        "Word order applies to Modbus registers only, not to the OPC UA device OPC UA server: leave it empty."
    )


def _admin_form(machine, device, scan_class, **fields) -> dict:
    return {
        "path": "Demo/new",
        "name": "new",
        "machine": machine.pk,
        "device": device.pk,
        "scan_class": scan_class.pk,
        "address": "HR10",
        "data_type": "float32",
        "word_order": "",
        "byte_order": "",
        "units": "",
        "scale": 1,
        "offset": 0,
        "span_low": 0,
        "span_high": 100,
        "value_labels": "",
        "deadband": 0,
        "deviation_unit": "absolute",
        "compression_deviation": 0,
        "max_store_interval_seconds": 0,
        "stale_after_seconds": 0,
        "historize": "on",
    } | fields


def test_the_admin_sets_a_tags_word_order_and_refuses_one_that_cannot_apply(admin_client, machine, device, scan_class):
    response = admin_client.post(
        "/admin/historian/tag/add/", _admin_form(machine, device, scan_class, data_type="uint16", word_order="little")
    )
    assert response.status_code == 200
    assert "not to uint16: leave it empty" in response.content.decode()
    assert not Tag.objects.filter(path="Demo/new").exists()

    response = admin_client.post(
        "/admin/historian/tag/add/", _admin_form(machine, device, scan_class, word_order="little")
    )
    assert response.status_code == 302
    tag = Tag.objects.get(path="Demo/new")
    assert (tag.word_order, tag.byte_order) == ("little", "")
