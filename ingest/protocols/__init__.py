"""One folder per protocol: address parsing, driver (read, subscribe, browse), admin, codec. See ARCHITECTURE.md.

Adding a protocol: a folder beside these, its choice in historian.models.Protocol (+ a migration), its address
parser below, and its driver in registry.py.
"""

from historian.addresses import address_parser_register
from ingest.protocols.modbus.address import parse_modbus_address
from ingest.protocols.opcua.address import parse_opcua_address
from ingest.protocols.sparkplug.address import parse_sparkplug_address

ADDRESS_PARSERS = {
    "modbus": parse_modbus_address,
    "opcua": parse_opcua_address,
    "sparkplug": parse_sparkplug_address,
}


def protocols_register() -> None:
    """Called once at start-up (IngestConfig.ready): historian validates every protocol's tag addresses."""
    for protocol, parser in ADDRESS_PARSERS.items():
        address_parser_register(protocol, parser)
