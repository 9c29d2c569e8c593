"""`manage.py run_subscriptions`: keep the OPC UA subscriptions of devices with "use subscriptions" until SIGTERM."""

import logging
import signal
import threading

from django.core.management.base import BaseCommand

from ingest.acquisition.subscriptions import SubscriptionRunner


class Command(BaseCommand):
    help = "Subscribe to OPC UA devices that have 'use subscriptions' set and store the values they push."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--flush-ms", type=int, default=250, help="store what arrived this often (default 250)")
        parser.add_argument("--reload-seconds", type=float, default=30.0, help="re-read the configuration (30)")

    def handle(self, *args, **options) -> None:
        logging.getLogger("asyncua").setLevel(logging.WARNING)
        stop = threading.Event()

        def request_stop(signum, frame) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        runner = SubscriptionRunner(flush_seconds=options["flush_ms"] / 1000, reload_seconds=options["reload_seconds"])
        self.stdout.write("OPC UA subscriptions running; SIGTERM or Ctrl-C stops them")
        runner.run(stop=stop)
        self.stdout.write("OPC UA subscriptions stopped")
