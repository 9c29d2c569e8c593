"""Browsing the simulated plant's OPC UA address space, creating tags from it, storing uploaded PKI files."""

import pytest
from django.core.exceptions import ValidationError

from common.net import free_port
from demo.simulator.plant import SIGNALS_BY_NAME
from historian.models import Area, Device, Line, Machine, Protocol, ScanClass, Site
from ingest.protocols.base import DeviceUnreachable
from ingest.protocols.opcua.configure import device_opcua_pki_store, opcua_browse, opcua_tags_create


@pytest.fixture
def opcua_device(db, opcua_plant_server) -> Device:
    return Device.objects.create(
        name="Simulator OPC UA", protocol=Protocol.OPCUA, host="127.0.0.1", port=opcua_plant_server.port
    )


@pytest.fixture
def cnc(db) -> Machine:
    site = Site.objects.create(name="Plant")
    line = Line.objects.create(area=Area.objects.create(site=site, name="Machining"), name="Line 1")
    return Machine.objects.create(line=line, name="CNC 101")


def _find(tree, name):
    return next(n for top in tree for n in top.walk() if n.browse_name == name)


def test_browse_returns_the_plant_tree_with_data_types_units_and_ranges(opcua_device):
    tree = opcua_browse(device=opcua_device, depth=4)

    plant = _find(tree, "Plant")
    assert plant.node_class == "Object"
    assert [n.browse_name for n in plant.children] == ["Line 1"]
    machine = _find(tree, "CNC 101")
    assert {n.browse_name for n in machine.children} == set(SIGNALS_BY_NAME)  # properties are folded in
    speed = _find(tree, "spindle_speed")
    assert (speed.node_id, speed.ua_data_type, speed.data_type) == (
        "ns=2;s=Line1.CNC101.spindle_speed",
        "Float",
        "float32",
    )
    assert speed.units == "rpm"
    assert speed.eu_range == SIGNALS_BY_NAME["spindle_speed"].span
    assert _find(tree, "running").data_type == "bool"
    assert _find(tree, "part_count").data_type == "uint32"


def test_browse_from_a_node_and_depth_limit(opcua_device):
    tree = opcua_browse(device=opcua_device, node_id="ns=2;s=Line1", depth=1)
    assert [n.browse_name for n in tree] == ["CNC 101", "CNC 102"]
    assert all(n.children == [] for n in tree)


def test_browse_of_an_unreachable_server_says_so(db):
    device = Device.objects.create(name="Gone", protocol=Protocol.OPCUA, host="127.0.0.1", port=free_port())
    with pytest.raises(DeviceUnreachable, match="cannot connect to OPC UA server"):
        opcua_browse(device=device)


def test_tags_created_from_browsed_variables(opcua_device, cnc):
    scan_class = ScanClass.objects.create(name="Fast", period_ms=1000)
    tree = opcua_browse(device=opcua_device, node_id="ns=2;s=Line1.CNC101", depth=1)
    chosen = [_find(tree, "spindle_speed"), _find(tree, "running")]

    result = opcua_tags_create(device=opcua_device, machine=cnc, scan_class=scan_class, nodes=chosen)

    assert result.skipped == []
    speed, running = result.created
    assert speed.path == "Plant/Machining/Line 1/CNC 101.spindle_speed"
    assert (speed.address, speed.data_type, speed.units) == ("ns=2;s=Line1.CNC101.spindle_speed", "float32", "rpm")
    assert (speed.span_low, speed.span_high) == SIGNALS_BY_NAME["spindle_speed"].span
    assert (running.data_type, running.span_low, running.span_high) == ("bool", 0.0, 1.0)

    again = opcua_tags_create(device=opcua_device, machine=cnc, scan_class=scan_class, nodes=chosen)
    assert again.created == []
    assert [s.split(": ", 1)[1] for s in again.skipped] == [
        "a tag 'Plant/Machining/Line 1/CNC 101.spindle_speed' exists already",
        "a tag 'Plant/Machining/Line 1/CNC 101.running' exists already",
    ]


def test_uploaded_certificate_and_key_are_stored_owner_only(db, settings, tmp_path, opcua_client_pki):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    device = Device.objects.create(name="Secure", protocol=Protocol.OPCUA, host="plc")
    cert, key = opcua_client_pki

    device_opcua_pki_store(device=device, client_certificate=cert.read_bytes(), client_private_key=key.read_bytes())

    device.refresh_from_db()
    assert device.client_certificate == str(tmp_path / "opcua" / f"device-{device.pk}" / "client-cert.der")
    assert device.client_private_key.endswith("client-key.pem")
    assert (tmp_path / "opcua" / f"device-{device.pk}" / "client-key.pem").stat().st_mode & 0o777 == 0o600


def test_a_file_that_is_no_certificate_is_refused_and_nothing_stored(db, settings, tmp_path):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    device = Device.objects.create(name="Secure", protocol=Protocol.OPCUA, host="plc")
    with pytest.raises(ValidationError) as exc:
        device_opcua_pki_store(device=device, client_certificate=b"hello", client_private_key=b"-----BEGIN x")
    assert exc.value.message_dict == {
        "client_certificate": ["This is not an X.509 certificate (PEM or DER)."],
        "client_private_key": ["This is not a private key (PEM or DER)."],
    }
    assert not (tmp_path / "opcua").exists()
