"""Taking a device out of service and back, against the demo plant on a real Modbus TCP simulator."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from audit.models import AuditAction, AuditEvent
from historian.models import Device, DeviceStatus, Tag
from historian.quality import Quality
from historian.queries.history import current_values
from historian.services.live import DEVICES_LIVE_GROUP, machine_live_group
from ingest.acquisition.config_token import acquisition_config_version
from ingest.acquisition.poll import device_poll
from ingest.pipeline.device_status import device_record_failure, device_record_success
from ingest.services.devices import device_enabled_set
from tests.samples import stored_samples


@pytest.fixture
def tag_ids(device) -> list[int]:
    return list(Tag.objects.filter(device=device).order_by("pk").values_list("pk", flat=True))


def test_taking_a_device_out_of_service_stores_one_sample_per_tag_after_the_pending_candidate(
    polling, ingest_context, device, scan_class, tag_ids, make_user
):
    speed = Tag.objects.get(path__endswith="CNC 101.spindle_speed")
    Tag.objects.filter(pk=speed.pk).update(compression_deviation=1e9)  # every value fits the first segment
    for _ in range(3):
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    held = current_values(tag_ids=[speed.pk])[speed.pk]  # the third poll's value: held, not stored yet
    assert [row[1] for row in stored_samples([speed.pk])] != [held.time]
    before = len(stored_samples(tag_ids))

    outcome = device_enabled_set(device=device, enabled=False, user=make_user("maintenance"), context=ingest_context)

    rows = stored_samples(tag_ids)
    out_of_service = [row for row in rows if row[3] == Quality.BAD_OUT_OF_SERVICE]
    assert sorted(row[0] for row in out_of_service) == tag_ids  # exactly one per tag
    assert all(row[2] is None for row in out_of_service)
    assert len(rows) == before + len(tag_ids) + 1 == before + outcome.stored
    speed_rows = [row for row in rows if row[0] == speed.pk]
    assert speed_rows[-2][1:] == (held.time, held.value, Quality.GOOD)  # the segment's real end, then out of service
    assert speed_rows[-1][3] == Quality.BAD_OUT_OF_SERVICE
    assert {cv.quality for cv in current_values(tag_ids=tag_ids).values()} == {Quality.BAD_OUT_OF_SERVICE}
    device.refresh_from_db()
    assert (device.enabled, device.status, device.next_retry_at) == (False, DeviceStatus.DISABLED, None)
    event = AuditEvent.objects.get(action=AuditAction.DEVICE_OUT_OF_SERVICE)
    assert (event.actor_username, event.target) == ("maintenance", device.name)


def test_the_pages_are_told_at_once(device, machine):
    layer = get_channel_layer()
    machine_channel, devices_channel = (async_to_sync(layer.new_channel)() for _ in range(2))
    async_to_sync(layer.group_add)(machine_live_group(machine.pk), machine_channel)
    async_to_sync(layer.group_add)(DEVICES_LIVE_GROUP, devices_channel)

    device_enabled_set(device=device, enabled=False, user=None)

    samples = async_to_sync(layer.receive)(machine_channel)
    assert samples["type"] == "samples.batch"
    assert {row[0] for row in samples["samples"]} == set(machine.tags.values_list("pk", flat=True))
    assert {row[-1] for row in samples["samples"]} == {Quality.BAD_OUT_OF_SERVICE}
    status = async_to_sync(layer.receive)(devices_channel)
    assert (status["type"], status["device"]["status"]) == ("device.status", DeviceStatus.DISABLED)


def test_taking_it_out_twice_changes_nothing_the_second_time(device, tag_ids):
    device_enabled_set(device=device, enabled=False, user=None)
    rows = stored_samples(tag_ids)

    assert device_enabled_set(device=device, enabled=False, user=None) is None

    assert stored_samples(tag_ids) == rows
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_OUT_OF_SERVICE).count() == 1


def test_back_in_service_the_next_poll_stores_good_values_again(
    polling, ingest_context, device, scan_class, tag_ids, make_user
):
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    device_enabled_set(device=device, enabled=False, user=None, context=ingest_context)
    assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "disabled"

    device_enabled_set(device=device, enabled=True, user=make_user("maintenance"), context=ingest_context)
    device.refresh_from_db()
    assert (device.enabled, device.status) == (True, DeviceStatus.UNKNOWN)
    outcome = device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    assert outcome.status == "stored"
    assert outcome.stored == len(tag_ids)  # the change of quality stores every tag, changed or not
    last = {tag_id: quality for tag_id, _, _, quality in stored_samples(tag_ids)}
    assert set(last.values()) == {Quality.GOOD}
    assert {cv.quality for cv in current_values(tag_ids=tag_ids).values()} == {Quality.GOOD}
    device.refresh_from_db()
    assert device.status == DeviceStatus.CONNECTED
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_IN_SERVICE, actor_username="maintenance").exists()


def test_a_poll_under_way_does_not_turn_a_device_out_of_service_back_to_connected(
    polling, ingest_context, device, scan_class
):
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    held = Device.objects.get(pk=device.pk)  # what the poller holds
    device_enabled_set(device=device, enabled=False, user=None, context=ingest_context)

    device_record_success(context=ingest_context, device=held, read_at=held.last_good_read_at, point_errors="late")
    device_record_failure(context=ingest_context, device=held, error="late", failed_at=held.last_good_read_at)

    device.refresh_from_db()
    assert (device.status, device.last_error, device.consecutive_failures) == (DeviceStatus.DISABLED, "", 0)


def test_the_acquisition_processes_are_told_after_the_commit(device, django_capture_on_commit_callbacks):
    before = acquisition_config_version()
    with django_capture_on_commit_callbacks(execute=True):
        device_enabled_set(device=device, enabled=False, user=None)
        assert acquisition_config_version() == before  # not before the change is visible to them

    assert acquisition_config_version() != before
