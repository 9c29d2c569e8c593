"""Serve a PlantSimulator over OPC UA (asyncua), next to or instead of the Modbus TCP gateway.

Address space: Objects/Plant/<Line n>/<CNC nmm>/<signal>, one variable per MACHINE_SIGNALS entry with the
signal's OPC UA data type, an EngineeringUnits and an EURange property, updated every tick. Node ids are
strings in the simulator's namespace (SIMULATOR_NAMESPACE, index 2): ``ns=2;s=Line1.CNC101.spindle_speed``.

Security is optional: with `security_modes` including Sign / SignAndEncrypt the server offers Basic256Sha256
endpoints with a self-signed certificate generated (once, then reused) into `cert_dir`; with `users` it
accepts only those user names and passwords, without them anonymous sessions.

The machines' writable signals (plant.WRITABLE_SIGNALS: speed setpoint, feed override, command) are writable
variables: a client's write reaches ``Machine.write``, and the variable then holds what the machine made of it (a
clamped setpoint, the last accepted command), for the client's read-back.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography.x509.oid import ExtendedKeyUsageOID

from common.net import free_port
from demo.simulator.modbus_server import ReadyCallback, ServerThread, _bind_error
from demo.simulator.plant import MACHINE_SIGNALS, SIGNALS_BY_NAME, PlantSimulator, SignalSpec

log = logging.getLogger(__name__)

SIMULATOR_NAMESPACE = "urn:millwright:simulator"
SERVER_APPLICATION_URI = "urn:millwright:simulator:server"
SECURITY_MODES = ("None", "Sign", "SignAndEncrypt")

VARIANT_TYPES: dict[str, ua.VariantType] = {
    "bool": ua.VariantType.Boolean,
    "int16": ua.VariantType.Int16,
    "uint16": ua.VariantType.UInt16,
    "int32": ua.VariantType.Int32,
    "uint32": ua.VariantType.UInt32,
    "float32": ua.VariantType.Float,
    "float64": ua.VariantType.Double,
}
_POLICY_TYPES: dict[str, ua.SecurityPolicyType] = {
    "None": ua.SecurityPolicyType.NoSecurity,
    "Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
    "SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
}


def opcua_machine_name(line_index: int, machine_index: int) -> str:
    """The machine's browse name, the same as the demo plant's machine name ('CNC 101')."""
    return f"CNC {line_index + 1}{machine_index + 1:02d}"


def opcua_signal_node_id(line_index: int, machine_index: int, signal: str, *, namespace_index: int = 2) -> str:
    """The node id string of a signal, e.g. 'ns=2;s=Line1.CNC101.spindle_speed'."""
    machine = opcua_machine_name(line_index, machine_index).replace(" ", "")
    return f"ns={namespace_index};s=Line{line_index + 1}.{machine}.{signal}"


class PasswordUserManager(UserManager):
    """Accepts the given user names and passwords, nothing else (no anonymous sessions)."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        expected = self._users.get(username or "")
        if expected is None or password is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return User(role=UserRole.User, name=username)


@dataclass
class OpcUaPlantServer:
    """The running server: `server` plus the node ids by (line, machine, signal) and the plant it serves."""

    server: Server
    plant: PlantSimulator
    endpoint: str
    nodes: dict[tuple[int, int, str], ua.NodeId]
    certificate_path: Path | None = None

    async def on_write(self, event: ServerItemCallback, _dispatcher: object) -> None:
        """After a client's Write: hand each good write of a machine's writable signal to the machine, then show
        the value it holds (the next refresh would too; a read-back right after the write must not wait for it)."""
        params: ua.WriteParameters = event.request_params
        results: list[ua.StatusCode] = event.response_params
        by_node = {node_id: key for key, node_id in self.nodes.items()}
        for item, status in zip(params.NodesToWrite, results, strict=False):
            key = by_node.get(item.NodeId)
            if key is None or not status.is_good() or item.AttributeId != ua.AttributeIds.Value:
                continue
            li, mi, signal = key
            value = item.Value.Value.Value if item.Value is not None and item.Value.Value is not None else None
            if not isinstance(value, int | float):
                continue
            held = self.plant.machine(li, mi).write(signal, float(value))
            now = ua.DateTime.now(UTC)
            await self.server.write_attribute_value(
                item.NodeId,
                ua.DataValue(_variant(held, SIGNALS_BY_NAME[signal]), SourceTimestamp=now, ServerTimestamp=now),
            )

    async def refresh(self) -> None:
        """Copy the plant's current values into the address space (subscribed clients see the changes)."""
        now = ua.DateTime.now(UTC)
        for li, line in enumerate(self.plant.lines):
            for mi, machine in enumerate(line.machines):
                values = machine.values()
                for spec in MACHINE_SIGNALS:
                    await self.server.write_attribute_value(
                        self.nodes[(li, mi, spec.name)],
                        ua.DataValue(_variant(values[spec.name], spec), SourceTimestamp=now, ServerTimestamp=now),
                    )


