"""Quarantine: the device is still read, its values are marked, every page says so, and both steps are audited."""

import pytest
from django.db import connection
from django.urls import reverse

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent
from historian.models import Device, Tag
from historian.quality import Quality
from ingest.acquisition.poll import device_poll
from ingest.services.quarantine import QuarantineError, device_quarantine_set

HOSTILE_REASON = "<script>alert('x')</script> firmware changed"


def _qualities(device: Device) -> set[int]:
    tag_ids = list(Tag.objects.filter(device=device).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT quality FROM historian_current_value WHERE tag_id = ANY(%s)", [tag_ids])
        return {row[0] for row in cursor.fetchall()}


def test_a_quarantine_needs_a_reason(device, make_user):
    with pytest.raises(QuarantineError, match="why"):
        device_quarantine_set(
            device=device, quarantined=True, reason="  ", user=make_user("ada", role=Role.ADMINISTRATOR)
        )
    device.refresh_from_db()
    assert device.quarantined_at is None


def test_quarantine_and_release_are_audited_with_who_and_why(device, make_user):
    admin = make_user("ada", role=Role.ADMINISTRATOR)

    assert device_quarantine_set(device=device, quarantined=True, reason="firmware changed", user=admin)
    assert not device_quarantine_set(device=device, quarantined=True, reason="again", user=admin)  # already
    assert device_quarantine_set(device=device, quarantined=False, user=admin)

    events = list(AuditEvent.objects.filter(target=device.name).order_by("pk"))
    assert [(e.action, e.actor, e.details["reason"]) for e in events] == [
        (AuditAction.DEVICE_QUARANTINE, admin, "firmware changed"),
        (AuditAction.DEVICE_RELEASE, admin, "firmware changed"),
    ]
    device.refresh_from_db()
    assert (device.quarantined_at, device.quarantine_reason) == (None, "")


def test_a_quarantined_device_is_still_read_and_its_values_are_marked(polling, device, scan_class, make_user):
    admin = make_user("ada", role=Role.ADMINISTRATOR)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    assert _qualities(device) == {Quality.GOOD}

    device_quarantine_set(device=device, quarantined=True, reason="firmware changed", user=admin)
    outcome = device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    assert outcome.status == "stored"
    assert _qualities(device) == {Quality.UNCERTAIN_QUARANTINED}

    device_quarantine_set(device=device, quarantined=False, user=admin)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    assert _qualities(device) == {Quality.GOOD}


def test_the_admin_action_asks_for_the_reason_then_quarantines(admin_client, device):
    url = reverse("admin:historian_device_changelist")
    asked = admin_client.post(url, {"action": "quarantine", "_selected_action": [device.pk]})
    assert asked.status_code == 200
    assert "Quarantine devices" in asked.content.decode()
    device.refresh_from_db()
    assert device.quarantined_at is None  # nothing happens before the reason is given

    admin_client.post(
        url, {"action": "quarantine", "_selected_action": [device.pk], "apply": "1", "reason": HOSTILE_REASON}
    )

    device.refresh_from_db()
    assert device.quarantine_reason == HOSTILE_REASON
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_QUARANTINE, target=device.name).exists()


def test_every_page_says_the_device_is_quarantined_and_the_reason_stays_text(client, device, make_user):
    device_quarantine_set(device=device, quarantined=True, reason=HOSTILE_REASON, user=None)
    client.force_login(make_user("olga", role=Role.OPERATOR))

    for url in ("/", "/alarms/"):
        page = client.get(url).content.decode()
        assert 'id="quarantine-banner"' in page, url
        assert device.name in page
        assert HOSTILE_REASON not in page
        assert "&lt;script&gt;" in page

    device_quarantine_set(device=device, quarantined=False, user=None)
    assert 'id="quarantine-banner"' not in client.get("/").content.decode()


def test_the_api_says_which_devices_are_quarantined(client, device, make_user):
    device_quarantine_set(device=device, quarantined=True, reason="firmware changed", user=None)
    client.force_login(make_user("erik", role=Role.ENGINEER))

    body = client.get("/api/v1/devices/").json()

    rows = body["results"] if isinstance(body, dict) else body
    row = next(r for r in rows if r["id"] == device.pk)
    assert row["quarantine_reason"] == "firmware changed"
    assert row["quarantined_at"] is not None


def test_every_page_that_shows_the_device_says_it_is_quarantined(client, admin_client, device, machine, make_user):
    device_quarantine_set(device=device, quarantined=True, reason="firmware changed", user=None)
    client.force_login(make_user("erik", role=Role.ENGINEER))
    pages = [
        "/",
        "/explorer/",
        f"/machines/{machine.pk}/",
        "/alarms/",
        "/alarms/history/",
        "/alarms/performance/",
        "/inventory/",
        "/tokens/",
    ]

    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert 'id="quarantine-banner"' in page, url
        assert f'data-device="{device.pk}">{device.name} (firmware changed' in page, url

    changelist = admin_client.get(reverse("admin:historian_device_changelist")).content.decode()
    assert "Quarantine" in changelist
    change = admin_client.get(reverse("admin:historian_device_change", args=[device.pk])).content.decode()
    assert "firmware changed" in change
