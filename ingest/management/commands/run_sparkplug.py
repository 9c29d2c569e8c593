"""`manage.py run_sparkplug`: the MQTT Sparkplug B host application, until SIGTERM."""

from ingest.acquisition.sparkplug_host import SparkplugRunner
from ingest.management.push_runner import PushRunnerCommand


class Command(PushRunnerCommand):
    help = "Listen to the MQTT brokers of the Sparkplug B devices, store what edge nodes publish, discover new ones."
    default_flush_ms = 200
    library_logger = "paho"
    running = "Sparkplug B host"

    def make_runner(self, *, flush_seconds: float, reload_seconds: float) -> SparkplugRunner:
        return SparkplugRunner(flush_seconds=flush_seconds, reload_seconds=reload_seconds)