def _variant(value: float, spec: SignalSpec) -> ua.Variant:
    kind = VARIANT_TYPES[spec.data_type]
    if spec.data_type == "bool":
        return ua.Variant(bool(value), kind)
    if spec.data_type == "uint32":
        return ua.Variant(int(value) & 0xFFFFFFFF, kind)
    if spec.data_type in ("int16", "uint16", "int32"):
        return ua.Variant(int(value), kind)
    return ua.Variant(float(value), kind)


async def opcua_plant_server_start(
    *,
    host: str,
    port: int,
    plant: PlantSimulator,
    security_modes: Sequence[str] = ("None",),
    users: Mapping[str, str] | None = None,
    cert_dir: Path | None = None,
) -> OpcUaPlantServer:
    """Build and start the server (port 0: a free port); the caller steps the plant and calls refresh()."""
    unknown = set(security_modes) - set(SECURITY_MODES)
    if unknown or not security_modes:
        raise ValueError(f"security modes must be some of {', '.join(SECURITY_MODES)}, not {sorted(unknown)}")
    port = port or free_port(host)
    server = Server(user_manager=PasswordUserManager(users) if users else None)
    await server.init()
    endpoint = f"opc.tcp://{host}:{port}/"
    server.set_endpoint(endpoint)
    server.set_server_name("Millwright plant simulator")
    await server.set_application_uri(SERVER_APPLICATION_URI)
    server.set_security_policy([_POLICY_TYPES[mode] for mode in security_modes])
    server.set_identity_tokens([ua.UserNameIdentityToken] if users else [ua.AnonymousIdentityToken])
    certificate_path = None
    if set(security_modes) - {"None"}:
        if cert_dir is None:
            raise ValueError("a secure server needs cert_dir for its certificate and key")
        await asyncio.to_thread(cert_dir.mkdir, parents=True, exist_ok=True)
        certificate_path, key_path = cert_dir / "server-cert.der", cert_dir / "server-key.pem"
        await setup_self_signed_certificate(
            key_path,
            certificate_path,
            SERVER_APPLICATION_URI,
            socket.gethostname(),
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            {"commonName": "Millwright plant simulator"},
        )
        await server.load_certificate(str(certificate_path))
        await server.load_private_key(str(key_path))
    ns = await server.register_namespace(SIMULATOR_NAMESPACE)
    nodes = await _build_address_space(server, ns, plant)
    plant_server = OpcUaPlantServer(server, plant, endpoint, nodes, certificate_path)
    server.subscribe_server_callback(CallbackType.PostWrite, plant_server.on_write)
    plant.step(time.monotonic())
    await plant_server.refresh()
    try:
        await server.start()
    except OSError as exc:
        raise _bind_error(host, port) from exc
    return plant_server


