"""`manage.py run_sparkplug`: the MQTT Sparkplug B host application, until SIGTERM."""

import logging
import signal
import threading

from django.core.management.base import BaseCommand

from ingest.acquisition.sparkplug_host import SparkplugRunner


class Command(BaseCommand):
    help = "Listen to the MQTT brokers of the Sparkplug B devices, store what edge nodes publish, discover new ones."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--flush-ms", type=int, default=200, help="store what arrived this often (default 200)")
        parser.add_argument("--reload-seconds", type=float, default=30.0, help="re-read the configuration (30)")

    def handle(self, *args, **options) -> None:
        logging.getLogger("paho").setLevel(logging.WARNING)
        stop = threading.Event()

        def request_stop(signum, frame) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        runner = SparkplugRunner(flush_seconds=options["flush_ms"] / 1000, reload_seconds=options["reload_seconds"])
        self.stdout.write("Sparkplug B host running; SIGTERM or Ctrl-C stops it")
        runner.run(stop=stop)
        self.stdout.write("Sparkplug B host stopped")
