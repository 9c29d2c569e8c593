"""Test hosts made of Linux network namespaces, for tests of Millwright across machines (issue 16).

`TestNetwork` makes, per test host, a namespace with one interface (`eth0`, a veth pair whose other end sits on a
bridge in the root namespace, so the test process reaches every host), and removes all of it on close. A host's
link is cut with `link(host, up=False)` (its processes see "network unreachable"), one destination made
unreachable from one host with `blackhole(host, address)`. Needs root (CAP_NET_ADMIN) and `ip`; `unavailable()`
says why not, for a skip. Names are per process so that concurrent runs cannot collide.

Run as `python -m tests.netns plc --host H --port P --units N`: a Modbus TCP "PLC" whose every float32 holding
register pair holds a counter, the wall-clock second modulo 100,000 (exact in float32): the simulator's whole
history is the clock, so a stored value must equal its sample time's second, and two samples of one tag with one
value mean the same second was stored twice.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

COUNTER_MODULO = 100_000


def counter_at(t: float) -> float:
    return float(int(t) % COUNTER_MODULO)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN)"
    probe = f"mwprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` is not permitted here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass
class TestNetwork:
    """Hosts on one /24: 10.<a>.<b>.<n>, the root namespace's bridge at .254."""

    hosts: Sequence[str]
    tag: str = field(default_factory=lambda: f"{os.getpid() % 100000}")
    addresses: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pid = os.getpid()
        self.prefix = f"10.{200 + pid % 50}.{pid // 50 % 250}"
        self.bridge = f"mwb{self.tag}"
        self.gateway = f"{self.prefix}.254"
        self._made: list[str] = []

    def namespace(self, host: str) -> str:
        return f"mw{self.tag}-{host}"

    def _veth(self, index: int) -> str:
        return f"mw{self.tag}v{index}"

    def start(self) -> TestNetwork:
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self._made.append("bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for index, host in enumerate(self.hosts, start=1):
                ns, outer = self.namespace(host), self._veth(index)
                _ip("netns", "add", ns)
                self._made.append(ns)
                _ip("link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("link", "set", outer, "master", self.bridge, "up")
                address = f"{self.prefix}.{index}"
                _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                self.addresses[host] = address
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for made in reversed(self._made):
            if made == "bridge":
                _ip("link", "del", self.bridge, check=False)
            else:
                _ip("netns", "del", made, check=False)  # takes its veth pair with it
        self._made.clear()

    def command(self, host: str, argv: Sequence[str], *, hostname: str | None = None) -> list[str]:
        """argv run inside `host`'s namespace (and with its own host name in a UTS namespace of its own)."""
        prefix = ["ip", "netns", "exec", self.namespace(host)]
        if hostname is None:
            return [*prefix, *argv]
        script = 'hostname "$0" && exec "$@"'
        return [*prefix, "unshare", "--uts", "sh", "-c", script, hostname, *argv]

    def address_add(self, host: str, number: int) -> str:
        """A second address of `host` (10.x.y.`number`), e.g. one service of a host cut alone with `blackhole`."""
        address = f"{self.prefix}.{number}"
        _ip("-n", self.namespace(host), "addr", "add", f"{address}/24", "dev", "eth0")
        return address

    def link(self, host: str, *, up: bool) -> None:
        _ip("-n", self.namespace(host), "link", "set", "eth0", "up" if up else "down")

    def blackhole(self, host: str, address: str, *, on: bool) -> None:
        """Make `address` unreachable from `host` (or reachable again)."""
        _ip("-n", self.namespace(host), "route", "add" if on else "del", "blackhole", f"{address}/32")


# ----------------------------------------------------------------------------------------------------
# The counter PLC


def plc_serve(*, host: str, port: int, units: int, registers: int, log: str) -> None:
    """Serve until killed; each read is logged as "<unit> <counter served>" in `log` (the register history)."""
    import asyncio

    from pymodbus.simulator import DataType, SimData, SimDevice

    from demo.simulator.modbus_server import serve_devices

    history = open(log, "a", buffering=1)  # noqa: SIM115 - open for the server's life

    def action_for(unit: int):
        async def action(function_code, start_address, address, count, regs, set_values):
            served = counter_at(time.time())
            history.write(f"{unit} {served:.0f}\n")
            value = struct.unpack(">HH", struct.pack(">f", served))
            for i in range(address - start_address, address - start_address + count, 2):
                if i + 1 < len(regs):
                    regs[i], regs[i + 1] = value
            return None

        return action

    devices = [
        SimDevice(
            id=unit,
            simdata=[SimData(0, count=registers, values=0, datatype=DataType.REGISTERS)],
            action=action_for(unit),
        )
        for unit in range(1, units + 1)
    ]

    def ready(address) -> None:
        print(f"serving {address[0]}:{address[1]}", flush=True)

    asyncio.run(serve_devices(devices, host=host, port=port, ready=ready))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.netns")
    parser.add_argument("role", choices=["plc"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=502)
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--registers", type=int, default=8)
    parser.add_argument("--log", required=True, help="the register history: one line per read served")
    args = parser.parse_args(argv)
    plc_serve(host=args.host, port=args.port, units=args.units, registers=args.registers, log=args.log)


if __name__ == "__main__":
    main()
