"""The one shape of the push runners' commands (`run_subscriptions`, `run_sparkplug`): options, signals, run."""

import logging
import signal
import threading
from typing import Any, ClassVar, Protocol

from django.core.management.base import BaseCommand, CommandParser

from ingest.acquisition.replay import BufferReplayer


class PushRunner(Protocol):
    def run(self, *, stop: threading.Event) -> None: ...


class PushRunnerCommand(BaseCommand):
    """Run `make_runner(flush_seconds=, reload_seconds=)` until SIGTERM or Ctrl-C."""

    #: Store what arrived at least this often, by default (a runner may store sooner, on arrival).
    default_flush_ms: ClassVar[int]
    #: The protocol library's logger, kept to warnings.
    library_logger: ClassVar[str]
    #: What runs, for the start and stop lines ("OPC UA subscriptions").
    running: ClassVar[str]

    def make_runner(self, *, flush_seconds: float, reload_seconds: float) -> PushRunner:
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--flush-ms",
            type=int,
            default=self.default_flush_ms,
            help=f"store what arrived at least this often (default {self.default_flush_ms})",
        )
        parser.add_argument("--reload-seconds", type=float, default=30.0, help="re-read the configuration (30)")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger(self.library_logger).setLevel(logging.WARNING)
        stop = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        runner = self.make_runner(flush_seconds=options["flush_ms"] / 1000, reload_seconds=options["reload_seconds"])
        # The runner buffers to this host's store-and-forward file when the database is away: replay it here.
        replayer = BufferReplayer()
        replayer.start()
        self.stdout.write(f"{self.running} running; SIGTERM or Ctrl-C stops it")
        try:
            runner.run(stop=stop)
        finally:
            replayer.stop()
        self.stdout.write(f"{self.running} stopped")
