"""`celery -A config worker --acquisition`: the worker hosts the acquisition poller (ingest.acquisition.poller).

Celery is the supervisor: the poller starts once the worker's pool is up, stops (letting running polls finish and
giving its devices back) on the worker's warm or cold shutdown, and a worker restarted by systemd, Docker or
honcho starts a new one. Without the option a worker runs tasks only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from celery import bootsteps
from click import Option

if TYPE_CHECKING:
    from ingest.acquisition.poller import Poller

ACQUISITION_OPTION = Option(
    ["--acquisition"],
    is_flag=True,
    default=False,
    help="Poll the devices (Modbus, polled OPC UA) on their scan classes in this worker.",
)


class AcquisitionStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Pool"}

    def __init__(self, parent: Any, acquisition: bool = False, **options: Any) -> None:
        super().__init__(parent, **options)
        self.enabled = bool(acquisition)
        self.poller: Poller | None = None

    def start(self, parent: Any) -> None:
        from ingest.acquisition.poller import Poller  # Django is set up by now, not when this module is imported

        self.poller = Poller(owner=f"{parent.hostname}:{os.getpid()}")
        self.poller.start()

    def stop(self, parent: Any) -> None:
        if self.poller is not None:
            self.poller.stop()
            self.poller = None

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)
