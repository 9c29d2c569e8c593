"""`manage.py run_edge_publisher`: this site as a Sparkplug B edge node publishing its selected tags, until SIGTERM."""

from ingest.acquisition.edge_publisher import EdgePublisher
from ingest.management.push_runner import PushRunnerCommand


class Command(PushRunnerCommand):
    help = "Publish the tags marked for the central host, from the on-disk outbox, as a Sparkplug B edge node."
    default_flush_ms = 200
    library_logger = "paho"
    running = "Sparkplug B edge publisher"

    def make_runner(self, *, flush_seconds: float, reload_seconds: float) -> EdgePublisher:
        return EdgePublisher(flush_seconds=flush_seconds, reload_seconds=reload_seconds)
