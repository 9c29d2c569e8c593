"""``python -m demo.simulator``: run the simulated plant as a Modbus TCP gateway (and, with --opcua-port, as an
OPC UA server too; with --sparkplug-broker, one line as a Sparkplug B edge node) until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from demo.simulator.modbus_server import Address, ServerBindError, serve_plant
from demo.simulator.opcua_server import serve_plant_opcua
from demo.simulator.plant import PlantSimulator
from demo.simulator.sparkplug_plant import serve_plant_sparkplug
from demo.simulator.wear import DEMO_WEAR

log = logging.getLogger("demo.simulator")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo.simulator",
        description="Simulated plant (lines x CNC machines) served over Modbus TCP; line n is unit id n.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5020, help="TCP port (default 5020)")
    parser.add_argument("--lines", type=int, default=3, help="production lines = Modbus unit ids (default 3)")
    parser.add_argument("--machines-per-line", type=int, default=3, help="machines per line (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed, for reproducible runs (default 1)")
    parser.add_argument(
        "--demo-wear",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="machine L1-M2's spindle bearing degrades fast, to fail about 15 minutes in (demo.simulator.wear."
        "DEMO_WEAR); --no-demo-wear: every machine at the nominal wear rates (default on)",
    )
    parser.add_argument("--tick", type=float, default=0.5, help="register refresh period in s (default 0.5)")
    parser.add_argument("--opcua-port", type=int, default=None, help="also serve the plant over OPC UA on this port")
    parser.add_argument(
        "--opcua-security",
        default="None",
        help="OPC UA endpoints, comma-separated from None, Sign, SignAndEncrypt (Basic256Sha256) (default None)",
    )
    parser.add_argument(
        "--opcua-user", action="append", default=[], metavar="USER:PASSWORD", help="OPC UA login (repeatable)"
    )
    parser.add_argument(
        "--opcua-cert-dir",
        type=Path,
        default=Path(os.environ.get("MILLWRIGHT_STATE_DIR", ".millwright")) / "opcua-simulator",
        help="where the OPC UA server certificate is generated (default $MILLWRIGHT_STATE_DIR/opcua-simulator)",
    )
    parser.add_argument(
        "--sparkplug-broker",
        default="",
        metavar="HOST:PORT",
        help="also publish one line as a Sparkplug B edge node through this MQTT broker (default: off)",
    )
    parser.add_argument("--sparkplug-line", type=int, default=2, help="the line published over Sparkplug B (default 2)")
    args = parser.parse_args(argv)
    args.sparkplug = None
    if args.sparkplug_broker:
        host, _, port = args.sparkplug_broker.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) <= 65535:
            parser.error("--sparkplug-broker takes HOST:PORT, e.g. 127.0.0.1:1883")
        args.sparkplug = (host, int(port))
    args.opcua_security = [m.strip() for m in args.opcua_security.split(",") if m.strip()]
    if not set(args.opcua_security) <= {"None", "Sign", "SignAndEncrypt"} or not args.opcua_security:
        parser.error("--opcua-security takes None, Sign and/or SignAndEncrypt, e.g. Sign,SignAndEncrypt")
    if args.opcua_port is not None and not 0 <= args.opcua_port <= 65535:
        parser.error("--opcua-port must be 0..65535")
    if any(":" not in user for user in args.opcua_user):
        parser.error("--opcua-user takes USER:PASSWORD")
    args.opcua_users = dict(user.split(":", 1) for user in args.opcua_user)
    if not 1 <= args.lines <= 247:
        parser.error("--lines must be 1..247")
    if not 1 <= args.machines_per_line <= 100:
        parser.error("--machines-per-line must be 1..100")
    if args.sparkplug is not None and not 1 <= args.sparkplug_line <= args.lines:
        parser.error("--sparkplug-line must be one of the lines")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    if args.tick <= 0:
        parser.error("--tick must be positive")
    return args


async def run(args: argparse.Namespace) -> None:
    names = {f"L{li + 1}-M{mi + 1}" for li in range(args.lines) for mi in range(args.machines_per_line)}
    wear = {name: config for name, config in DEMO_WEAR.items() if name in names} if args.demo_wear else {}
    plant = PlantSimulator(args.lines, args.machines_per_line, seed=args.seed, wear=wear)

    def ready(address: Address) -> None:
        log.info(
            "simulated plant: %d lines x %d machines on %s:%d, unit ids 1..%d",
            args.lines,
            args.machines_per_line,
            address[0],
            address[1],
            args.lines,
        )

    servers = [
        asyncio.create_task(
            serve_plant(host=args.host, port=args.port, plant=plant, tick_seconds=args.tick, ready=ready)
        )
    ]
    if args.opcua_port is not None:

        def opcua_ready(address: Address) -> None:
            log.info("simulated plant over OPC UA: opc.tcp://%s:%d/ (%s)", *address, ", ".join(args.opcua_security))

        servers.append(
            asyncio.create_task(
                serve_plant_opcua(
                    host=args.host,
                    port=args.opcua_port,
                    plant=plant,
                    tick_seconds=args.tick,
                    security_modes=args.opcua_security,
                    users=args.opcua_users or None,
                    cert_dir=args.opcua_cert_dir,
                    ready=opcua_ready,
                    step=False,  # the Modbus server steps the plant; both serve the same values
                )
            )
        )
    if args.sparkplug is not None:
        # It never ends by itself: without a broker it waits for one while the other protocols go on.
        servers.append(
            asyncio.create_task(
                serve_plant_sparkplug(
                    host=args.sparkplug[0],
                    port=args.sparkplug[1],
                    plant=plant,
                    line_index=args.sparkplug_line - 1,
                    tick_seconds=args.tick,
                )
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*servers, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in [*servers, stopper]:
        task.cancel()
    await asyncio.gather(*servers, stopper, return_exceptions=True)
    for task in done:
        if task is not stopper:
            task.result()  # a server that failed (could not bind ...) raises its error here
    log.info("simulated plant stopped")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pymodbus warns (e.g. "Failed to start server") where we print our own one-line error.
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    logging.getLogger("asyncua").setLevel(logging.WARNING)
    try:
        asyncio.run(run(args))
    except ServerBindError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
