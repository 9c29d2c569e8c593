"""``python -m ingest.simulator``: run the simulated plant as a Modbus TCP gateway until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from ingest.simulator.modbus_server import Address, ServerBindError, serve_plant
from ingest.simulator.plant import PlantSimulator

log = logging.getLogger("ingest.simulator")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.simulator",
        description="Simulated plant (lines x CNC machines) served over Modbus TCP; line n is unit id n.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5020, help="TCP port (default 5020)")
    parser.add_argument("--lines", type=int, default=3, help="production lines = Modbus unit ids (default 3)")
    parser.add_argument("--machines-per-line", type=int, default=3, help="machines per line (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed, for reproducible runs (default 1)")
    parser.add_argument("--tick", type=float, default=0.5, help="register refresh period in s (default 0.5)")
    args = parser.parse_args(argv)
    if not 1 <= args.lines <= 247:
        parser.error("--lines must be 1..247")
    if not 1 <= args.machines_per_line <= 100:
        parser.error("--machines-per-line must be 1..100")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    if args.tick <= 0:
        parser.error("--tick must be positive")
    return args


async def run(args: argparse.Namespace) -> None:
    plant = PlantSimulator(args.lines, args.machines_per_line, seed=args.seed)

    def ready(address: Address) -> None:
        log.info(
            "simulated plant: %d lines x %d machines on %s:%d, unit ids 1..%d",
            args.lines,
            args.machines_per_line,
            address[0],
            address[1],
            args.lines,
        )

    server = asyncio.create_task(
        serve_plant(host=args.host, port=args.port, plant=plant, tick_seconds=args.tick, ready=ready)
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.cancel)
    try:
        await server
    except asyncio.CancelledError:
        if not server.cancelled():
            raise
        log.info("simulated plant stopped")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pymodbus warns (e.g. "Failed to start server") where we print our own one-line error.
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    try:
        asyncio.run(run(args))
    except ServerBindError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
