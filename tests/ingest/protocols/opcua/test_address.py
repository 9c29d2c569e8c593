import uuid

import pytest

from historian.addresses import InvalidTagAddress, validate_tag_address
from ingest.protocols.opcua.address import OpcUaNodeId, parse_node_id, parse_opcua_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ns=2;s=Line1.CNC101.Speed", OpcUaNodeId("s", "Line1.CNC101.Speed", 2)),
        ("ns=2;i=1234", OpcUaNodeId("i", 1234, 2)),
        ("  i=2258 ", OpcUaNodeId("i", 2258, 0)),
        ("s=Plain", OpcUaNodeId("s", "Plain", 0)),
        ("ns=3;s=a;b=c", OpcUaNodeId("s", "a;b=c", 3)),  # the string identifier keeps ; and =
        ("nsu=urn:plant:x;s=Speed", OpcUaNodeId("s", "Speed", None, "urn:plant:x")),
        (
            "ns=1;g=09087e75-8e5e-499b-954f-f2a9603db28a",
            OpcUaNodeId("g", uuid.UUID("09087e75-8e5e-499b-954f-f2a9603db28a"), 1),
        ),
        ("ns=4;b=M/RbKBsRVkePCePcx24oRA==", OpcUaNodeId("b", bytes.fromhex("33f45b281b1156478f09e3dcc76e2844"), 4)),
    ],
)
def test_node_id_forms_parse(text, expected):
    assert parse_node_id(text) == expected


@pytest.mark.parametrize(
    "text",
    ["ns=2;s=Line1.CNC101.Speed", "ns=2;i=1234", "i=85", "nsu=urn:plant:x;s=Speed", "ns=4;b=M/RbKBsRVkePCePcx24oRA=="],
)
def test_node_ids_print_back_in_the_standard_form(text):
    assert str(parse_node_id(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "an OPC UA address is a node id"),
        ("HR100", "is not an OPC UA node id"),
        ("ns=x;i=5", "namespace index after ns= must be a number"),
        ("ns=70000;i=5", "namespace index 70000 is out of range"),
        ("ns=2;i=abc", "numeric identifier (i=) must be a whole number"),
        ("ns=2;i=99999999999", "numeric identifier (i=) must be a whole number"),
        ("ns=2;s=", "string identifier after s= is empty"),
        ("ns=2;q=5", "unknown identifier type 'q'"),
        ("ns=2;g=not-a-guid", "g= needs a GUID"),
        ("ns=2;b=%%%", "b= needs base64"),
        ("nsu=;s=X", "nsu= needs a namespace URI"),
    ],
)
def test_bad_node_ids_are_refused_with_the_reason(text, message):
    with pytest.raises(InvalidTagAddress) as exc:
        parse_node_id(text)
    assert message in str(exc.value)


def test_unknown_data_type_is_refused():
    with pytest.raises(InvalidTagAddress, match="unknown data type 'text'"):
        parse_opcua_address("ns=2;s=X", "text")


def test_a_string_tag_takes_a_node_id():
    assert parse_opcua_address("ns=2;s=Line1.CNC101.Program", "string").identifier == "Line1.CNC101.Program"


def test_validate_tag_address_knows_opcua():
    validate_tag_address(protocol="opcua", address="ns=2;s=Line1.CNC101.Speed", data_type="float32")
    with pytest.raises(InvalidTagAddress, match="not an OPC UA node id"):
        validate_tag_address(protocol="opcua", address="40001", data_type="float32")
