"""The Device admin: the OPC UA browse page that creates tags, the write-only password, uploads; taking devices
out of service and back, from the change form and the bulk actions."""

from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent
from demo.simulator.opcua_server import SIMULATOR_NAMESPACE
from historian.models import Device, DeviceStatus, Machine, Protocol, Tag
from historian.quality import Quality
from historian.queries.history import current_values
from tests.factories import DeviceFactory, ScanClassFactory


def test_device_page_links_to_the_browser(admin_client, opcua_device):
    response = admin_client.get(reverse("admin:historian_device_change", args=[opcua_device.pk]))
    assert response.status_code == 200
    assert reverse("admin:historian_device_opcua_browse", args=[opcua_device.pk]) in response.content.decode()


def test_browse_page_shows_variables_with_checkboxes(admin_client, opcua_device):
    url = reverse("admin:historian_device_opcua_browse", args=[opcua_device.pk])
    response = admin_client.get(url, {"node": "ns=2;s=Line1.CNC101", "depth": "1"})
    page = response.content.decode()
    assert response.status_code == 200
    assert f'type="checkbox" name="node_ids" value="nsu={SIMULATOR_NAMESPACE};s=Line1.CNC101.spindle_speed"' in page
    assert "Float &rarr; float32, rpm" in page


def _browse_post(client, device: Device, machine: Machine, node_ids: list[str]):
    """The browse page's form, sent with the nodes ticked, for tags of `machine` in a 1 s scan class."""
    return client.post(
        reverse("admin:historian_device_opcua_browse", args=[device.pk]),
        {
            "node": "ns=2;s=Line1.CNC101",
            "depth": "1",
            "machine": machine.pk,
            "scan_class": ScanClassFactory(name="Fast", period_ms=1000).pk,
            "node_ids": node_ids,
        },
    )


def test_browse_page_creates_the_ticked_tags(admin_client, opcua_device, cnc):
    ticked = [f"nsu={SIMULATOR_NAMESPACE};s=Line1.CNC101.{name}" for name in ("motor_temperature", "part_count")]
    response = _browse_post(admin_client, opcua_device, cnc, ticked)
    assert response.status_code == 302
    tags = {t.name: t for t in Tag.objects.filter(device=opcua_device)}
    assert set(tags) == {"motor_temperature", "part_count"}
    assert (tags["motor_temperature"].units, tags["part_count"].data_type) == ("°C", "uint32")


def test_browse_page_refuses_a_node_it_did_not_offer(admin_client, opcua_device, cnc):
    response = _browse_post(admin_client, opcua_device, cnc, ["ns=2;s=Elsewhere"])
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Tag.objects.exists()


def test_browse_page_shows_why_the_server_cannot_be_browsed(admin_client, db):
    from common.net import free_port

    device = DeviceFactory(name="Gone", protocol=Protocol.OPCUA, port=free_port())
    response = admin_client.get(reverse("admin:historian_device_opcua_browse", args=[device.pk]))
    assert response.status_code == 200
    assert "cannot connect to OPC UA server" in response.content.decode()


def _device_form(**overrides) -> dict:
    data = {
        "name": "Press PLC",
        "protocol": "opcua",
        "enabled": "on",
        "host": "127.0.0.1",
        "port": "4840",
        "unit_id": "1",
        "word_order": "big",
        "byte_order": "big",
        "max_gap_registers": "8",
        "max_gap_bits": "32",
        "timeout_seconds": "2",
        "security_policy": "None",
        "security_mode": "None",
        "publishing_interval_ms": "500",
        "timestamp_source": "source",
        "username": "operator",
        "password": "first-secret",
    }
    return data | overrides


