"""`manage.py run_subscriptions`: keep the OPC UA subscriptions of devices with "use subscriptions" until SIGTERM."""

from ingest.acquisition.subscriptions import SubscriptionRunner
from ingest.management.push_runner import PushRunnerCommand


class Command(PushRunnerCommand):
    help = "Subscribe to OPC UA devices that have 'use subscriptions' set and store the values they push."
    default_flush_ms = 250
    library_logger = "asyncua"
    running = "OPC UA subscriptions"

    def make_runner(self, *, flush_seconds: float, reload_seconds: float) -> SubscriptionRunner:
        return SubscriptionRunner(flush_seconds=flush_seconds, reload_seconds=reload_seconds)
