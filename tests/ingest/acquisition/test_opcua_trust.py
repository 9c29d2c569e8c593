"""Trust on first use for OPC UA server certificates, against real secure asyncua servers: the first secure poll
pins the server's certificate, a server that comes back with another one is refused with a clear reason, and an
administrator trusting it anew lets the next connection pin the new one. Every step is audited."""

import hashlib

import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from demo.simulator.opcua_server import OpcUaPlantServerThread, opcua_signal_node_id
from historian.models import Area, Device, DeviceStatus, Line, Machine, Protocol, ScanClass, Site, Tag
from ingest.acquisition.poll import device_poll
from ingest.protocols.opcua.configure import certificate_thumbprint
from tests.opcua_fixtures import OPCUA_PASSWORD, OPCUA_USER, START_TIMEOUT
from tests.simulated_plant import plant_simulator


@pytest.fixture(autouse=True)
def _state_dir(settings, tmp_path) -> None:
    settings.MILLWRIGHT_STATE_DIR = str(tmp_path / "state")


def _server(port: int, cert_dir) -> OpcUaPlantServerThread:
    return OpcUaPlantServerThread(
        plant_simulator(lines=1, machines_per_line=1, seed=3),
        port=port,
        tick_seconds=0.2,
        security_modes=("SignAndEncrypt",),
        users={OPCUA_USER: OPCUA_PASSWORD},
        cert_dir=cert_dir,
    )


def _secure_device(port: int, pki) -> tuple[Device, ScanClass]:
    cert, key = pki
    site = Site.objects.create(name="Secure plant")
    line = Line.objects.create(area=Area.objects.create(site=site, name="Machining"), name="Line 1")
    machine = Machine.objects.create(line=line, name="CNC 101")
    scan_class = ScanClass.objects.create(name="Polled", period_ms=1000)
    device = Device.objects.create(
        name="Secure OPC UA",
        protocol=Protocol.OPCUA,
        host="127.0.0.1",
        port=port,
        security_policy="Basic256Sha256",
        security_mode="SignAndEncrypt",
        client_certificate=str(cert),
        client_private_key=str(key),
        username=OPCUA_USER,
        password=OPCUA_PASSWORD,
        timeout_seconds=2.0,
    )
    Tag.objects.create(
        path="Secure plant/Machining/Line 1/CNC 101.speed",
        name="speed",
        machine=machine,
        device=device,
        scan_class=scan_class,
        address=opcua_signal_node_id(0, 0, "speed_setpoint"),
        data_type="float32",
    )
    return device, scan_class


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_first_secure_connection_pins_the_certificate_and_a_changed_one_is_refused_until_trusted(
    polling, db, admin_client, tmp_path, opcua_client_pki
):
    first = _server(0, tmp_path / "server-a").start(timeout=START_TIMEOUT)
    port = first.port
    device, scan_class = _secure_device(port, opcua_client_pki)
    try:
        assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"
    finally:
        first.stop()

    device.refresh_from_db()
    assert certificate_thumbprint(device.server_certificate) == _sha256(first.certificate_path)
    pinned = AuditEvent.objects.get(action=AuditAction.OPCUA_SERVER_CERTIFICATE_PINNED)
    assert pinned.details["sha256"] == _sha256(first.certificate_path)

    polling.close()  # the next poll connects afresh
    impostor = _server(port, tmp_path / "server-b").start(timeout=START_TIMEOUT)  # same address, another certificate
    try:
        assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "unreachable"
        device.refresh_from_db()
        assert device.status == DeviceStatus.ERROR
        assert "certificate changed" in device.last_error
        assert certificate_thumbprint(device.server_certificate) == _sha256(first.certificate_path)  # still pinned

        admin_client.post(
            reverse("admin:historian_device_changelist"),
            {"action": "trust_opcua_server_certificate_anew", "_selected_action": [device.pk]},
        )
        assert AuditEvent.objects.filter(action=AuditAction.OPCUA_SERVER_CERTIFICATE_UNPINNED).exists()
        Device.objects.filter(pk=device.pk).update(next_retry_at=None)  # no waiting out the backoff

        assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"
    finally:
        impostor.stop()
    device.refresh_from_db()
    assert certificate_thumbprint(device.server_certificate) == _sha256(impostor.certificate_path)
