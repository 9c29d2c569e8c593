"""Browsing the simulated plant's OPC UA address space, creating tags from it, storing uploaded PKI files."""

import pytest
from asyncua import ua
from django.core.exceptions import ValidationError

from common.net import free_port
from demo.simulator.opcua_server import SIMULATOR_NAMESPACE
from demo.simulator.plant import SIGNALS_BY_NAME
from historian.addresses import InvalidTagAddress
from historian.models import Device, Protocol
from historian.quality import Quality
from ingest.protocols.base import DeviceUnreachable, PointRequest
from ingest.protocols.opcua.configure import device_opcua_pki_store, opcua_browse, opcua_tags_create
from ingest.protocols.opcua.driver import OpcUaDriver, OpcUaSettings
from tests.factories import DeviceFactory, ScanClassFactory
from tests.opcua_fixtures import OpcUaVariablesServer


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
        f"nsu={SIMULATOR_NAMESPACE};s=Line1.CNC101.spindle_speed",
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
    device = DeviceFactory(name="Gone", protocol=Protocol.OPCUA, port=free_port())
    with pytest.raises(DeviceUnreachable, match="cannot connect to OPC UA server"):
        opcua_browse(device=device)


def test_tags_created_from_browsed_variables(opcua_device, cnc):
    scan_class = ScanClassFactory(name="Fast", period_ms=1000)
    tree = opcua_browse(device=opcua_device, node_id="ns=2;s=Line1.CNC101", depth=1)
    chosen = [_find(tree, "spindle_speed"), _find(tree, "running")]

    result = opcua_tags_create(device=opcua_device, machine=cnc, scan_class=scan_class, nodes=chosen)

    assert result.skipped == []
    speed, running = result.created
    assert speed.path == "Plant/Machining/Line 1/CNC 101.spindle_speed"
    assert (speed.address, speed.data_type, speed.units) == (
        f"nsu={SIMULATOR_NAMESPACE};s=Line1.CNC101.spindle_speed",
        "float32",
        "rpm",
    )
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
    device = DeviceFactory(name="Secure", protocol=Protocol.OPCUA, host="plc")
    cert, key = opcua_client_pki

    device_opcua_pki_store(device=device, client_certificate=cert.read_bytes(), client_private_key=key.read_bytes())

    device.refresh_from_db()
    assert device.client_certificate == str(tmp_path / "opcua" / f"device-{device.pk}" / "client-cert.der")
    assert device.client_private_key.endswith("client-key.pem")
    assert (tmp_path / "opcua" / f"device-{device.pk}" / "client-key.pem").stat().st_mode & 0o777 == 0o600


def test_a_file_that_is_no_certificate_is_refused_and_nothing_stored(db, settings, tmp_path):
    settings.MILLWRIGHT_STATE_DIR = tmp_path
    device = DeviceFactory(name="Secure", protocol=Protocol.OPCUA, host="plc")
    with pytest.raises(ValidationError) as exc:
        device_opcua_pki_store(device=device, client_certificate=b"hello", client_private_key=b"-----BEGIN x")
    assert exc.value.message_dict == {
        "client_certificate": ["This is not an X.509 certificate (PEM or DER)."],
        "client_private_key": ["This is not a private key (PEM or DER)."],
    }
    assert not (tmp_path / "opcua").exists()


# -- addresses by namespace URI (issue 11.5) ------------------------------------------------------------------

PLANT_NS = "urn:example:press-line"
OTHER_NS = "urn:example:vendor-diagnostics"
BROWSED = {
    "Pressure": (PLANT_NS, 183.5, ua.VariantType.Double),
    "Recipe": (PLANT_NS, "R-17", ua.VariantType.String),
}


def _device(name: str, endpoint: str) -> Device:
    return DeviceFactory(name=name, protocol=Protocol.OPCUA, endpoint_url=endpoint)


def test_browsed_variables_become_tags_addressed_by_namespace_uri_that_survive_a_reordered_namespace_table(db, cnc):
    scan_class = ScanClassFactory(name="Normal", period_ms=1000)
    with OpcUaVariablesServer(BROWSED, namespaces=[PLANT_NS]) as before:
        assert before.namespace_index[PLANT_NS] == 2
        device = _device("Press", before.endpoint)
        tree = opcua_browse(device=device, depth=3)
        chosen = [n for top in tree for n in top.walk() if n.browse_name in BROWSED]
        created = opcua_tags_create(device=device, machine=cnc, scan_class=scan_class, nodes=chosen).created

    assert {t.name: t.address for t in created} == {
        "Pressure": f"nsu={PLANT_NS};s=Pressure",
        "Recipe": f"nsu={PLANT_NS};s=Recipe",
    }
    # The server is updated: a namespace registered before ours moves it from index 2 to 3.
    with OpcUaVariablesServer(BROWSED, namespaces=[PLANT_NS], before=[OTHER_NS]) as after:
        assert after.namespace_index[PLANT_NS] == 3
        Device.objects.filter(pk=device.pk).update(endpoint_url=after.endpoint)
        points = [PointRequest(t.pk, t.address, t.data_type) for t in created]
        with OpcUaDriver(OpcUaSettings(endpoint=after.endpoint, timeout=2)) as driver:
            readings = {r.tag_id: r for r in driver.read(points)}
            old_form = driver.read([PointRequest(0, "ns=2;s=Pressure", "float64")])  # ns= still reads, as written

    by_name = {t.name: readings[t.pk] for t in created}
    assert (by_name["Pressure"].value, by_name["Pressure"].quality) == (183.5, Quality.GOOD)
    assert (by_name["Recipe"].value, by_name["Recipe"].quality) == ("R-17", Quality.GOOD)
    assert old_form[0].quality == Quality.BAD_CONFIG_ERROR  # index 2 is now the other namespace: the old trap


def test_browse_starts_from_a_node_given_by_namespace_uri_and_standard_nodes_keep_i(db):
    with OpcUaVariablesServer(BROWSED, namespaces=[PLANT_NS], before=[OTHER_NS]) as server:
        device = _device("Press", server.endpoint)
        below_folder = opcua_browse(device=device, node_id=f"nsu={PLANT_NS};s=Test", depth=1)
        server_object = opcua_browse(device=device, node_id="i=2253", depth=1)
        with pytest.raises(InvalidTagAddress, match="no such namespace URI"):
            opcua_browse(device=device, node_id="nsu=urn:nobody;s=Test")
        with pytest.raises(InvalidTagAddress, match="not an OPC UA node id"):
            opcua_browse(device=device, node_id="Test")

    assert sorted(n.node_id for n in below_folder) == [f"nsu={PLANT_NS};s=Pressure", f"nsu={PLANT_NS};s=Recipe"]
    status = next(n for n in server_object if n.browse_name == "ServerStatus")
    assert status.node_id == "i=2256"  # namespace 0 is fixed by the specification: no URI needed