async def _build_address_space(server: Server, ns: int, plant: PlantSimulator) -> dict[tuple[int, int, str], ua.NodeId]:
    nodes: dict[tuple[int, int, str], ua.NodeId] = {}
    root = await server.nodes.objects.add_folder(_string_node_id("Plant", ns), ua.QualifiedName("Plant", ns))
    for li, line in enumerate(plant.lines):
        line_key = f"Line{li + 1}"
        line_node = await root.add_folder(_string_node_id(line_key, ns), ua.QualifiedName(line.name, ns))
        for mi in range(len(line.machines)):
            name = opcua_machine_name(li, mi)
            machine_key = f"{line_key}.{name.replace(' ', '')}"
            machine_node = await line_node.add_object(_string_node_id(machine_key, ns), ua.QualifiedName(name, ns))
            for spec in MACHINE_SIGNALS:
                key = f"{machine_key}.{spec.name}"
                node_id = _string_node_id(key, ns)
                variable = await machine_node.add_variable(
                    node_id,
                    ua.QualifiedName(spec.name, ns),
                    _variant(0, spec),
                    varianttype=VARIANT_TYPES[spec.data_type],
                )
                if spec.writable:
                    await variable.set_writable()
                await variable.write_attribute(
                    ua.AttributeIds.Description, ua.DataValue(ua.Variant(ua.LocalizedText(spec.description)))
                )
                if spec.units:
                    units = ua.EUInformation(
                        DisplayName=ua.LocalizedText(spec.units), Description=ua.LocalizedText(spec.units)
                    )
                    await variable.add_property(
                        _string_node_id(f"{key}.EngineeringUnits", ns),
                        ua.QualifiedName("EngineeringUnits", 0),
                        units,
                        datatype=ua.NodeId(ua.Int32(ua.ObjectIds.EUInformation)),
                    )
                if spec.data_type != "bool":
                    await variable.add_property(
                        _string_node_id(f"{key}.EURange", ns),
                        ua.QualifiedName("EURange", 0),
                        ua.Range(Low=float(spec.span[0]), High=float(spec.span[1])),
                        datatype=ua.NodeId(ua.Int32(ua.ObjectIds.Range)),
                    )
                nodes[(li, mi, spec.name)] = node_id
    return nodes


async def serve_plant_opcua(
    *,
    host: str,
    port: int,
    plant: PlantSimulator,
    tick_seconds: float = 0.5,
    security_modes: Sequence[str] = ("None",),
    users: Mapping[str, str] | None = None,
    cert_dir: Path | None = None,
    ready: ReadyCallback | None = None,
    step: bool = True,
) -> None:
    """Serve `plant` over OPC UA until cancelled; `ready` gets the bound (host, port).

    With step=False the plant is only read, not stepped (when a Modbus server in the same process steps it).
    """
    plant_server = await opcua_plant_server_start(
        host=host, port=port, plant=plant, security_modes=security_modes, users=users, cert_dir=cert_dir
    )
    try:
        if ready:
            ready((host, plant_server.server.bserver.port if plant_server.server.bserver else port))
        while True:
            await asyncio.sleep(tick_seconds)
            if step:
                plant.step(time.monotonic())
            await plant_server.refresh()
    finally:
        await plant_server.server.stop()


class OpcUaPlantServerThread(ServerThread):
    """serve_plant_opcua() in a background thread, for tests and tools; restartable on the same port."""

    def __init__(
        self,
        plant: PlantSimulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tick_seconds: float = 0.5,
        security_modes: Sequence[str] = ("None",),
        users: Mapping[str, str] | None = None,
        cert_dir: Path | None = None,
    ) -> None:
        self.plant = plant if plant is not None else PlantSimulator()
        self.cert_dir = cert_dir
        self._port = port or free_port(host)

        async def serve(ready: ReadyCallback) -> None:
            await serve_plant_opcua(
                host=host,
                port=self._port,
                plant=self.plant,
                tick_seconds=tick_seconds,
                security_modes=security_modes,
                users=users,
                cert_dir=cert_dir,
                ready=ready,
            )

        super().__init__(serve, name=f"opcua-plant-server:{self._port}")

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/"

    @property
    def certificate_path(self) -> Path | None:
        return None if self.cert_dir is None else self.cert_dir / "server-cert.der"


def _string_node_id(identifier: str, namespace_index: int) -> ua.NodeId:
    """A string node id, built from the wire types asyncua's NodeId is typed with."""
    return ua.NodeId(ua.String(identifier), ua.Int16(namespace_index))
