"""When a long-running receiver (OPC UA subscriptions, the Sparkplug B host) re-reads its configuration."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ingest.acquisition.config_token import acquisition_config_version
from ingest.pipeline.store import DATABASE_DOWN_ERRORS, database_connection_reset

logger = logging.getLogger(__name__)


class ConfigReloads:
    """Every `seconds`, and at once when the acquisition configuration's version token moves (a device taken out
    of service, a tag saved in admin ...); while the database is away, the last configuration read is kept and
    the next attempt comes within 5 s."""

    def __init__(self, *, what: str) -> None:
        self.what = what  # for the log: "subscriptions", "Sparkplug sessions"
        self._next = 0.0
        self._version: str | None = None

    def run_if_due(self, sync: Callable[[], None], *, seconds: float) -> None:
        version = acquisition_config_version()
        if time.monotonic() < self._next and version == self._version:
            return
        self._version = version
        try:
            sync()
            self._next = time.monotonic() + seconds
        except DATABASE_DOWN_ERRORS:
            database_connection_reset()
            logger.warning("database unavailable: %s keep their last configuration", self.what)
            self._next = time.monotonic() + min(seconds, 5.0)