def test_password_is_write_only_and_kept_when_left_empty(admin_client, db):
    response = admin_client.post(reverse("admin:historian_device_add"), _device_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    device = Device.objects.get(name="Press PLC")
    assert device.password == "first-secret"

    page = admin_client.get(reverse("admin:historian_device_change", args=[device.pk])).content.decode()
    assert "first-secret" not in page

    response = admin_client.post(reverse("admin:historian_device_change", args=[device.pk]), _device_form(password=""))
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.password == "first-secret"


def test_secure_device_needs_certificate_and_key(admin_client, db):
    response = admin_client.post(
        reverse("admin:historian_device_add"),
        _device_form(security_policy="Basic256Sha256", security_mode="SignAndEncrypt"),
    )
    assert response.status_code == 200
    assert "A secure connection needs a client certificate and its private key." in response.content.decode()


def test_uploaded_client_certificate_and_key_make_a_secure_device(
    admin_client, db, settings, tmp_path, opcua_client_pki
):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    cert, key = opcua_client_pki
    with cert.open("rb") as cert_file, key.open("rb") as key_file:
        response = admin_client.post(
            reverse("admin:historian_device_add"),
            _device_form(
                security_policy="Basic256Sha256",
                security_mode="SignAndEncrypt",
                client_certificate_upload=cert_file,
                client_private_key_upload=key_file,
            ),
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    device = Device.objects.get(name="Press PLC")
    assert device.client_certificate == str(tmp_path / "opcua" / f"device-{device.pk}" / "client-cert.der")
    assert (tmp_path / "opcua" / f"device-{device.pk}" / "client-key.pem").read_bytes() == key.read_bytes()


def _modbus_form(device: Device, **overrides) -> dict:
    form = _device_form(name=device.name, protocol="modbus", host=device.host, port=str(device.port))
    del form["username"], form["password"]
    return form | overrides


def _out_of_service(device: Device) -> set[int]:
    tag_ids = list(device.tags.values_list("pk", flat=True))
    return {cv.quality for cv in current_values(tag_ids=tag_ids).values()}


def test_unticking_enabled_takes_the_device_out_of_service(admin_client, device):
    form = _modbus_form(device)
    del form["enabled"]

    response = admin_client.post(reverse("admin:historian_device_change", args=[device.pk]), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    device.refresh_from_db()
    assert (device.enabled, device.status) == (False, DeviceStatus.DISABLED)
    assert _out_of_service(device) == {Quality.BAD_OUT_OF_SERVICE}
    assert AuditEvent.objects.get(action=AuditAction.DEVICE_OUT_OF_SERVICE).actor_username == "admin"

    response = admin_client.post(reverse("admin:historian_device_change", args=[device.pk]), _modbus_form(device))

    device.refresh_from_db()
    assert (device.enabled, device.status) == (True, DeviceStatus.UNKNOWN)
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_IN_SERVICE).count() == 1


def test_saving_a_device_without_touching_enabled_stores_nothing(admin_client, device):
    form = _modbus_form(device, description="Moved to the new cabinet")

    admin_client.post(reverse("admin:historian_device_change", args=[device.pk]), form)

    assert Device.objects.get(pk=device.pk).description == "Moved to the new cabinet"
    assert _out_of_service(device) == set()  # never polled: no current values at all
    assert not AuditEvent.objects.filter(action__startswith="device_").exists()


def test_bulk_actions_take_devices_out_of_service_and_back(admin_client, device):
    url = reverse("admin:historian_device_changelist")
    other = DeviceFactory(name="Spare PLC", enabled=False, status=DeviceStatus.DISABLED)

    response = admin_client.post(
        url, {"action": "take_out_of_service", "_selected_action": [device.pk, other.pk]}, follow=True
    )

    assert "1 devices taken out of service: Line 1 PLC." in response.content.decode()
    assert _out_of_service(device) == {Quality.BAD_OUT_OF_SERVICE}
    assert Device.objects.get(pk=device.pk).status == DeviceStatus.DISABLED

    admin_client.post(url, {"action": "put_in_service", "_selected_action": [device.pk, other.pk]})

    assert set(Device.objects.values_list("enabled", "status")) == {(True, DeviceStatus.UNKNOWN)}
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_IN_SERVICE).count() == 2


def test_browse_page_tells_a_start_node_that_is_no_node_id(admin_client, opcua_device):
    url = reverse("admin:historian_device_opcua_browse", args=[opcua_device.pk])
    response = admin_client.get(url, {"node": "Line1.CNC101", "depth": "1"})
    assert response.status_code == 200
    assert "is not an OPC UA node id" in response.content.decode()


def test_the_client_certificate_is_generated_from_the_admin_and_works_on_a_secure_server(
    admin_client, settings, tmp_path, opcua_secure_server
):
    import hashlib

    from ingest.protocols.opcua.driver import OpcUaDriver, OpcUaSettings
    from tests.opcua_fixtures import OPCUA_PASSWORD, OPCUA_USER

    settings.MILLWRIGHT_STATE_DIR = str(tmp_path)
    device = DeviceFactory(
        name="Secure OPC UA",
        protocol=Protocol.OPCUA,
        host="127.0.0.1",
        port=opcua_secure_server.port,
        security_policy="Basic256Sha256",
        security_mode="SignAndEncrypt",
        username=OPCUA_USER,
        password=OPCUA_PASSWORD,
    )
    modbus = DeviceFactory(name="A Modbus PLC")

    response = admin_client.post(
        reverse("admin:historian_device_changelist"),
        {"action": "generate_opcua_client_certificate", "_selected_action": [device.pk, modbus.pk]},
        follow=True,
    )

    device.refresh_from_db()
    assert device.client_certificate
    assert device.client_private_key
    event = AuditEvent.objects.get(action=AuditAction.OPCUA_CLIENT_CERTIFICATE)
    assert event.target == device.name
    assert event.details["sha256"] in response.content.decode()  # the message names the thumbprint
    assert not Device.objects.get(pk=modbus.pk).client_certificate  # not OPC UA: left alone
    download = admin_client.get(reverse("admin:historian_device_opcua_client_certificate", args=[device.pk]))
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == event.details["sha256"]
    page = admin_client.get(reverse("admin:historian_device_change", args=[device.pk])).content.decode()
    assert event.details["sha256"] in page
    with OpcUaDriver(OpcUaSettings.from_device(device)) as driver:  # the simulator trusts any client certificate
        assert driver.identify() is not None


def test_the_client_certificate_download_is_for_staff_only(client, make_user, db):
    device = DeviceFactory(name="OPC UA", protocol=Protocol.OPCUA)
    client.force_login(make_user("olga"))

    response = client.get(reverse("admin:historian_device_opcua_client_certificate", args=[device.pk]))

    assert response.status_code == 302  # to the admin's login: operators are not staff


def test_only_administrators_enable_writes_on_a_device_and_it_is_audited(admin_client, client, device, make_user):
    url = reverse("admin:historian_device_changelist")
    engineer = make_user("eng", role=Role.ENGINEER)
    engineer.is_staff = True
    engineer.user_permissions.add(Permission.objects.get(codename="change_device"))
    engineer.save()
    client.force_login(engineer)

    client.post(url, {"action": "enable_writes", "_selected_action": [device.pk]})
    assert Device.objects.get(pk=device.pk).writes_enabled is False  # not offered to them: nothing done

    response = admin_client.post(url, {"action": "enable_writes", "_selected_action": [device.pk]}, follow=True)

    assert "Writes enabled on 1 devices: Line 1 PLC." in response.content.decode()
    assert Device.objects.get(pk=device.pk).writes_enabled is True
    assert AuditEvent.objects.filter(action=AuditAction.DEVICE_WRITES_ENABLE, target=device.name).count() == 1
    admin_client.post(url, {"action": "disable_writes", "_selected_action": [device.pk]})
    assert Device.objects.get(pk=device.pk).writes_enabled is False
