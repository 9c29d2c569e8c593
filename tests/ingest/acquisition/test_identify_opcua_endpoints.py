"""The OPC UA endpoints a server offers are its baseline: a server that comes back offering weaker security is
reported, by the polled and the subscribed paths alike (both identify through ingest.acquisition.identify)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.net import free_port
from demo.simulator.opcua_server import OpcUaPlantServerThread, opcua_signal_node_id
from historian.models import Device, Protocol, ScanClass
from ingest.acquisition.poll import device_poll
from inventory.models import Asset, AssetChange
from inventory.security_events import SecurityEventKind
from tests.factories import DeviceFactory, ScanClassFactory, TagFactory
from tests.opcua_fixtures import START_TIMEOUT
from tests.security_events import Collected, security_events_collected
from tests.simulated_plant import plant_simulator

pytestmark = pytest.mark.django_db

WEAKER = SecurityEventKind.WEAKER_ENDPOINT_SECURITY


@pytest.fixture
def events(polling) -> Iterator[Collected]:
    with security_events_collected() as received:
        yield received
    polling.drivers.close_all()


def _server(port: int, modes: tuple[str, ...], cert_dir: Path) -> OpcUaPlantServerThread:
    plant = plant_simulator(lines=1, machines_per_line=1, seed=7)
    server = OpcUaPlantServerThread(plant, port=port, tick_seconds=0.5, security_modes=modes, cert_dir=cert_dir)
    return server.start(timeout=START_TIMEOUT)


def _polled_device(port: int) -> tuple[Device, ScanClass]:
    scan_class = ScanClassFactory(name="Polled", period_ms=1000)
    device = DeviceFactory(
        name="Line 1 OPC UA",
        protocol=Protocol.OPCUA,
        endpoint_url=f"opc.tcp://127.0.0.1:{port}/",
        timeout_seconds=4.0,
    )
    TagFactory(
        name="speed",
        device=device,
        scan_class=scan_class,
        address=opcua_signal_node_id(0, 0, "spindle_speed"),
        data_type="float64",
    )
    return device, scan_class


def _offers(endpoints: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(e["mode"], e["policy"]) for e in endpoints}


def test_a_server_back_with_weaker_endpoints_is_reported_once_with_before_and_after(
    settings, tmp_path, events, polling
):
    settings.INVENTORY_IDENTIFY_SECONDS = 0  # identify at every poll
    port = free_port()
    device, scan_class = _polled_device(port)
    server = _server(port, ("None", "SignAndEncrypt"), tmp_path / "pki")
    try:
        assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"
    finally:
        server.stop()
    asset = Asset.objects.get(device=device)
    assert _offers(asset.endpoints) == {("None", "None"), ("SignAndEncrypt", "Basic256Sha256")}
    assert all(e["tokens"] == "Anonymous" for e in asset.endpoints)
    assert events.of(WEAKER) == []  # the first set is the baseline

    polling.drivers.close_all()
    server = _server(port, ("None", "Sign"), tmp_path / "pki")  # the same certificate, signing only now
    try:
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    finally:
        server.stop()

    weaker = events.of(WEAKER)
    assert len(weaker) == 1, [e.message for e in events]
    event = weaker[0]
    assert (event.asset_id, event.device_id) == (asset.pk, device.pk)
    assert event.subject == f"asset:{asset.pk}:endpoints"
    assert event.evidence["endpoint"] == device.opcua_endpoint
    assert event.evidence["reasons"] == [
        "new endpoint with security mode Sign (policy Basic256Sha256)",
        "the strongest security offered before is gone: SignAndEncrypt Basic256Sha256",
    ]
    assert _offers(event.evidence["before"]) == {("None", "None"), ("SignAndEncrypt", "Basic256Sha256")}
    assert _offers(event.evidence["after"]) == {("None", "None"), ("Sign", "Basic256Sha256")}
    change = AssetChange.objects.get(asset=asset, field="endpoints")
    assert change.after == "None None; Sign Basic256Sha256"


def test_a_server_back_with_the_same_endpoints_is_not_reported(settings, tmp_path, events, polling):
    settings.INVENTORY_IDENTIFY_SECONDS = 0
    port = free_port()
    device, scan_class = _polled_device(port)
    for _ in range(2):  # the server restarts with the same offer
        server = _server(port, ("SignAndEncrypt", "None"), tmp_path / "pki")
        try:
            assert device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk).status == "stored"
        finally:
            server.stop()
        polling.drivers.close_all()

    assert _offers(Asset.objects.get(device=device).endpoints) == {
        ("None", "None"),
        ("SignAndEncrypt", "Basic256Sha256"),
    }
    assert events.of(WEAKER) == []
    assert not AssetChange.objects.filter(field="endpoints").exists()
