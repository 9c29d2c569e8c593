"""The admin side of Sparkplug B discovery: discovered devices to review, metrics to store as tags."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from historian.models import Device, DiscoveredMetric, Protocol, Tag
from tests.factories import DeviceFactory, ScanClassFactory


@pytest.fixture
def discovered(db) -> Device:
    device = DeviceFactory(
        name="Plant1/Gateway1",
        protocol=Protocol.SPARKPLUG,
        port=1883,
        sparkplug_group_id="Plant1",
        sparkplug_edge_node_id="Gateway1",
        enabled=False,
        discovered=True,
    )
    now = timezone.now()
    for name, sparkplug_type, data_type in (("Speed", "Double", "float64"), ("Label", "String", "")):
        DiscoveredMetric.objects.create(
            device=device, name=name, sparkplug_type=sparkplug_type, data_type=data_type, last_birth_at=now
        )
    return device


def test_the_device_list_filters_discovered_devices(admin_client, discovered):
    DeviceFactory(name="Configured PLC", host="10.0.0.5")

    page = admin_client.get(reverse("admin:historian_device_changelist"), {"discovered__exact": "1"}).content.decode()

    assert "Plant1/Gateway1" in page
    assert "Configured PLC" not in page


def test_storing_discovered_metrics_creates_tags_and_enables_the_device(admin_client, discovered, cnc):
    scan_class = ScanClassFactory(name="Pushed", period_ms=1000)
    metrics = list(DiscoveredMetric.objects.filter(device=discovered).values_list("pk", flat=True))
    url = reverse("admin:historian_discoveredmetric_changelist")

    form = admin_client.post(url, {"action": "create_tags", "_selected_action": metrics})
    assert form.status_code == 200
    assert "Create tags" in form.content.decode()
    response = admin_client.post(
        url,
        {
            "action": "create_tags",
            "_selected_action": metrics,
            "apply": "1",
            "machine": cnc.pk,
            "scan_class": scan_class.pk,
        },
        follow=True,
    )

    assert response.status_code == 200
    tag = Tag.objects.get()
    assert (tag.address, tag.data_type, tag.device_id, tag.path) == (
        "Speed",
        "float64",
        discovered.pk,
        "Plant/Machining/Line 1/CNC 101.Speed",
    )
    assert "Plant1/Gateway1: Label: a String is not a number" in response.content.decode()
    discovered.refresh_from_db()
    assert (discovered.enabled, discovered.discovered) == (True, False)
    assert DiscoveredMetric.objects.get(name="Speed").tag == tag


def test_metrics_not_stored_yet_can_be_listed(admin_client, discovered):
    page = admin_client.get(reverse("admin:historian_discoveredmetric_changelist"), {"tag__isempty": "1"})
    assert page.status_code == 200
    assert "Speed" in page.content.decode()


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"sparkplug_group_id": "Plant/1", "sparkplug_edge_node_id": "E"}, "sparkplug_group_id"),
        ({"sparkplug_group_id": "G", "sparkplug_edge_node_id": "E+"}, "sparkplug_edge_node_id"),
        ({"sparkplug_edge_node_id": "E"}, "sparkplug_group_id"),
        ({"sparkplug_group_id": "G", "sparkplug_device_id": "D"}, "sparkplug_edge_node_id"),
    ],
)
def test_sparkplug_ids_that_cannot_be_topic_levels_are_refused(db, fields, error_field):
    device = Device(name="Broker", protocol=Protocol.SPARKPLUG, host="broker", port=1883, **fields)
    with pytest.raises(ValidationError) as exc:
        device.full_clean()
    assert error_field in exc.value.message_dict
